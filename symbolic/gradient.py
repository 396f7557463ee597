"""Reverse-mode automatic differentiation over the graph.

``grad`` walks the nodes between the cost and the variables asked for in
reverse topological order, asks each op for its vector-Jacobian product and
sums contributions.  Forward-mode (``Rop``) is the transpose of the reverse
mode applied twice (the "double pullback").
"""
import warnings

from .graph import Apply, GradientUndefined, Op, Variable, format_trace, toposort
from .types import FLOAT_DTYPES
from .variable import as_tensor_variable


class DisconnectedInputError(ValueError):
    pass


def _as_list(x):
    return (list(x), True) if isinstance(x, (list, tuple)) else ([x], False)


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Gradient of a scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    ``consider_constant`` lists variables through which no gradient flows;
    ``known_grads`` maps variables to gradients to propagate from (then
    ``cost`` may be None); ``disconnected_inputs`` says what to do when the
    cost does not depend on a variable in ``wrt``: 'raise', 'warn' or 'ignore'
    (the gradient is then zero, or None with ``return_disconnected='none'``).
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")
    wrt_list, was_list = _as_list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must contain variables, got {w!r}")
        if w.dtype not in FLOAT_DTYPES:
            raise TypeError(f"grad: cannot differentiate with respect to {w!r} of integer type {w.type}")
    seeds = {}
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar, got {cost.type} (sum or mean it first, "
                            f"or pass known_grads)")
        if cost.dtype not in FLOAT_DTYPES:
            raise TypeError(f"grad: cost must be a float scalar, got {cost.type}")
        from .ops.shape import ones_like
        seeds[cost] = ones_like(cost)
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ValueError(f"known_grads: gradient for {var!r} has {g.ndim} dims, expected {var.ndim}")
        seeds[var] = g
    if not seeds:
        raise ValueError("grad: give a cost or known_grads")
    results = _backprop(seeds, wrt_list, consider_constant or [])
    out = []
    for w, g in zip(wrt_list, results):
        if g is None:
            msg = (f"grad: the cost does not depend on {w!r} (the variable is disconnected from "
                   f"the graph); pass disconnected_inputs='ignore' or 'warn' if this is expected")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            if return_disconnected == "zero":
                from .ops.shape import zeros_like
                g = zeros_like(w)
        out.append(g)
    return out if was_list else out[0]


def _backprop(seeds, wrt, blockers):
    blocker_ids = {id(b) for b in blockers}
    wrt_ids = {id(w) for w in wrt}
    outputs = list(seeds)
    nodes = toposort(outputs, blockers=[b for b in blockers if b.owner is not None])
    # Variables on a path from some wrt to the outputs: only those need gradients.
    depends = set(wrt_ids)
    patterns = {}
    for node in nodes:
        pattern = patterns[id(node)] = node.op.connection_pattern(node)
        for j, o in enumerate(node.outputs):
            if any(id(i) in depends and id(i) not in blocker_ids and pattern[k][j]
                   for k, i in enumerate(node.inputs)):
                depends.add(id(o))
    grads = {id(v): (v, g) for v, g in seeds.items()}
    for node in reversed(nodes):
        gouts = [grads.get(id(o), (None, None))[1] for o in node.outputs]
        if all(g is None for g in gouts):
            continue
        pattern = patterns[id(node)]
        needed = [id(i) in depends and id(i) not in blocker_ids and i.dtype in FLOAT_DTYPES
                  and any(pattern[k][j] and gouts[j] is not None for j in range(len(gouts)))
                  for k, i in enumerate(node.inputs)]
        if not any(needed):
            continue
        gouts = [_fill_missing(g, o) for g, o in zip(gouts, node.outputs)]
        try:
            gins = node.op.grad(list(node.inputs), gouts)
        except GradientUndefined as e:
            if node.trace and "created at" not in str(e):
                raise GradientUndefined(node.op, e.index, format_trace(node.trace[0])) from None
            raise
        if len(gins) != len(node.inputs):
            raise RuntimeError(f"{node.op}.grad returned {len(gins)} gradients for {len(node.inputs)} inputs")
        for inp, g, need in zip(node.inputs, gins, needed):
            if not need or g is None:
                continue
            g = as_tensor_variable(g)
            if g.dtype != inp.dtype:
                from .ops.elemwise import cast
                g = cast(g, inp.dtype)
            if g.ndim != inp.ndim:
                raise RuntimeError(f"{node.op}.grad gave a {g.ndim}-d gradient for a {inp.ndim}-d input")
            prev = grads.get(id(inp))
            grads[id(inp)] = (inp, g if prev is None else prev[1] + g)
    return [grads[id(w)][1] if id(w) in grads else None for w in wrt]


def _fill_missing(g, out):
    if g is not None or out.dtype not in FLOAT_DTYPES:
        return g
    from .ops.shape import zeros_like
    return zeros_like(out)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product: ``eval_points`` pulled back through ``f`` to ``wrt``."""
    fs, _ = _as_list(f)
    pts, _ = _as_list(eval_points)
    if len(fs) != len(pts):
        raise ValueError(f"Lop: {len(fs)} outputs but {len(pts)} evaluation points")
    return grad(None, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs,
                known_grads=dict(zip(fs, pts)))


def Rop(f, wrt, eval_points, disconnected_outputs="raise"):
    """Jacobian-vector product, by applying the reverse mode twice."""
    fs, f_list = _as_list(f)
    wrts, _ = _as_list(wrt)
    pts, _ = _as_list(eval_points)
    if len(wrts) != len(pts):
        raise ValueError(f"Rop: {len(wrts)} variables but {len(pts)} evaluation points")
    out = []
    for fi in fs:
        u = fi.type(name="rop_dummy")
        g = grad(None, wrts, known_grads={fi: u}, disconnected_inputs="ignore")
        cost = None
        from .ops.reduce import sum as _sum
        for gi, p in zip(g, pts):
            term = _sum(gi * p)
            cost = term if cost is None else cost + term
        jvp = grad(cost, u, disconnected_inputs=disconnected_outputs)
        # The result is linear in u, so u's values never matter, only its shape: bind it.
        from .graph import clone_replace
        from .ops.shape import zeros_like
        out.append(clone_replace([jvp], {u: zeros_like(fi)})[0])
    return out if f_list else out[0]


class _GradModifier(Op):
    """Identity in the forward pass; changes what flows back."""

    __props__ = ("mode", "lo", "hi")

    def __init__(self, mode, lo=None, hi=None):
        self.mode, self.lo, self.hi = mode, lo, hi

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0]]

    def grad(self, inputs, output_grads):
        from .ops import math as M
        from .ops.shape import zeros_like
        g = output_grads[0]
        if self.mode == "zero":
            return [zeros_like(inputs[0])]
        if self.mode == "disconnected":
            return [None]
        return [M.clip(g, self.lo, self.hi)]

    def connection_pattern(self, node):
        return [[self.mode != "disconnected"]]

    def __str__(self):
        return {"zero": "ZeroGrad", "disconnected": "DisconnectedGrad"}.get(
            self.mode, f"GradClip{{{self.lo}, {self.hi}}}")


def zero_grad(x):
    """``x`` in the forward pass; its gradient is zero (still connected)."""
    return _GradModifier("zero")(x)


def disconnected_grad(x):
    """``x`` in the forward pass; no gradient flows through it (as if constant)."""
    return _GradModifier("disconnected")(x)


def grad_clip(x, lower_bound, upper_bound):
    """``x`` in the forward pass; its gradient is clipped to [lower, upper]."""
    if lower_bound > upper_bound:
        raise ValueError(f"grad_clip: lower_bound {lower_bound} > upper_bound {upper_bound}")
    return _GradModifier("clip", float(lower_bound), float(upper_bound))(x)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt, shaped ``expression.shape + wrt.shape``."""
    from .ops.loop import map_index
    from .ops.shape import flatten, reshape, shape, concatenate
    from .types import TensorType
    from .variable import TensorVariable
    wrts, was_list = _as_list(wrt)
    expression = as_tensor_variable(expression)
    y = flatten(expression) if expression.ndim != 1 else expression
    i = TensorVariable(TensorType("int64", ()), name="jacobian_index")
    rows = grad(y[i], wrts, consider_constant=consider_constant,
                disconnected_inputs=disconnected_inputs)
    out = []
    for w, row in zip(wrts, rows):
        stacked = map_index(i, row, shape(y)[0])
        target = concatenate([shape(expression), shape(w)]) if expression.ndim + w.ndim else []
        out.append(reshape(stacked, target, ndim=expression.ndim + w.ndim))
    return out if was_list else out[0]


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Second derivatives of a scalar cost: ``jacobian(grad(cost, wrt), wrt)`` per variable."""
    wrts, was_list = _as_list(wrt)
    out = []
    for w in wrts:
        if w.ndim != 1:
            raise TypeError(f"hessian: {w!r} must be a vector, got {w.type}")
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        out.append(jacobian(g, w, consider_constant=consider_constant,
                            disconnected_inputs=disconnected_inputs))
    return out if was_list else out[0]

