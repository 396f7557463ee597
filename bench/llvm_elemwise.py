"""Benchmark: the LLVM elementwise kernel of ``maximum(0, a*b + c)`` against unfused NumPy.

Builds the graph with ``symbolic``, takes the FusedElemwise node the fusion rewrite makes,
compiles it with backends.llvm.elemwise and times, on float32 vectors of 10M and 4,096
elements, NumPy's three ufunc calls against one kernel call (output allocation included
on both sides; also the kernel writing into a reused output).  Prints the median of
several runs.  At 10M elements both sides are memory bound and a fresh 40 MB output costs
page faults (~5 ms) that NumPy pays too.

    python bench/llvm_elemwise.py
"""
import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import symbolic as S                                   # noqa: E402
from symbolic.ops.fused import FusedElemwise           # noqa: E402
from backends.llvm import elemwise                     # noqa: E402


def fused_node():
    with S.config.change_flags(floatX="float32"):
        a, b, c = S.vector("a"), S.vector("b"), S.vector("c")
        f = S.function([a, b, c], S.maximum(0, a * b + c))
    nodes = [n for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise)]
    assert len(nodes) == 1, nodes
    return nodes[0]


def median_time(fn, number, repeat=9):
    return sorted(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))[repeat // 2]


def main():
    node = fused_node()
    kernel = elemwise.kernel_for_node(node)
    rng = np.random.default_rng(0)
    print(f"program: {node.op}  (inputs: {[str(i.type) for i in node.inputs]})")
    print(f"{'size':>10} {'numpy us':>10} {'llvm us':>10} {'speedup':>8} "
          f"{'llvm, out reused':>17} {'speedup':>8}")
    for n in (10_000_000, 4096):
        a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
        # the constant 0 is an input of the fused node: pass its value
        ins = []
        for v in node.inputs:
            if getattr(v, "data", None) is not None:
                ins.append(np.asarray(v.data))
            else:
                ins.append({"a": a, "b": b, "c": c}[v.name])
        ins = tuple(ins)
        zero = np.float32(0)

        def numpy_unfused():
            return np.maximum(zero, a * b + c)

        def llvm():
            out = np.empty(n, np.float32)
            kernel((out,), ins)
            return out

        reused = (np.empty(n, np.float32),)

        def llvm_reused():
            kernel(reused, ins)

        assert np.array_equal(llvm(), numpy_unfused())
        number = 3 if n > 100_000 else 2000
        t_np = median_time(numpy_unfused, number)
        t_ll = median_time(llvm, number)
        t_re = median_time(llvm_reused, number)
        print(f"{n:>10} {t_np * 1e6:>10.1f} {t_ll * 1e6:>10.1f} {t_np / t_ll:>7.2f}x "
              f"{t_re * 1e6:>17.1f} {t_np / t_re:>7.2f}x")


if __name__ == "__main__":
    main()
