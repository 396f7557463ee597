"""A small JIT over llvmlite: IR text in, native function addresses out.

* ``llvmlite.binding`` is imported lazily (it costs 40-165 ms), on the first compile.
* Every module is verified (``parse_assembly`` accepts invalid IR), optimized with the new
  pass manager (O2, loop vectorizer on, SLP off, unrolling on unless the caller says
  ``unroll=False``: elementwise and im2col convolution kernels lose nothing without it (the
  latter even ran faster) and compile 25-50% faster, while pooling kernels run 7x slower;
  O3 took ~25% more compile
  time for no measurable kernel speed), turned into an object file
  by a target machine of our own, and the object is linked into one MCJIT engine with
  ``add_object_file``.  MCJIT owns the target machine it is created with, hence two.
* Objects are cached on disk under ``<config.cache_dir>/llvm/``, keyed by the sha256 of the
  IR text, llvmlite and LLVM versions, the host CPU name and features, the pipeline options
  and ``CODEGEN_VERSION``.  Writes are atomic (temporary file then ``os.replace``), there is
  no lock: two processes compiling the same kernel both write the same bytes.  Every entry
  carries a header (magic, key, payload length and digest) that is checked before LLVM sees
  the bytes, so a truncated or corrupted file is a miss and gets rewritten.
* MCJIT never frees code: compiled functions live as long as the process.
* Compiles do not run in parallel: llvmlite serializes every call into LLVM with a global
  lock, and compiling a function's kernels on two threads was measured no faster than on one.

Usage::

    addrs = compile_ir(ir_text, ["kernel_name"])   # {name: address}
    text = assembly(ir_text)                          # optimized x86 assembly, for tests
"""
import hashlib
import os
import struct
import tempfile
import threading

# Bump when the code generators change in a way that the IR text would not show.
CODEGEN_VERSION = 1

SPEED_LEVEL = 2
PIPELINE = dict(speed_level=SPEED_LEVEL, loop_vectorization=True, slp_vectorization=False,
                loop_unrolling=True)

_MAGIC = b"SYMLLVM1"
_lock = threading.RLock()
_state = None            # the lazily built _Jit
_loaded = {}             # cache key -> {name: address}

stats = {"compiled": 0, "disk_hits": 0, "disk_misses": 0, "disk_rejected": 0}


class _Jit:
    def __init__(self):
        import llvmlite
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.llvm = llvm
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        self.triple = llvm.get_process_triple()
        target = llvm.Target.from_triple(self.triple)

        def machine():
            return target.create_target_machine(cpu=self.cpu, features=self.features, opt=3,
                                                reloc="default", codemodel="jitdefault",
                                                jit=True)
        self.tm = machine()                      # ours: optimization, objects, assembly
        engine_tm = machine()                    # MCJIT takes ownership of this one
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), engine_tm)
        self.fingerprint = repr((CODEGEN_VERSION, llvmlite.__version__, llvm.llvm_version_info,
                                 self.triple, self.cpu, self.features, sorted(PIPELINE.items())))

    def optimized(self, ir, unroll=True, speed_level=SPEED_LEVEL):
        llvm = self.llvm
        mod = llvm.parse_assembly(ir)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
        pto.loop_vectorization = PIPELINE["loop_vectorization"]
        pto.slp_vectorization = PIPELINE["slp_vectorization"]
        pto.loop_unrolling = PIPELINE["loop_unrolling"] and unroll
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod

    def load(self, obj, names):
        llvm = self.llvm
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()
        out = {}
        for name in names:
            addr = self.engine.get_function_address(name)
            if not addr:
                raise RuntimeError(f"llvm jit: function {name!r} not found in the compiled object")
            out[name] = addr
        return out


def _jit():
    global _state
    if _state is None:
        with _lock:
            if _state is None:
                _state = _Jit()
    return _state


def cache_dir():
    """The folder of cached objects: ``<config.cache_dir>/llvm``."""
    from symbolic.config import config
    return os.path.join(config.cache_dir, "llvm")


def cache_key(ir, unroll=True, speed_level=SPEED_LEVEL):
    options = "" if unroll and speed_level == SPEED_LEVEL else f"unroll={unroll} O{speed_level}"
    return hashlib.sha256((_jit().fingerprint + "\n" + options + "\n" + ir).encode()).hexdigest()


def _cache_path(key):
    return os.path.join(cache_dir(), key[:2], key + ".o")


def _read_cache(key):
    path = _cache_path(key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = len(_MAGIC) + 64 + 8 + 32
    try:
        if len(data) < head or data[:len(_MAGIC)] != _MAGIC:
            raise ValueError
        k = data[len(_MAGIC):len(_MAGIC) + 64].decode("ascii")
        n, = struct.unpack("<Q", data[len(_MAGIC) + 64:len(_MAGIC) + 72])
        digest = data[len(_MAGIC) + 72:head]
        payload = data[head:]
        if k != key or n != len(payload) or hashlib.sha256(payload).digest() != digest:
            raise ValueError
    except ValueError:
        stats["disk_rejected"] += 1
        return None
    return payload


def _write_cache(key, obj):
    path = _cache_path(key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        blob = (_MAGIC + key.encode("ascii") + struct.pack("<Q", len(obj))
                + hashlib.sha256(obj).digest() + obj)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass  # a read-only or full disk only costs the cache


def compile_ir(ir, names, use_cache=True, unroll=True, speed_level=SPEED_LEVEL):
    """Compile IR text; return ``{name: address}`` for the functions ``names``.

    ``unroll=False`` and a lower ``speed_level`` (1: no loop vectorization, 0: almost no
    optimization) cost less to compile, for kernels that do not need them.

    The same IR compiled twice in one process is linked once (MCJIT cannot hold two
    definitions of one symbol), so kernel names should be derived from the IR's content.
    """
    j = _jit()
    key = cache_key(ir, unroll, speed_level)
    with _lock:
        if key in _loaded:
            return {n: _loaded[key][n] for n in names}
        obj = _read_cache(key) if use_cache else None
        if obj is None:
            stats["disk_misses"] += 1
            obj = j.tm.emit_object(j.optimized(ir, unroll, speed_level))
            stats["compiled"] += 1
            if use_cache:
                _write_cache(key, obj)
        else:
            stats["disk_hits"] += 1
        addrs = j.load(obj, names)
        _loaded[key] = addrs
        return dict(addrs)


def optimized_ir(ir):
    """The module after the optimization pipeline, as text (for tests and debugging)."""
    with _lock:
        return str(_jit().optimized(ir))


def assembly(ir):
    """The optimized module as host assembly text (for tests: look for packed vector ops)."""
    with _lock:
        j = _jit()
        return j.tm.emit_assembly(j.optimized(ir))


def host_info():
    j = _jit()
    return {"cpu": j.cpu, "features": j.features, "triple": j.triple,
            "llvm": j.llvm.llvm_version_info}


def has_feature(name):
    """Whether the host CPU has a feature (``"fma"``, ``"avx512f"``...)."""
    return ("+" + name) in _jit().features.split(",")


def clear_cache():
    """Delete the on-disk object cache (objects already loaded stay usable)."""
    import shutil
    shutil.rmtree(cache_dir(), ignore_errors=True)


def cached_function(cache, lock, key, make):
    """``cache[key]``, made by ``make()`` (a compiled ctypes function) on first need."""
    with lock:
        fn = cache.get(key)
        if fn is None:
            fn = cache[key] = make()
        return fn
