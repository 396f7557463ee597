"""``verify_grad``: check a symbolic gradient against finite differences.

The check projects the output on a random direction (so one scalar cost
covers every output element) and compares the symbolic gradient of that
cost with central differences at the given points.
"""
import numpy as np

from .config import change_flags


class GradientError(AssertionError):
    """The symbolic and numerical gradients disagree."""


_TOL = {"float32": (3e-2, 1e-2), "float64": (1e-5, 1e-6)}  # (rel, abs)
_EPS = {"float32": 1e-2, "float64": 1e-6}


def verify_grad(fn, points, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None,
                mode=None, cast_to_output_type=False):
    """Raise ``GradientError`` unless ``grad(fn(*inputs))`` matches central differences.

    ``fn`` maps symbolic inputs to one symbolic output; ``points`` are the
    NumPy values (their dtypes choose the inputs' dtypes and the tolerances).
    """
    from .constructors import tensor
    from .function import function
    from .gradient import grad
    from .ops.reduce import sum as _sum
    from .ops.elemwise import cast
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    points = [np.array(p) for p in points]
    for k, p in enumerate(points):
        if p.dtype.kind != "f":
            raise TypeError(f"verify_grad: point {k} has dtype {p.dtype}; gradients need float points")
    dtype = "float64" if any(p.dtype == np.float64 for p in points) else "float32"
    rel_tol = rel_tol if rel_tol is not None else _TOL[dtype][0]
    abs_tol = abs_tol if abs_tol is not None else _TOL[dtype][1]
    eps = eps or _EPS[dtype]
    with change_flags(floatX=dtype):
        inputs = [tensor(p.dtype.name, (None,) * p.ndim, name=f"input{k}") for k, p in enumerate(points)]
        out = fn(*inputs)
        if isinstance(out, (list, tuple)):
            raise TypeError("verify_grad: fn must return one variable")
        proj_t = tensor(out.dtype, (None,) * out.ndim, name="projection")
        cost = _sum(cast(out, "float64") * proj_t)
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        f_cost = function(inputs + [proj_t], cost, mode=mode, on_unused_input="ignore")
        f_grad = function(inputs + [proj_t], grads, mode=mode, on_unused_input="ignore")
        f_out = function(inputs, out, mode=mode, on_unused_input="ignore")
    for _ in range(n_tests):
        shape = np.shape(f_out(*points))
        proj = rng.uniform(-1, 1, size=shape).astype(out.dtype)
        analytic = f_grad(*points, proj)
        for k, p in enumerate(points):
            numeric = _central_difference(lambda q: float(f_cost(*points[:k], q, *points[k + 1:], proj)),
                                          p, eps)
            a = np.asarray(analytic[k], dtype="float64")
            err = np.abs(a - numeric)
            bound = abs_tol + rel_tol * np.maximum(np.abs(a), np.abs(numeric))
            if np.any(err > bound):
                worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
                raise GradientError(
                    f"verify_grad: gradient with respect to input {k} (shape {p.shape}) disagrees at "
                    f"index {tuple(int(i) for i in worst)}: symbolic {float(a[worst])!r}, numeric "
                    f"{float(numeric[worst])!r} (abs error {err[worst]:.3g}, allowed {bound[worst]:.3g})")


def _central_difference(f, x, eps):
    x = x.copy()
    out = np.zeros(x.shape, dtype="float64")
    flat, grad = x.reshape(-1), out.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        up = f(x)
        flat[i] = orig - eps
        down = f(x)
        flat[i] = orig
        grad[i] = (up - down) / (2 * eps)
    return out
