"""Neural-network ops on the GPU: row kernels (softmax, log-softmax, the fused cross-entropy
and its gradient), pooling, convolutions (im2col + cuBLAS + col2im) and Philox sampling.

The kernels are those of ``rows.py``, ``pool.py``, ``conv.py`` and ``random.py`` (sources
checked with ``nvcc`` and against the reference on the host); this module only chooses
layouts, sizes and launches.  Kernels that find bad data (a label out of range, a random
state out of range) set a status word; the thunk then returns None and the node runs its
reference on the host, which gives the reference's result or error.
"""
import numpy as np

from symbolic.ops.conv import conv_output_length, padding_for
from symbolic.ops.pool import pool_output_length

from . import conv as conv_src
from . import pool as pool_src
from . import random as random_src
from . import rows as rows_src
from .codegen import _finish
from .lower_elemwise import elementwise_program
from .runtime import MAX_BLOCKS, cupy, host_to_device, i64, launch, status_is_set
from .scalar import Helpers, ctype

__all__ = ["softmax", "xent", "argreduce", "pool", "conv", "random_sample"]

_FLOATS = ("float32", "float64")
# A convolution's column matrix is built for this many values at most at a time.
COLUMN_VALUES = 1 << 25


def _row_launch(src, rows, args):
    launch(src, rows, args, block=rows_src.ROW_BLOCK, blocks=max(1, min(MAX_BLOCKS, rows)))


def softmax(kind):
    def lower(node):
        dtype = node.outputs[0].dtype
        if dtype not in _FLOATS:
            return None
        src = rows_src.row_source(kind, dtype)

        def run(x):
            if x.dtype != dtype or x.ndim == 0 or 0 in x.shape:
                return None
            cp = cupy()
            x = cp.ascontiguousarray(x)
            out = cp.empty(x.shape, dtype=dtype)
            n = x.shape[-1]
            _row_launch(src, x.size // n, [i64(x.size // n), i64(n), x, out])
            return [out]
        run.how = f"cuda: {kind} row kernel"
        return run
    return lower


def xent(kind):
    def lower(node):
        dtype = node.outputs[0].dtype
        if dtype not in _FLOATS:
            return None
        sources = {}

        def run(*args):
            cp = cupy()
            z, y, k = args[-3:]
            if z.ndim != 2 or z.dtype != dtype or y.ndim != 1 or len(y) != len(z) \
                    or int(k) != len(z) or 0 in z.shape:
                return None
            if y.dtype.name not in rows_src.LABEL_DTYPES:
                y = y.astype("int64")
            y, z = cp.ascontiguousarray(y), cp.ascontiguousarray(z)
            src = sources.get(y.dtype.name) or sources.setdefault(
                y.dtype.name, rows_src.row_source(kind, dtype, y.dtype.name))
            rows, n = z.shape
            status = cp.zeros((1,), dtype="int64")
            if kind == "xent":
                out = cp.empty((rows,), dtype=dtype)
                _row_launch(src, rows, [i64(rows), i64(n), z, y, out, status])
            else:
                d = args[0]
                if d.dtype != dtype or d.ndim > 1 or d.size not in (1, rows):
                    return None
                d = cp.ascontiguousarray(d.reshape(-1))
                out = cp.empty(z.shape, dtype=dtype)
                _row_launch(src, rows, [i64(rows), i64(n), i64(0 if d.size == 1 else 1), d, z,
                                        y, out, status])
            return None if status_is_set(status) else [out]
        run.how = f"cuda: {kind} row kernel"
        run.host_args = (len(node.inputs) - 1,)          # the row count
        return run
    return lower


def _arg_source(kind, dtype):
    """One thread per row: the index of the row's first maximum (minimum), or of its first
    NaN, as NumPy's argmax/argmin."""
    t, cmp = ctype(dtype), ">" if kind == "max" else "<"
    nan = "isnan(v)" if dtype in _FLOATS else "false"
    lines = ["  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < rows;",
             "       r += (long long)gridDim.x * blockDim.x) {",
             f"    const {t}* row = x + r * n;",
             f"    {t} best = row[0];",
             "    long long at = 0;",
             "    for (long long j = 0; j < n; j++) {",
             f"      const {t} v = row[j];",
             f"      if ({nan}) {{ at = j; break; }}",
             f"      if (v {cmp} best) {{ best = v; at = j; }}",
             "    }",
             "    out[r] = at;", "  }", ""]
    params = [("rows", "const long long"), ("n", "const long long"), ("x", f"const {t}*"),
              ("out", "long long*")]
    return _finish(f"arg{kind}", Helpers(), "\n".join(lines), params)


def argreduce(node):
    """argmax/argmin along an axis (moved last, made contiguous) or of the flattened array."""
    kind, axis, dtype = node.op.kind, node.op.axis, node.inputs[0].dtype
    if dtype not in ("float32", "float64", "int64", "int32"):
        return None
    src = _arg_source(kind, dtype)

    def run(x):
        cp = cupy()
        if x.size == 0 or x.ndim == 0:
            return None
        if axis is None:
            rows_shape, x = (), cp.ascontiguousarray(x).reshape(1, -1)
        else:
            a = axis % x.ndim
            order = [d for d in range(x.ndim) if d != a] + [a]
            rows_shape = tuple(x.shape[d] for d in order[:-1])
            x = cp.ascontiguousarray(x.transpose(order)).reshape(-1, x.shape[a])
        rows, n = x.shape
        out = cp.empty((rows,), dtype="int64")
        launch(src, rows, [i64(rows), i64(n), x, out])
        return [out.reshape(rows_shape)]
    run.how = f"cuda: arg{kind} row kernel"
    return run


def pool(kind):
    def lower(node):
        dtype = node.outputs[0].dtype
        if dtype not in _FLOATS or any(i.dtype != dtype for i in node.inputs):
            return None
        op = node.op
        src = pool_src.pool_source(kind, op.mode, op.ws, op.stride, op.pad, dtype)

        def run(*args):
            cp = cupy()
            x = args[0]
            if x.ndim < 2 or any(a.shape[:-2] != x.shape[:-2] for a in args):
                return None
            rows, cols = x.shape[-2:]
            out_hw = tuple(pool_output_length(n, w, s, p, op.ignore_border)
                           for n, w, s, p in zip((rows, cols), op.ws, op.stride, op.pad))
            n = int(np.prod(x.shape[:-2], dtype=np.int64))
            if kind == "grad" and any(a.shape[-2:] != out_hw for a in args[1:]):
                return None
            if not (n and rows and cols and all(out_hw)):
                return None
            flat = [cp.ascontiguousarray(a).reshape((n,) + a.shape[-2:]) for a in args]
            sizes = [i64(n), i64(rows), i64(cols), i64(out_hw[0]), i64(out_hw[1])]
            if kind == "forward":
                out = cp.empty(x.shape[:-2] + out_hw, dtype=dtype)
                launch(src, n * out_hw[0] * out_hw[1], sizes + [flat[0], out])
            else:
                out = cp.empty(x.shape, dtype=dtype)
                ins = flat if op.mode == "max" else flat[1:]
                launch(src, n * rows * cols, sizes + ins + [out])
            return [out]
        run.how = f"cuda: pooling {kind} kernel"
        return run
    return lower


def _geometry(op, image_hw, kernel_hw):
    pads = padding_for(op.border_mode, *kernel_hw)
    try:
        out = tuple(conv_output_length(n, k, p, s)
                    for n, k, p, s in zip(image_hw, kernel_hw, pads, op.subsample))
    except ValueError:
        return None
    return pads, out


class _Columns:
    """The column kernels of one convolution node, by padding (fixed by the op's border
    mode and the filter size)."""

    def __init__(self, op, dtype):
        self.op, self.dtype, self.cache = op, dtype, {}

    def __call__(self, kind, pads):
        key = (kind, pads)
        if key not in self.cache:
            self.cache[key] = conv_src.column_source(kind, self.op.subsample, pads,
                                                     self.op.filter_flip, self.dtype)
        return self.cache[key]


def _chunks(batch, per_image):
    step = max(1, COLUMN_VALUES // max(1, per_image))
    return [(first, min(step, batch - first)) for first in range(0, batch, step)]


def _by_filter(g, first, nb):
    """Images ``first .. first+nb`` of ``g`` (B, F, OH, OW) as the F x nb*P matrix."""
    F = g.shape[1]
    return cupy().ascontiguousarray(
        g[first:first + nb].reshape(nb, F, -1).transpose(1, 0, 2)).reshape(F, -1)


def conv(kind):
    def lower(node):
        dtype = node.outputs[0].dtype
        if dtype not in _FLOATS or any(i.dtype != dtype for i in node.inputs[:2]):
            return None
        op = node.op
        columns = _Columns(op, dtype)
        add = elementwise_program(dict(steps=[("add", (0, 1), dtype)], n_inputs=2,
                                       input_dtypes=[dtype] * 2, outputs=[2]), [dtype])

        def sizes(C, H, W, OH, OW, KH, KW, nb, first):
            return [i64(v) for v in (C, H, W, OH, OW, KH, KW, nb, first)]

        def forward(x, w):
            cp = cupy()
            if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] \
                    or not op.hints_fit(x.shape, w.shape):
                return None
            found = _geometry(op, x.shape[2:], w.shape[2:])
            if found is None:
                return None
            pads, (OH, OW) = found
            B, C, H, W = x.shape
            F, _, KH, KW = w.shape
            out = cp.empty((B, F, OH, OW), dtype=dtype)
            if 0 in out.shape or 0 in w.shape:
                return None
            x, w2 = cp.ascontiguousarray(x), cp.ascontiguousarray(w).reshape(F, -1)
            K, P = C * KH * KW, OH * OW
            im2col = columns("im2col", pads)
            for first, nb in _chunks(B, K * P):
                col = cp.empty((K, nb * P), dtype=dtype)
                launch(im2col, col.size, sizes(C, H, W, OH, OW, KH, KW, nb, first) + [x, col])
                r = cp.matmul(w2, col).reshape(F, nb, OH, OW)
                out[first:first + nb] = r.transpose(1, 0, 2, 3)
            return [out]

        def grad_weights(x, gz, kernel_hw):
            cp = cupy()
            KH, KW = (int(s) for s in kernel_hw)
            found = _geometry(op, x.shape[2:], (KH, KW)) if x.ndim == 4 and gz.ndim == 4 else None
            if found is None or gz.shape[0] != x.shape[0] or gz.shape[2:] != found[1]:
                return None
            pads, (OH, OW) = found
            B, C, H, W = x.shape
            F = gz.shape[1]
            if 0 in (B, C, H, W, F, OH, OW, KH, KW):
                return None
            x = cp.ascontiguousarray(x)
            K, P = C * KH * KW, OH * OW
            im2col = columns("im2col", pads)
            dw = None
            for first, nb in _chunks(B, K * P):
                col = cp.empty((K, nb * P), dtype=dtype)
                launch(im2col, col.size, sizes(C, H, W, OH, OW, KH, KW, nb, first) + [x, col])
                part = cp.matmul(_by_filter(gz, first, nb), col.T)
                dw = part if dw is None else add(dw, part)[0]
            return [dw.reshape(F, C, KH, KW)]

        def grad_inputs(w, gz, image_hw):
            cp = cupy()
            H, W = (int(s) for s in image_hw)
            found = _geometry(op, (H, W), w.shape[2:]) if w.ndim == 4 and gz.ndim == 4 else None
            if found is None or gz.shape[1] != w.shape[0] or gz.shape[2:] != found[1]:
                return None
            pads, (OH, OW) = found
            F, C, KH, KW = w.shape
            B = gz.shape[0]
            if 0 in (B, C, H, W, F, OH, OW, KH, KW):
                return None
            w2t = cp.ascontiguousarray(w).reshape(F, -1).T
            K, P = C * KH * KW, OH * OW
            col2im = columns("col2im", pads)
            dx = cp.empty((B, C, H, W), dtype=dtype)
            for first, nb in _chunks(B, K * P):
                col = cp.ascontiguousarray(cp.matmul(w2t, _by_filter(gz, first, nb)))
                launch(col2im, nb * C * H * W,
                       sizes(C, H, W, OH, OW, KH, KW, nb, first) + [col, dx])
            return [dx]

        run = {"forward": forward, "grad_weights": grad_weights, "grad_inputs": grad_inputs}[kind]
        if kind != "forward":
            run.host_args = (2,)                   # the kernel or image size
        run.how = f"cuda: conv {kind} (im2col + cuBLAS{' + col2im' if kind == 'grad_inputs' else ''})"
        return run
    return lower


class _SmallValues:
    """Device copies of small host parameters, by value: the dropout probability is copied
    once, not on every call (and a call captured into a graph then copies nothing)."""

    LIMIT, MAX_SIZE = 64, 256

    def __init__(self):
        self.copies = {}

    def on_device(self, a):
        a = np.ascontiguousarray(a)
        if a.size > self.MAX_SIZE:
            return host_to_device(a)
        key = (a.dtype.str, a.shape, a.tobytes())
        dev = self.copies.get(key)
        if dev is None:
            dev = host_to_device(a)             # (refused while a graph is captured)
            if len(self.copies) < self.LIMIT:
                self.copies[key] = dev
        return dev


def random_sample(kind):
    def lower(node):
        op = node.op
        if kind == "uniform" and op.dtype not in _FLOATS:
            return None
        src = random_src.philox_source(kind, op.dtype if kind == "uniform" else None)
        param_dtypes = (op.dtype, op.dtype) if kind == "uniform" else ("int64", "float64")
        small_values = _SmallValues()
        cast = None
        if kind == "binomial" and op.dtype != "int64":
            cast = elementwise_program(dict(steps=[("cast", (0,), op.dtype)], n_inputs=1,
                                            input_dtypes=["int64"], outputs=[1]), [op.dtype])

        def run(state, size, *params):
            cp = cupy()
            on_device = small_values.on_device
            try:
                shape = tuple(int(s) for s in size)
                host = [np.broadcast_to(np.asarray(p, dtype=dt), shape)
                        for p, dt in zip(params, param_dtypes)]
            except (TypeError, ValueError):
                return None
            if len(shape) != op.ndim or min(shape, default=1) < 0 \
                    or state.dtype != np.int64 or state.shape != (4,):
                return None
            n_max = 0
            if kind == "binomial":
                trials, p = host
                if (trials < 0).any() or not ((p >= 0) & (p <= 1)).all():
                    return None
                n_max = int(trials.max()) if trials.size else 0
                if np.dtype(op.dtype).kind in "iu" and n_max > np.iinfo(op.dtype).max:
                    return None
            n = int(np.prod(shape, dtype=np.int64))
            flat = []
            for p, a in zip(params, host):
                one = np.asarray(p).size == 1
                flat.append((on_device(a.reshape(-1)[:1] if one else a.reshape(-1)),
                             0 if one else 1))
            (p1, s1), (p2, s2) = flat
            new_state = cp.empty((4,), dtype="int64")
            status = cp.zeros((1,), dtype="int64")
            out = cp.empty((max(n, 1),), dtype=op.dtype if kind == "uniform" else "int64")
            launch(src, max(n, 1), [i64(n), i64(s1), i64(s2), i64(n_max), out, p1, p2,
                                    cp.ascontiguousarray(state), new_state, status])
            if status_is_set(status):
                return None
            out = out[:n].reshape(shape)
            if cast is not None:
                out = cast(out)[0]
            return [new_state, out]
        run.host_args = tuple(range(1, len(node.inputs)))   # the size and the parameters
        run.how = f"cuda: Philox {kind} kernel"
        return run
    return lower
