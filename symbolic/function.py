"""``function``: compile a graph into a callable with shared state and updates.

Compilation substitutes ``givens``, collects shared variables and their
(default) updates, rewrites the graph and hands it to the backend.  A call
checks the inputs, runs the backend's program, then commits every update at
once, so all outputs and updates are computed from the old values and a
failed call leaves the shared state unchanged.
"""
import time
import warnings

import numpy as np

from .config import config
from .fgraph import FunctionGraph
from .graph import Constant, Variable, ancestors, clone_replace
from .shared import SharedVariable
from .variable import as_tensor_variable


class In:
    """A function input with options: a default ``value``, a ``name`` for keywords."""

    def __init__(self, variable, name=None, value=None, borrow=False, mutable=False,
                 allow_downcast=None, implicit=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In(): expected a variable, got {variable!r}")
        self.variable, self.name = variable, name or variable.name
        self.value, self.borrow, self.mutable = value, borrow, mutable
        self.allow_downcast = allow_downcast
        self.has_default = value is not None


class Out:
    """A function output; ``borrow=True`` may return an internal buffer without a copy."""

    def __init__(self, variable, borrow=False):
        self.variable, self.borrow = variable, borrow


class Mode:
    """How to compile: which backend (linker) and which rewrites (optimizer)."""

    def __init__(self, linker=None, optimizer=None):
        self.linker = linker
        self.optimizer = optimizer

    def __repr__(self):
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"


_MODE_NAMES = {"FAST_RUN": "fast_run", "FAST_COMPILE": "fast_compile"}


def _resolve_mode(mode):
    if mode is None:
        return Mode(config.linker, config.optimizer)
    if isinstance(mode, Mode):
        return Mode(mode.linker or config.linker, mode.optimizer or config.optimizer)
    if isinstance(mode, str):
        if mode in _MODE_NAMES:
            return Mode(config.linker, _MODE_NAMES[mode])
        from backends import available_backends
        if mode in available_backends():
            return Mode(mode, config.optimizer)
    raise ValueError(f"mode={mode!r} is not valid; expected None, a Mode, 'FAST_RUN', "
                     f"'FAST_COMPILE' or a registered backend name")


def _mode_for_this_device(mode):
    """``mode``, or the configured backend in its place when its backend needs another
    device than ``config.device`` (a function pickled on a GPU, loaded on a CPU machine)."""
    gpu_linker = mode.linker == "cuda"
    if gpu_linker != config.device.startswith("cuda") and mode.linker != "auto":
        return Mode(config.linker, mode.optimizer)
    return mode


def _pairs(arg, what):
    if arg is None:
        return []
    if isinstance(arg, dict):
        return list(arg.items())
    try:
        pairs = list(arg)
    except TypeError:
        raise TypeError(f"{what} must be a dict or a list of (variable, expression) pairs") from None
    for p in pairs:
        if not (isinstance(p, (tuple, list)) and len(p) == 2):
            raise TypeError(f"{what} must be a dict or a list of (variable, expression) pairs, "
                            f"found {p!r}")
    return [tuple(p) for p in pairs]


def _check_update(var, expr):
    if not isinstance(var, SharedVariable):
        raise TypeError(f"updates: {var!r} is not a shared variable; only shared variables can be updated")
    expr = as_tensor_variable(expr)
    if expr.weak and expr.dtype != var.dtype:
        from .ops.elemwise import _cast_input
        expr = _cast_input(expr, var.dtype, f"update of {var!r}")
    if expr.dtype != var.dtype:
        raise TypeError(f"updates: the update of shared variable {var!r} has dtype {expr.dtype}, but "
                        f"the variable has dtype {var.dtype}; cast the expression "
                        f"(e.g. expr.astype('{var.dtype}'))")
    if expr.ndim != var.ndim:
        raise TypeError(f"updates: the update of shared variable {var!r} has {expr.ndim} dimensions, "
                        f"the variable has {var.ndim}")
    if not var.type.compatible_shape([s if s is not None else v for s, v in
                                      zip(expr.type.shape, var.type.shape)]):
        raise ValueError(f"updates: the update of {var!r} has static shape {expr.type.shape}, "
                         f"the variable has {var.type.shape}")
    return expr


def _check_given(var, expr):
    expr = as_tensor_variable(expr)
    if expr.dtype != var.dtype or expr.ndim != var.ndim:
        raise TypeError(f"givens: {var!r} of type {var.type} cannot be replaced by {expr!r} of type "
                        f"{expr.type}; dtype and number of dimensions must match")
    if not var.type.accepts(expr.type):
        raise TypeError(f"givens: {var!r} has static shape {var.type.shape}, which {expr!r} of type "
                        f"{expr.type} does not guarantee; the graph may rely on that shape (give "
                        f"{var!r} unknown dimensions, or reshape the replacement)")
    return expr


def function(inputs, outputs=None, updates=None, givens=None, mode=None,
             on_unused_input="raise", allow_input_downcast=None, name=None,
             no_default_updates=False, profile=None, trust_input=False):
    """Compile ``outputs`` (and ``updates``) as a function of ``inputs``."""
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    if isinstance(inputs, (Variable, In)):
        raise TypeError("function(): inputs must be a list of variables, e.g. function([x], ...)")
    ins = [i if isinstance(i, In) else In(i) for i in (inputs or [])]
    for k, i in enumerate(ins):
        v = i.variable
        if isinstance(v, SharedVariable):
            raise TypeError(f"function(): input {k} ({v!r}) is a shared variable; shared variables "
                            f"are implicit inputs and must not be listed (use givens to replace one)")
        if isinstance(v, Constant) or v.owner is not None:
            raise TypeError(f"function(): input {k} ({v!r}) is not an input variable (it is a "
                            f"constant or computed from other variables)")
    if len({id(i.variable) for i in ins}) != len(ins):
        raise ValueError("function(): an input variable is listed twice")

    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else [outputs] if single else list(outputs)
    outs = [o if isinstance(o, Out) else Out(o) for o in outs]
    out_vars = [as_tensor_variable(o.variable) for o in outs]

    update_pairs = [(v, _check_update(v, e)) for v, e in _pairs(updates, "updates")]
    if len({id(v) for v, _ in update_pairs}) != len(update_pairs):
        raise ValueError("updates: a shared variable is updated twice")
    given_pairs = [(v, _check_given(v, e)) for v, e in _pairs(givens, "givens")]

    # Substitute givens everywhere: outputs and update expressions.
    exprs = out_vars + [e for _, e in update_pairs]
    if given_pairs:
        exprs = clone_replace(exprs, dict(given_pairs))
    out_vars, update_exprs = exprs[:len(out_vars)], exprs[len(out_vars):]
    update_pairs = list(zip([v for v, _ in update_pairs], update_exprs))

    # Default updates (random streams) of shared variables the graph reads.
    excluded = set(map(id, no_default_updates)) if isinstance(no_default_updates, (list, tuple)) else set()
    if no_default_updates is not True:
        seen = {id(v) for v, _ in update_pairs}
        pending = list(out_vars) + [e for _, e in update_pairs]
        while pending:
            new = []
            for v in ancestors(pending):
                if isinstance(v, SharedVariable) and v.default_update is not None \
                        and id(v) not in seen and id(v) not in excluded:
                    seen.add(id(v))
                    expr = v.default_update
                    if given_pairs:
                        expr, = clone_replace([expr], dict(given_pairs))
                    update_pairs.append((v, _check_update(v, expr)))
                    new.append(expr)
            pending = new

    all_exprs = out_vars + [e for _, e in update_pairs]
    needed = [v for v in ancestors(all_exprs) if v.owner is None and not isinstance(v, Constant)]
    input_ids = {id(i.variable) for i in ins}
    shared_vars = [v for v in needed if isinstance(v, SharedVariable)]
    for v, _ in update_pairs:
        if v not in shared_vars:
            shared_vars.append(v)
    for v in needed:
        if not isinstance(v, SharedVariable) and id(v) not in input_ids:
            raise ValueError(f"function(): the graph needs the input {v!r} ({v.type}), which is not "
                             f"in the inputs list; add it to the inputs (or to givens)")
    needed_ids = {id(v) for v in needed}
    for k, i in enumerate(ins):
        if id(i.variable) not in needed_ids:
            msg = (f"function(): input {k} ({i.variable!r}) is not used to compute any output; pass "
                   f"on_unused_input='ignore' or 'warn' to allow this")
            if on_unused_input == "raise":
                raise ValueError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=2)

    return Function(ins, outs, out_vars, shared_vars, update_pairs, _resolve_mode(mode),
                    allow_input_downcast, name, single, trust_input,
                    config.profile if profile is None else profile)


class Function:
    """A compiled function. Call it with the input values (positional or by name)."""

    def __init__(self, ins, outs, out_vars, shared_vars, update_pairs, mode, allow_input_downcast,
                 name, single, trust_input, profile):
        from .rewriting import rewrite_graph
        self.ins, self.outs, self.name = ins, outs, name
        self.mode, self.single, self.trust_input = mode, single, trust_input
        self.shared_vars = shared_vars
        self.updated = [v for v, _ in update_pairs]
        self.allow_input_downcast = allow_input_downcast
        self.profile = profile
        self._n_out = len(out_vars)
        t0 = time.perf_counter()
        graph_inputs = [i.variable for i in ins] + shared_vars
        fgraph = FunctionGraph(graph_inputs, out_vars + [e for _, e in update_pairs])
        position = {id(v): len(ins) + k for k, v in enumerate(shared_vars)}
        fgraph.updates = {len(out_vars) + k: position[id(v)] for k, (v, _) in enumerate(update_pairs)}
        self.rewrite_times = {}
        self.fgraph = rewrite_graph(fgraph, mode.optimizer, self.rewrite_times)
        self.compile_times = {"rewrite": time.perf_counter() - t0}
        self._link()

    def _link(self):
        """Hand the rewritten graph to the backend and bind the shared containers."""
        from backends import get_backend
        t0 = time.perf_counter()
        self.profile_stats = ProfileStats(self.name) if self.profile else None
        self.backend = get_backend(self.mode.linker)
        self.program = self.backend.compile(self.fgraph, profile=self.profile_stats) \
            if self.profile else self.backend.compile(self.fgraph)
        self.compile_times["backend"] = time.perf_counter() - t0
        self._names = {i.name: k for k, i in enumerate(self.ins) if i.name}
        self._containers = [v.container for v in self.shared_vars]
        index = {id(v): k for k, v in enumerate(self.shared_vars)}
        self._update_containers = [self._containers[index[id(v)]] for v in self.updated]
        # A program that runs whole calls natively (the LLVM backend's) checks the inputs
        # and runs the call itself, its outputs fresh and its updates owned (see
        # backends/llvm/program.py); profiling times every node, so it takes the general path.
        run_native = getattr(self.program, "run_native", None)
        self._native = run_native if run_native is not None and not self.profile else None
        self._quick_kinds = [np.dtype(i.variable.dtype).type if i.variable.ndim == 0 else None
                             for i in self.ins]
        if self.profile:
            self.profile_stats.rewrite_times = self.rewrite_times
            self.profile_stats.compile_time = self.compile_times["backend"]

    def __getstate__(self):
        """Pickle the rewritten graph and the shared variables; the program is rebuilt on load
        (so a function saved on one backend or device loads on another)."""
        state = dict(self.__dict__)
        for key in ("program", "backend", "profile_stats", "_containers", "_update_containers",
                    "_native"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.mode = _mode_for_this_device(self.mode)
        # The in-place plan names nodes by id(), which pickling does not preserve: plan again.
        self.fgraph.forget_schedule()
        from .rewriting import LEVELS
        if "inplace" in LEVELS[self.mode.optimizer]:
            from .rewriting.inplace import _inplace_pass
            _inplace_pass(self.fgraph)
        self._link()

    @property
    def maker(self):
        return self

    def _arguments(self, args, kwargs):
        if len(args) > len(self.ins):
            raise TypeError(f"{self._label()} takes {len(self.ins)} inputs, got {len(args)}")
        values = list(args) + [_MISSING] * (len(self.ins) - len(args))
        for key, value in kwargs.items():
            if key not in self._names:
                raise TypeError(f"{self._label()} has no input named {key!r}; named inputs: "
                                f"{', '.join(self._names) or 'none'}")
            k = self._names[key]
            if values[k] is not _MISSING:
                raise TypeError(f"{self._label()}: input {key!r} was given twice")
            values[k] = value
        out = []
        for k, (i, value) in enumerate(zip(self.ins, values)):
            if value is _MISSING:
                if not i.has_default:
                    raise TypeError(f"{self._label()}: missing input {k} ({i.variable!r}); it takes "
                                    f"{len(self.ins)} inputs")
                value = i.value
            if self.trust_input:
                out.append(value)
                continue
            allow = i.allow_downcast if i.allow_downcast is not None else self.allow_input_downcast
            try:
                value = i.variable.type.filter(value, allow_downcast=allow)
            except (TypeError, ValueError):
                # again, to raise the same error naming the input (too slow to name every call)
                i.variable.type.filter(value, name=f"{self._label()} input {k} ({i.variable!r})",
                                       allow_downcast=allow)
                raise
            out.append(value)
        return out

    def _label(self):
        return f"function {self.name!r}" if self.name else "function"

    def __call__(self, *args, **kwargs):
        native = self._native
        if native is not None and not kwargs and len(args) == len(self.ins):
            values = self._quick_arguments(args)
            if values is not None:
                results = native((*values, *[c.value for c in self._containers]), may_plan=False)
                if results is not None:         # fresh outputs and owned updates: no copies
                    for c, new in zip(self._update_containers, results[self._n_out:]):
                        c.value = new
                    return results[0] if self.single else results[:self._n_out]
        values = self._arguments(args, kwargs)
        # Inputs go to the program as the caller gave them: a device program moves to the
        # device what its kernels read there (an index that only slices stays on the host).
        device = self._containers[0].device if self._containers else None
        t0 = time.perf_counter() if self.profile else 0.0
        results = self.program(*values, *[c.value for c in self._containers])
        if self.profile:
            self.profile_stats.calls += 1
            self.profile_stats.call_time += time.perf_counter() - t0
        return self._finish(values, results, device)

    def _quick_arguments(self, args):
        """The arguments as they are when a native plan can check them itself: ndarrays
        (the plan compares their dtype, shape and strides with those of filtered values it
        was made for), NumPy scalars of a scalar input's dtype and Python ints for int64
        scalars as 0-d arrays; None to filter them all."""
        if self.trust_input:
            return list(args)
        values = list(args)
        for k, (a, kind) in enumerate(zip(args, self._quick_kinds)):
            if a.__class__ is np.ndarray:
                continue
            if a.__class__ is kind:             # a NumPy scalar of the input's dtype
                values[k] = np.array(a)
                continue
            if a.__class__ is int and kind is np.int64 and -_INT64_LIMIT <= a < _INT64_LIMIT:
                values[k] = np.array(a, dtype=np.int64)
                continue
            return None
        return values

    def _finish(self, values, results, device):
        """Commit the updates (only now: a call that raised changed nothing) and hand out
        outputs the caller owns."""
        new_values = self._owned_updates(values, results[self._n_out:])
        for c, new in zip(self._update_containers, new_values):
            if new is not c.value:
                c.value, c.owned = new, True
        outputs = []
        held = values + [c.value for c in self._containers]
        for o, r in zip(self.outs, results[:self._n_out]):
            if device is not None:
                r = device.to_host(r)
            if not o.borrow:
                r = _private(r, held)
                held.append(r)
            outputs.append(r)
        if self.single:
            return outputs[0]
        return outputs

    def _owned_updates(self, values, new_values):
        """Check every new shared value, then make each one the sole owner of its buffer.

        A new value may be an input the caller still holds, another variable's value,
        a read-only constant or a view: storing it as is would let a later in-place
        update (or the caller) change two things at once.
        """
        for var, new in zip(self.updated, new_values):
            if not var.type.compatible_shape(np.shape(new)):
                raise ValueError(f"{self._label()}: the update of shared variable {var!r} has shape "
                                 f"{np.shape(new)}, but the variable's static shape is {var.type.shape}; "
                                 f"no shared variable was changed")
        holders = {}                       # id of a current shared value -> its containers
        for c in self._containers:
            holders.setdefault(id(c.value), []).append(c)
        given = {id(v) for v in values}
        owned, seen = [], set()
        for c, new in zip(self._update_containers, new_values):
            host = isinstance(new, np.ndarray)
            if (host or hasattr(new, "__cuda_array_interface__")) and (
                    id(new) in seen or (host and not new.flags.writeable) or new.base is not None
                    or id(new) in given or any(h is not c for h in holders.get(id(new), ()))):
                new = new.copy()
            seen.add(id(new))
            owned.append(new)
        return owned

    def __repr__(self):
        return f"<Function {self.name or ''} inputs={[i.variable for i in self.ins]}>"

    def profile_summary(self, file=None):
        """Print where compile and run time went (needs ``profile=True``)."""
        if not self.profile:
            raise RuntimeError("this function was compiled without profile=True (or the profile flag)")
        return self.profile_stats.summary(file)


class ProfileStats:
    """Time spent rewriting, compiling, and per op while running."""

    def __init__(self, name):
        self.name = name
        self.rewrite_times, self.compile_time = {}, 0.0
        self.calls, self.call_time = 0, 0.0
        self.op_times = {}   # op description -> [calls, seconds, how it ran]
        self.notes = []      # lines a backend adds (how profiling changes what runs)

    def record(self, op_label, seconds, how):
        entry = self.op_times.setdefault(op_label, [0, 0.0, how])
        entry[0] += 1
        entry[1] += seconds

    def summary(self, file=None):
        lines = [f"Profile of function {self.name or '(unnamed)'}",
                 f"  rewriting: {sum(self.rewrite_times.values()) * 1e3:.2f} ms  (" +
                 ", ".join(f"{k} {v * 1e3:.2f}" for k, v in self.rewrite_times.items()) + ")",
                 f"  backend compile: {self.compile_time * 1e3:.2f} ms",
                 f"  calls: {self.calls}, total {self.call_time * 1e3:.2f} ms"]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  {'op':<40} {'calls':>8} {'total ms':>10} {'%':>6}  runs as")
        total = sum(t for _, t, _ in self.op_times.values()) or 1.0
        for label, (n, t, how) in sorted(self.op_times.items(), key=lambda kv: -kv[1][1]):
            lines.append(f"  {label:<40} {n:>8} {t * 1e3:>10.3f} {100 * t / total:>6.1f}  {how}")
        text = "\n".join(lines) + "\n"
        if file == "str":
            return text
        import sys
        (file or sys.stdout).write(text)
        return text


_INT64_LIMIT = 1 << 63


def _private(r, held):
    """An output the caller owns: not read-only, not a view, and sharing no buffer with an
    input, a shared value or another output."""
    if isinstance(r, np.ndarray) and (
            r.base is not None or not r.flags.writeable
            or any(r is v or getattr(v, "base", None) is r for v in held)):
        return r.copy()
    return r


_MISSING = object()
