"""Matrix products on the GPU: cuBLAS through ``cupy.matmul``.

``Gemm`` (``beta * c + alpha * a @ b``, what the rewrites make of a weight update) is the
product followed by one generated kernel for ``alpha * p + beta * c``, so ``c`` may have
any layout and alpha and beta stay on the device.  TF32 stays off (CuPy's default), so
float32 products round like float32 and agree with the CPU backends.
"""
import numpy as np

from .lower_elemwise import elementwise_program
from .runtime import cupy

__all__ = ["dot", "gemm"]


def _product(a, b, dtype):
    if a.dtype != dtype or b.dtype != dtype or a.ndim > 2 or b.ndim > 2 or 0 in (a.ndim, b.ndim):
        return None
    return cupy().matmul(a, b)


def dot(node):
    dtype = np.dtype(node.outputs[0].dtype)
    if dtype.kind != "f":
        return None

    def run(a, b):
        p = _product(a, b, dtype)
        return None if p is None else [p]
    run.how = "cuda: cuBLAS product"
    return run


def gemm(node):
    dtype = np.dtype(node.outputs[0].dtype)
    if dtype.kind != "f":
        return None
    dt = dtype.name
    # inputs: 0 = a @ b, 1 = alpha, 2 = c, 3 = beta; registers 4 = p*alpha, 5 = c*beta
    axpby = elementwise_program(dict(steps=[("mul", (0, 1), dt), ("mul", (2, 3), dt),
                                            ("add", (4, 5), dt)],
                                     n_inputs=4, input_dtypes=[dt] * 4, outputs=[6]), [dt])

    def run(c, alpha, a, b, beta):
        p = _product(a, b, dtype)
        if p is None or p.shape != c.shape or alpha.dtype != dtype or beta.dtype != dtype:
            return None
        return axpby(p, alpha, c, beta)
    run.how = "cuda: cuBLAS product + alpha/beta kernel"
    return run
