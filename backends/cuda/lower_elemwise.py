"""Elementwise programs and reductions on the GPU: one generated kernel per fused node.

The programs are the LLVM backend's (``backends.llvm.elemwise.describe``); per call the
layout of the arrays picks the kernel variant: the flat kernel when every input is
contiguous with the output's shape or a one-element scalar, else the strided kernel over
the shape with adjacent dimensions merged where every array allows it (so a transposed or
broadcast operand costs index arithmetic only on the dimensions that need it).  Outputs
are new C-contiguous arrays.
"""
import numpy as np

from backends.llvm.elemwise import describe

from . import codegen
from .runtime import BLOCK, MAX_BLOCKS, cupy, grid_for, i64, launch

__all__ = ["elementwise", "reduction", "elementwise_program", "reduction_program",
           "element_strides", "collapse"]


def element_strides(a, shape):
    """Strides of ``a`` in elements when broadcast to ``shape`` (0 on broadcast axes)."""
    lead = len(shape) - a.ndim
    return [0] * lead + [0 if n == 1 else s // a.itemsize for n, s in zip(a.shape, a.strides)]


def collapse(shape, strides_list):
    """``shape`` and each array's strides with size-1 dimensions dropped and adjacent
    dimensions merged where every array steps through them as one."""
    dims = [(n, [s[d] for s in strides_list]) for d, n in enumerate(shape) if n != 1]
    merged = []
    for n, st in dims:
        if merged:
            pn, pst = merged[-1]
            if all(p == s * n for p, s in zip(pst, st)):
                merged[-1] = (pn * n, st)
                continue
        merged.append((n, st))
    return [n for n, _ in merged], [[st[k] for _, st in merged] for k in range(len(strides_list))]


class _Sources:
    """A node's kernel sources by variant (generating the text is not free)."""

    def __init__(self, make):
        self.make, self.cache = make, {}

    def __call__(self, **variant):
        key = tuple(sorted(variant.items()))
        src = self.cache.get(key)
        if src is None:
            src = self.cache[key] = self.make(**variant)
        return src


def elementwise(node):
    what, kw = describe(node)
    kw.pop("ndim", None)
    return elementwise_program(kw, [o.dtype for o in node.outputs])


def elementwise_program(kw, out_dtypes):
    """``run(*arrays) -> outputs`` for the program ``kw`` (``elementwise_source``'s
    arguments but the layout); None when the generator does not cover its dtypes."""
    sources = _Sources(lambda **v: codegen.elementwise_source(**kw, **v))
    try:
        sources(scalar_mask=0)               # the usual variant, generated once
    except NotImplementedError:
        return None
    out_dtypes = [np.dtype(dt) for dt in out_dtypes]
    n_in = kw["n_inputs"]
    cp = cupy()

    def run(*args):
        shapes = [a.shape for a in args]
        full = np.broadcast_shapes(*shapes)
        outs = [cp.empty(full, dtype=dt) for dt in out_dtypes]
        n = int(np.prod(full, dtype=np.int64))
        if n == 0:
            return outs
        scalar_mask, flat = 0, True
        for k, a in enumerate(args):
            if a.size == 1 and a.shape != full:
                scalar_mask |= 1 << k
            elif not (a.shape == full and a.flags.c_contiguous):
                flat = False
        if flat:
            launch(sources(scalar_mask=scalar_mask), n, [i64(n), *args, *outs])
            return outs
        dims, strides = collapse(full, [element_strides(a, full) for a in (*args, *outs)])
        if not dims:
            dims, strides = [1], [[0] for _ in strides]
        if len(dims) > codegen.MAX_NDIM:
            return None
        params = [i64(n), *map(i64, dims)]
        for a, st in zip((*args, *outs), strides):
            params += [a, *map(i64, st)]
        launch(sources(layout="strided", ndim=len(dims)), n, params)
        return outs
    run.how = f"cuda: elementwise kernel ({n_in} inputs, {len(out_dtypes)} outputs)"
    return run


def reduction(node):
    what, kw = describe(node)
    axes, nd = kw.pop("axes"), kw.pop("ndim")
    axes = tuple(range(nd)) if axes is None else tuple(sorted(a % max(nd, 1) for a in axes))
    return reduction_program(kw, axes)


def reduction_program(kw, axes):
    """``run(*arrays) -> [out]`` reducing the program ``kw`` (``reduction_source``'s
    arguments but the layout) over ``axes`` of the broadcast input shape."""
    kind, out_dtype = kw["kind"], np.dtype(kw["out_dtype"])
    sources = _Sources(lambda **v: codegen.reduction_source(**kw, **v))
    try:
        sources(keep_ndim=1, red_ndim=1, variant="block")
    except NotImplementedError:
        return None
    cp = cupy()

    def run(*args):
        full = np.broadcast_shapes(*[a.shape for a in args])
        if kind in ("max", "min") and any(full[a] == 0 for a in axes):
            return None                      # NumPy's error for an empty max, from the reference
        kept = [d for d in range(len(full)) if d not in axes]
        out = cp.empty(tuple(full[d] for d in kept), dtype=out_dtype)
        n_out = int(np.prod([full[d] for d in kept], dtype=np.int64))
        if n_out == 0:
            return [out]
        strides = [element_strides(a, full) for a in args]
        k_dims, k_st = collapse([full[d] for d in kept], [[s[d] for d in kept] for s in strides])
        r_dims, r_st = collapse([full[d] for d in axes], [[s[d] for d in axes] for s in strides])
        if not r_dims:
            r_dims, r_st = [1], [[0] for _ in args]
        if len(k_dims) + len(r_dims) > codegen.MAX_NDIM:
            return None
        n_red = int(np.prod(r_dims, dtype=np.int64))
        block = n_red >= 64
        src = sources(keep_ndim=len(k_dims), red_ndim=len(r_dims),
                      variant="block" if block else "thread")
        params = [i64(n_out), i64(n_red), *map(i64, k_dims), *map(i64, r_dims)]
        for a, ks, rs in zip(args, k_st, r_st):
            params += [a, *map(i64, ks), *map(i64, rs)]
        params.append(out)
        if block:
            launch(src, n_out, params, block=codegen.REDUCE_BLOCK,
                   blocks=max(1, min(MAX_BLOCKS, n_out)))
        else:
            launch(src, n_out, params, block=BLOCK, blocks=grid_for(n_out))
        return [out]
    run.how = f"cuda: {kind} reduction kernel"
    return run
