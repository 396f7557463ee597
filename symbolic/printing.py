"""Looking at graphs: ``debugprint`` (text) and ``to_dot`` (Graphviz)."""
import io
import sys

from .graph import Constant, Variable, format_trace, toposort


def _targets(obj):
    """Outputs of a variable, a list of variables, or a compiled function."""
    if isinstance(obj, Variable):
        return [obj], "graph"
    if hasattr(obj, "fgraph"):
        return list(obj.fgraph.outputs), "compiled"
    if isinstance(obj, (list, tuple)):
        return list(obj), "graph"
    raise TypeError(f"debugprint: expected a variable, a list of variables or a function, got {obj!r}")


def _label(v):
    name = f" '{v.name}'" if v.name else ""
    if isinstance(v, Constant):
        return f"{v!r} [{v.type}]"
    if v.owner is None:
        return f"{type(v).__name__}{name} [{v.type}]"
    suffix = f".{v.index}" if len(v.owner.outputs) > 1 else ""
    return f"{v.owner.op}{suffix}{name} [{v.type}] id={_id(v)}"


_IDS = {}


def _id(v):
    return _IDS.setdefault(id(v.owner), _letters(len(_IDS)))


def _letters(n):
    s = ""
    while True:
        s = chr(ord("A") + n % 26) + s
        n = n // 26 - 1
        if n < 0:
            return s


def _inplace_note(v, plan):
    if v.owner is not None and id(v.owner) in plan:
        return f" (in place: overwrites input {plan[id(v.owner)]})"
    return ""


def debugprint(obj, file=None, print_trace=False):
    """Print the graph as an indented tree; nodes seen before print as ``id=..`` only.

    For a compiled function, nodes that run in place say which input buffer they
    overwrite.  With ``print_trace`` each node also shows the user line that created it.
    Returns the text when ``file='str'``.
    """
    outputs, _ = _targets(obj)
    plan = getattr(getattr(obj, "fgraph", None), "inplace_plan", {}) or {}
    out = io.StringIO()
    seen = set()

    def walk(v, depth):
        pad = " |" * depth
        out.write(f"{pad}{_label(v)}{_inplace_note(v, plan) if id(v.owner) not in seen else ''}\n")
        if v.owner is None:
            return
        if id(v.owner) in seen:
            return
        seen.add(id(v.owner))
        if print_trace and v.owner.trace:
            for t in v.owner.trace:
                out.write(f"{pad}   # {format_trace(t).splitlines()[0]}\n")
        for i in v.owner.inputs:
            walk(i, depth + 1)

    for o in outputs:
        walk(o, 0)
    text = out.getvalue()
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return obj


def to_dot(obj):
    """Graphviz DOT text for the graph (render it with ``dot -Tpng``)."""
    outputs, _ = _targets(obj)
    lines = ["digraph G {", "  rankdir=BT;"]
    names = {}

    def vid(v):
        if id(v) not in names:
            names[id(v)] = f"v{len(names)}"
            shape = "box" if isinstance(v, Constant) else "ellipse"
            color = ', style=filled, fillcolor="lightgreen"' if v.owner is None and not isinstance(v, Constant) else ""
            lines.append(f'  {names[id(v)]} [label="{_esc(repr(v) if v.name or isinstance(v, Constant) else str(v.type))}", shape={shape}{color}];')
        return names[id(v)]

    for k, node in enumerate(toposort(outputs)):
        nid = f"n{k}"
        lines.append(f'  {nid} [label="{_esc(str(node.op))}", shape=box, style=filled, fillcolor="lightblue"];')
        for pos, i in enumerate(node.inputs):
            lines.append(f'  {vid(i)} -> {nid} [label="{pos}"];')
        for o in node.outputs:
            lines.append(f"  {nid} -> {vid(o)};")
    for o in outputs:
        vid(o)
    lines.append("}")
    return "\n".join(lines) + "\n"


def pydotprint(obj, outfile=None):
    """Write the DOT text of a graph to ``outfile`` (or return it)."""
    text = to_dot(obj)
    if outfile:
        with open(outfile, "w") as f:
            f.write(text)
    return text


def _esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')
