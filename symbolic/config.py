"""Compiler flags.

Flags come from the ``SYMBOLIC_FLAGS`` environment variable
(``SYMBOLIC_FLAGS=device=cuda,floatX=float32``) and may be changed in code
before a function is compiled, as Theano users did with ``theano.config``.
The set is kept deliberately small; an unknown flag is an error that lists the
valid ones so a typo never goes unnoticed.
"""
import contextlib
import os
import re


def _choice(*allowed):
    def check(name, value):
        value = str(value)
        if value not in allowed:
            raise ValueError(
                f"config.{name}={value!r} is not valid; expected one of {', '.join(allowed)}")
        return value
    return check


def _identifier(name, value):
    value = str(value)
    if not value.isidentifier():
        raise ValueError(f"config.{name}={value!r} is not a backend name")
    return value


def _device(name, value):
    value = str(value)
    if not re.fullmatch(r"cpu|cuda\d*", value):
        raise ValueError(f"config.{name}={value!r} is not valid; expected 'cpu', 'cuda' or 'cudaN'")
    return value


def _optimizer(name, value):
    if value is None or str(value) in ("None", "none", ""):
        return "None"
    return _choice("None", "fast_compile", "fast_run")(name, value)


def _bool(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"config.{name}={value!r} is not valid; expected True or False")


def _positive_int(name, value):
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"config.{name}={value!r} is not valid; expected a positive integer")
    return int(text)


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _path(name, value):
    return os.path.expanduser(str(value))


def _default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symbolic")


# name -> (default, validator, help); a default of None is computed by _DEFAULTS
_DEFAULTS = {"cache_dir": lambda: _default_cache_dir(), "threads": lambda: _default_threads()}
_FLAGS = {
    "floatX": ("float32", _choice("float32", "float64"),
               "dtype of scalar/vector/matrix constructors and of Python float literals"),
    "device": ("cpu", _device, "where shared variables live and functions run: cpu, cuda, cudaN"),
    "linker": ("auto", _identifier,
               "backend: auto (best for the device), numpy, or any registered backend name"),
    "optimizer": ("fast_run", _optimizer, "graph rewrite level: None, fast_compile, fast_run"),
    "cache_dir": (None, _path, "where compiled kernels are cached on disk"),
    "profile": (False, _bool, "collect rewrite, compile and per-op run times"),
    "threads": (None, _positive_int, "threads native backends may use (BLAS included); "
                                     "default: the CPUs this process may run on"),
    "native_driver": (True, _bool, "llvm backend: run each call of a function as one native "
                                   "call (False: one Python call per node)"),
    "small_gemm": (True, _bool, "llvm backend: matrix products with one dimension of at most 16 "
                                "(mini-batch rows, rank updates) by kernels of our own "
                                "(False: every product through BLAS)"),
    "cuda_graphs": (True, _bool, "cuda backend: capture calls of a fixed layout into a CUDA graph "
                                 "and replay it (False: launch kernel by kernel)"),
}


class Config:
    """Attribute access to the flags, validated on every assignment."""

    def __init__(self):
        object.__setattr__(self, "_values", {})
        for name, (default, _, _) in _FLAGS.items():
            self._values[name] = default if default is not None else _DEFAULTS[name]()

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(_unknown(name)) from None

    def __setattr__(self, name, value):
        if name not in _FLAGS:
            raise AttributeError(_unknown(name))
        self._values[name] = _FLAGS[name][1](name, value)

    @contextlib.contextmanager
    def change_flags(self, **flags):
        """Temporarily set flags; the old values come back on exit, even on error."""
        old = dict(self._values)
        try:
            for name, value in flags.items():
                setattr(self, name, value)
            yield self
        finally:
            self._values.clear()
            self._values.update(old)

    def describe(self):
        return "\n".join(f"{n} = {self._values[n]!r}    # {h}" for n, (_, _, h) in _FLAGS.items())

    def __repr__(self):
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


def _unknown(name):
    return f"unknown config flag {name!r}; valid flags are: {', '.join(_FLAGS)}"


def parse_flags(text):
    """Parse ``a=b,c=d`` into a dict, rejecting malformed entries and unknown names."""
    flags = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise ValueError(f"SYMBOLIC_FLAGS entry {item!r} is not of the form name=value")
        name, value = (s.strip() for s in item.split("=", 1))
        if name not in _FLAGS:
            raise ValueError(f"SYMBOLIC_FLAGS: {_unknown(name)}")
        flags[name] = value
    return flags


config = Config()
for _name, _value in parse_flags(os.environ.get("SYMBOLIC_FLAGS", "")).items():
    setattr(config, _name, _value)
change_flags = config.change_flags
