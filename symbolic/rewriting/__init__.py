"""Graph rewriting before lowering: an explicit, ordered list of phases.

Each phase is a set of node rewrites registered for the op types they match;
a phase rebuilds the graph in topological order, offering every node to the
rewrites registered for its op type, and repeats until nothing changes.
Rewrites are plain functions ``rewrite(node) -> list of new outputs or None``;
they build replacements with the ordinary graph API and never mutate nodes.

Levels (``config.optimizer`` or ``function(mode=...)``): ``None`` runs no
rewrite, ``fast_compile`` runs merge, constant folding and stabilization,
``fast_run`` runs every phase.  See docs/rewrites.md for the list.
"""
from .core import PHASES, LEVELS, Phase, register, rewrite_graph, RewriteWarning  # noqa: F401
from . import basic, stabilize, specialize, blas, fusion, inplace  # noqa: F401,E402  (register their rewrites)

PHASES["inplace"].graph_passes.append(inplace._inplace_pass)
