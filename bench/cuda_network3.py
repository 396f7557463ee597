"""Benchmark: network3 training throughput on a GPU, ours (CUDA backend) against PyTorch eager.

The workloads W1-W4 of ``bench/network3_throughput.py`` (same layers, same data in shared
variables sliced by a mini-batch index through ``givens``), float32, on one GPU:

* ``ours``: the training function on ``device=cuda``, replaying a CUDA graph per call
  (``cuda_graphs=True``, the default); ``ours-nograph`` launches kernel by kernel;
* ``torch``: PyTorch eager on the same GPU (autograd, manual SGD), taking the cost back to
  the host after every step as network3 does (``float(cost)``); ``torch-async`` only
  synchronizes at the end of a timed run (what PyTorch users often measure).

Timed runs of ``--steps`` steps, the systems taking turns, median of ``--repeats``; every
run ends with a device synchronization.  ``--check`` first compares the losses of three
steps (dropout off) with the NumPy reference backend.  The last column converts ours into
the time of a 50,000-image MNIST epoch.

    python bench/cuda_network3.py --check                       # W1-W4 at mini-batch 10
    python bench/cuda_network3.py --batch-sizes 10,256 --steps 200
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import network3_throughput as cpu_bench                                   # noqa: E402
import symbolic as S                                                       # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2,W3,W4")
    p.add_argument("--batch-sizes", default="10")
    p.add_argument("--steps", type=int, default=300, help="training steps per timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--systems", default="ours,ours-nograph,torch,torch-async")
    p.add_argument("--check", action="store_true")
    return p.parse_args(argv)


def build_ours(specs, mb, data, eta, lmbda, graphs, seed=0):
    with S.config.change_flags(device="cuda", linker="cuda", cuda_graphs=graphs):
        return cpu_bench.build_ours(specs, mb, data, eta, lmbda, "cuda", seed=seed)


class TorchGpuNet(cpu_bench.TorchNet):
    """``bench/network3_throughput.py``'s PyTorch network with its data and weights on the
    GPU; ``sync``: take the cost to the host after every step."""

    def __init__(self, torch, specs, weights, mb, data, eta, lmbda, sync):
        super().__init__(torch, specs, weights, mb, data, eta, lmbda, threads=1)
        dev = torch.device("cuda")
        self.x, self.y = self.x.to(dev), self.y.to(dev)
        self.params = [(w.detach().to(dev).requires_grad_(), b.detach().to(dev).requires_grad_())
                       for w, b in self.params]
        self.sync = sync

    def step(self, i):
        cost = super().step(i)
        return float(cost) if self.sync else cost


def check(name):
    _, specs, eta, lmbda = cpu_bench.WORKLOADS[name]
    specs = cpu_bench.without_dropout(specs)
    data = cpu_bench.random_data(40, seed=1)
    ref, _ = cpu_bench.build_ours(specs, 10, data, eta, lmbda, "numpy", seed=1)
    ours, _ = build_ours(specs, 10, data, eta, lmbda, True, seed=1)
    a = [float(ref(i)) for i in range(3)]
    b = [float(ours(i)) for i in range(3)]
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=1e-5, err_msg=f"{name}: cuda vs numpy")
    print(f"check {name}: losses {', '.join(f'{c:.5f}' for c in b)} agree with the reference")


def measure(name, mb, systems, steps, repeats, torch, cp):
    _, specs, eta, lmbda = cpu_bench.WORKLOADS[name]
    num_batches = max(4, min(steps, 50))
    data = cpu_bench.random_data(num_batches * mb)
    steppers = {}
    train, net = build_ours(specs, mb, data, eta, lmbda, True)
    weights = [(p.get_value(), q.get_value()) for p, q in zip(net.params[::2], net.params[1::2])]
    if "ours" in systems:
        steppers["ours"] = train
    if "ours-nograph" in systems:
        steppers["ours-nograph"], _ = build_ours(specs, mb, data, eta, lmbda, False)
    for label, sync in (("torch", True), ("torch-async", False)):
        if label in systems and torch is not None:
            steppers[label] = TorchGpuNet(torch, specs, weights, mb, data, eta, lmbda, sync).step

    def synchronize():
        cp.cuda.Device().synchronize()
        if torch is not None:
            torch.cuda.synchronize()
    result = cpu_bench.throughput(steppers, num_batches, mb, steps, repeats, warmup=5,
                                  synchronize=synchronize)
    cache = train.program.graphs
    return result, (cache.captures, cache.replays, list(cache.failures.values()))


def main(args):
    import cupy as cp
    try:
        import torch
        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    dev = cp.cuda.runtime.getDeviceProperties(0)
    print(f"GPU: {dev['name'].decode()}; CuPy {cp.__version__}"
          + (f"; PyTorch {torch.__version__}" if torch is not None else "; no PyTorch"))
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    systems = {s.strip() for s in args.systems.split(",")}
    if args.check:
        for name in names:
            check(name)
    cols = [s for s in ("ours", "ours-nograph", "torch", "torch-async") if s in systems]
    print(f"\ntraining throughput, examples/s (median of {args.repeats} runs of {args.steps} "
          f"steps)")
    print(f"{'workload':<8} {'mb':>4} " + " ".join(f"{c:>12}" for c in cols)
          + f" {'ours/torch':>10} {'epoch (s)':>9}  graphs (captures, replays, failures)")
    for mb in [int(b) for b in args.batch_sizes.split(",")]:
        for name in names:
            r, graphs = measure(name, mb, systems, args.steps, args.repeats, torch, cp)
            ratio = f"{r['ours'] / r['torch']:.2f}x" if "ours" in r and "torch" in r else "-"
            epoch = f"{50000 / r['ours']:.2f}" if "ours" in r else "-"
            print(f"{name:<8} {mb:>4} " + " ".join(f"{r.get(c, 0):>12,.0f}" for c in cols)
                  + f" {ratio:>10} {epoch:>9}  {graphs}", flush=True)


if __name__ == "__main__":
    main(parse_args())
