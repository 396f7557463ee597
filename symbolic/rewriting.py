"""Graph rewriting before lowering.

Levels: 'None' (the graph as written), 'fast_compile' and 'fast_run'.  The
phases themselves (merge, canonicalize, stabilize, specialize, fusion,
in-place) are the subject of the rewrites work (issue #3); until they land
every level hands the backend the graph as written, which is correct, only
slower and less stable numerically than it will be.
"""


def rewrite_graph(fgraph, level):
    if level not in ("None", "fast_compile", "fast_run"):
        raise ValueError(f"optimizer level {level!r} is not one of None, fast_compile, fast_run")
    return fgraph
