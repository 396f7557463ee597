"""Benchmark: compile time of network3's two-conv training function, and call overhead.

(a) Compile time.  The function is network3's training step for the two-conv-layer ReLU
net (W3 of bench/network3_throughput.py: ConvPool(20 5x5, ReLU) + ConvPool(40 5x5, ReLU)
+ FC 100 ReLU + softmax, L2 lmbda=0.1, mini-batch 10, float32), compiled as nets does:
``S.function([i], cost, updates=[(p, p - eta * g)], givens=net._batch_givens(data, i))``.
Every measurement runs in a fresh Python process, so nothing cached in memory helps:

* cold: an empty temporary ``cache_dir`` (``SYMBOLIC_FLAGS=cache_dir=...``);
* warm: another fresh process on the same, now filled, ``cache_dir``.

The process reports the time of ``S.function(...)`` and of the first call, which
compiles native kernels lazily and so belongs to the compile time, and their sum; also,
for information, building the graph (the layers, the cost and ``S.grad``) and importing
``symbolic`` and ``nets``.  Each figure is the median of ``--repeats`` processes (each
cold one on a new empty cache_dir).

(b) Call overhead: the median time of one call of a compiled tiny function, in
microseconds (median of several runs of many calls each), with both linkers:
``x + 1`` on a 3-element float32 vector, the same with ``trust_input=True``, and a
float32 scalar's identity ``s -> s``; with NumPy's own ``x + 1`` for reference.

``--threads`` (default 1) sets ``OPENBLAS_NUM_THREADS`` and ``SYMBOLIC_FLAGS=threads=N``.

    python bench/compile_and_call.py
    python bench/compile_and_call.py --repeats 5 --linkers llvm
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The targets.
TARGET_COLD_S, TARGET_WARM_S, TARGET_CALL_US = 1.0, 0.2, 5.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--linkers", default="llvm,numpy", help="comma-separated linkers to measure")
    p.add_argument("--repeats", type=int, default=3,
                   help="processes per compile-time figure (cold and warm); the median is shown")
    p.add_argument("--calls", type=int, default=2000, help="calls per timed run of the call overhead")
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS and the backends")
    p.add_argument("--skip-compile", action="store_true", help="only measure the call overhead")
    p.add_argument("--skip-call", action="store_true", help="only measure the compile time")
    p.add_argument("--child", choices=["compile"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child_env(linker, cache_dir, threads):
    env = dict(os.environ)
    flags = [f for f in env.get("SYMBOLIC_FLAGS", "").split(",")
             if f and f.split("=")[0] not in ("linker", "cache_dir", "threads")]
    env["SYMBOLIC_FLAGS"] = ",".join(flags + [f"linker={linker}", f"cache_dir={cache_dir}",
                                              f"threads={threads}", "floatX=float32"])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


# ---------------------------------------------------------------- (a) in the child process

def compile_child():
    """Build and compile W3's training function; print the times as one JSON line."""
    t0 = time.perf_counter()
    import numpy as np
    sys.path.insert(0, ROOT)
    import symbolic as S
    from nets.network import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
    t1 = time.perf_counter()

    mb, eta, lmbda, n = 10, 0.03, 0.1, 1000
    rng = np.random.default_rng(0)
    np.random.seed(0)
    data = (S.shared(rng.random((n, 784), dtype=np.float32), name="data_x", borrow=True),
            S.shared(rng.integers(0, 10, size=n).astype(np.int32), name="data_y", borrow=True))
    net = Network([
        ConvPoolLayer(image_shape=(mb, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU, rng=rng),
        ConvPoolLayer(image_shape=(mb, 20, 12, 12), filter_shape=(40, 20, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU, rng=rng),
        FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU, rng=rng),
        SoftmaxLayer(n_in=100, n_out=10)], mb)
    cost = net.cost(lmbda, n // mb)
    grads = S.grad(cost, net.params)
    eta_shared = S.shared(np.float32(eta), name="eta")
    updates = [(p, p - eta_shared * g) for p, g in zip(net.params, grads)]
    i = S.lscalar("i")
    t2 = time.perf_counter()

    train = S.function([i], cost, updates=updates, givens=net._batch_givens(data, i), name="train_mb")
    t3 = time.perf_counter()
    first = float(train(0))
    t4 = time.perf_counter()
    second = float(train(1))
    t5 = time.perf_counter()
    print(json.dumps({"linker": S.config.linker, "cache_dir": S.config.cache_dir,
                      "import_s": t1 - t0, "build_s": t2 - t1, "function_s": t3 - t2,
                      "first_call_s": t4 - t3, "second_call_s": t5 - t4,
                      "costs": [first, second]}))


def run_child(linker, cache_dir, threads):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "compile"],
                         env=child_env(linker, cache_dir, threads), cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the {linker} compile process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def compile_times(linkers, repeats, threads):
    print(f"(a) compile time of W3's training function (two conv layers, ReLU, mini-batch 10), "
          f"seconds, median of {repeats} fresh processes each")
    print(f"{'linker':<7} {'cache':<5} {'function()':>10} {'1st call':>9} {'sum':>7} "
          f"{'target':>7} {'   ':3} {'2nd call':>9} {'build graph':>11} {'import':>7}")
    for linker in linkers:
        runs = {"cold": [], "warm": []}
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="symbolic-bench-cache-") as cache_dir:
                runs["cold"].append(run_child(linker, cache_dir, threads))
                runs["warm"].append(run_child(linker, cache_dir, threads))
        for kind, target in (("cold", TARGET_COLD_S), ("warm", TARGET_WARM_S)):
            r = runs[kind]
            fn = median([x["function_s"] for x in r])
            first = median([x["first_call_s"] for x in r])
            total = median([x["function_s"] + x["first_call_s"] for x in r])
            met = "met" if total <= target else "NOT"
            print(f"{linker:<7} {kind:<5} {fn:>10.3f} {first:>9.3f} {total:>7.3f} "
                  f"{f'<= {target:g}':>7} {met:<3} {median([x['second_call_s'] for x in r]):>9.4f} "
                  f"{median([x['build_s'] for x in r]):>11.3f} "
                  f"{median([x['import_s'] for x in r]):>7.3f}", flush=True)


# ---------------------------------------------------------------- (b) call overhead

def call_overheads(linkers, calls, threads):
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    import numpy as np
    sys.path.insert(0, ROOT)
    import symbolic as S
    S.config.threads = threads

    def per_call_us(fn, arg):
        fn(arg)
        runs = timeit.repeat(lambda: fn(arg), number=calls, repeat=15)
        return median(runs) / calls * 1e6

    x_value = np.arange(3, dtype=np.float32)
    s_value = np.float32(2.5)
    print(f"\n(b) call overhead, microseconds per call (median of 15 runs of {calls} calls; "
          f"target <= {TARGET_CALL_US:g} us)")
    print(f"{'function':<38} " + " ".join(f"{linker:>8}" for linker in linkers))
    with S.config.change_flags(floatX="float32"):
        x, s = S.vector("x"), S.scalar("s")
        rows = [("x + 1, float32[3]", [x], x + 1, {}, x_value),
                ("x + 1, float32[3], trust_input=True", [x], x + 1, {"trust_input": True}, x_value),
                ("s -> s, float32 scalar", [s], s, {}, s_value)]
        for label, inputs, output, kwargs, value in rows:
            figures = []
            for linker in linkers:
                f = S.function(inputs, output, mode=S.Mode(linker=linker), **kwargs)
                figures.append(per_call_us(f, value))
            print(f"{label:<38} " + " ".join(f"{v:>8.2f}" for v in figures), flush=True)
    print(f"{'for reference: NumPy x + 1 itself':<38} "
          f"{per_call_us(lambda v: v + np.float32(1), x_value):>8.2f}")


def python_loop_s():
    """The fastest of three runs of a fixed pure-Python loop: compile times are mostly Python
    and LLVM work, so they scale with this figure from machine to machine."""
    def loop():
        t = time.perf_counter()
        total = 0
        for k in range(3_000_000):
            total += k
        return time.perf_counter() - t
    return min(loop() for _ in range(3))


def main(args):
    linkers = [linker.strip() for linker in args.linkers.split(",") if linker.strip()]
    print(f"threads={args.threads}, float32, Python {sys.version.split()[0]}; "
          f"for scale, this machine runs a 3M-step pure-Python loop in {python_loop_s():.2f} s")
    if sys.flags.dont_write_bytecode:
        print("note: PYTHONDONTWRITEBYTECODE is set, so every process compiles the project's "
              "sources again, imports inside S.function() and the first call included; "
              "`env -u PYTHONDONTWRITEBYTECODE` measures what an installed package sees")
    if not args.skip_compile:
        compile_times(linkers, args.repeats, args.threads)
    if not args.skip_call:
        call_overheads(linkers, args.calls, args.threads)


if __name__ == "__main__":
    ARGS = parse_args()
    if ARGS.child == "compile":
        compile_child()
    else:
        main(ARGS)
