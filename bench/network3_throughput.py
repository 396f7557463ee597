"""Benchmark: network3 training throughput (examples per second), ours against CPU peers.

Four workloads from network3 (chapter 6 of Nielsen's book), float32, random data of
MNIST shape (784 pixels, 10 classes) held in shared variables and sliced by a mini-batch
index through ``givens``, as network3 does:

    W1  FC 784-100 sigmoid + softmax 10                                  (eta 0.1)
    W2  ConvPool(20 5x5, 2x2 max, sigmoid) + FC 100 sigmoid + softmax    (eta 0.1)
    W3  ConvPool(20, ReLU) + ConvPool(40 5x5, ReLU) + FC 100 ReLU + softmax,
        L2 lmbda=0.1                                                     (eta 0.03)
    W4  the same two convs + FC 1000 ReLU + FC 1000 ReLU + softmax, p_dropout 0.5
        on the inputs of the three fully connected layers                (eta 0.03)

Systems, measured side by side in one process:

* ``ours-llvm`` / ``ours-numpy``: the training function network3 compiles,
  ``S.function([i], cost, updates=[(p, p - eta * g)], givens=net._batch_givens(data, i))``
  on a ``nets.Network``, with ``S.Mode(linker="llvm")`` and ``S.Mode(linker="numpy")``;
* ``numpy-hand``: the same forward, backward and SGD step written by hand in NumPy below
  (convolution as im2col through ``np.lib.stride_tricks.sliding_window_view`` and a
  matmul, max pooling by a reshape, col2im by k*k strided adds);
* ``torch``: PyTorch CPU eager (autograd, manual SGD) when ``import torch`` works;
  skipped with a note otherwise.

Each system runs a few warm-up steps (the first call of ours compiles native kernels),
then ``--repeats`` timed runs of ``--steps`` training steps, the systems taking turns run
by run; the figure is the median run, as examples per second.  The ratio is ours-llvm / the best of the three peers.
The conv nets' throughput is also given in GFLOP/s (matmul/convolution multiply-adds of
the forward and backward passes) and as a fraction of a 1024^3 float32 NumPy matmul on
the same number of threads.

Threads: ``--threads`` (default 1: the machine is shared) sets ``OPENBLAS_NUM_THREADS``
(NumPy's and the LLVM backend's BLAS), ``SYMBOLIC_FLAGS=threads=N`` and
``torch.set_num_threads``.  ``--check`` first verifies, for every workload, that the
hand-written NumPy and torch networks compute the same losses as ours from the same
weights (dropout off, since the three draw different masks) and the same parameters
after one step, and stops if they do not.

    python bench/network3_throughput.py                       # W1-W4 at mini-batch 10
    python bench/network3_throughput.py --batch-sizes 10,256 --check
    python bench/network3_throughput.py --workloads W3 --steps 100 --repeats 7
"""
import argparse
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated subset of W1..W4")
    p.add_argument("--batch-sizes", default="10", help="comma-separated mini-batch sizes (e.g. 10,256)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per timed run (default: max(8, 1000 // mini-batch))")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per system; the median is shown")
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS, the backends and torch")
    p.add_argument("--systems", default="llvm,numpy,hand,torch",
                   help="comma-separated subset of llvm,numpy,hand,torch, and the LLVM backend's "
                        "variants (not peers): llvm-nodes (native_driver=False: one Python call "
                        "per node), llvm-blas (small_gemm=False: every product through OpenBLAS)")
    p.add_argument("--check", action="store_true",
                   help="first check that the peers compute the same losses and updates as ours")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # Before NumPy (and its OpenBLAS) and symbolic (its flags) are imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    flags = os.environ.get("SYMBOLIC_FLAGS", "")
    os.environ["SYMBOLIC_FLAGS"] = ",".join(f for f in (flags, f"threads={ARGS.threads}",
                                                        "floatX=float32") if f)

import numpy as np                                                         # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view                    # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import symbolic as S                                                       # noqa: E402
from nets.network import (ConvPoolLayer, FullyConnectedLayer, Network,     # noqa: E402
                          ReLU, SoftmaxLayer, sigmoid)

# name -> (description, layer specs, eta, lmbda).  A spec is ("conv", filters, channels,
# image side, activation) or ("fc", n_in, n_out, activation, p_dropout) or
# ("softmax", n_in, n_out, p_dropout); activations are "sigmoid" or "relu".
WORKLOADS = {
    "W1": ("FC 784-100 sigmoid + softmax",
           [("fc", 784, 100, "sigmoid", 0.0), ("softmax", 100, 10, 0.0)], 0.1, 0.0),
    "W2": ("conv 20 sigmoid + FC 100 sigmoid + softmax",
           [("conv", 20, 1, 28, "sigmoid"), ("fc", 20 * 12 * 12, 100, "sigmoid", 0.0),
            ("softmax", 100, 10, 0.0)], 0.1, 0.0),
    "W3": ("2 conv ReLU + FC 100 ReLU + softmax, L2 0.1",
           [("conv", 20, 1, 28, "relu"), ("conv", 40, 20, 12, "relu"),
            ("fc", 40 * 4 * 4, 100, "relu", 0.0), ("softmax", 100, 10, 0.0)], 0.03, 0.1),
    "W4": ("2 conv ReLU + 2 FC 1000 ReLU dropout + softmax dropout",
           [("conv", 20, 1, 28, "relu"), ("conv", 40, 20, 12, "relu"),
            ("fc", 40 * 4 * 4, 1000, "relu", 0.5), ("fc", 1000, 1000, "relu", 0.5),
            ("softmax", 1000, 10, 0.5)], 0.03, 0.0),
}
K, POOL = 5, 2   # every convolution here is 5x5 'valid' followed by 2x2 max pooling


def without_dropout(specs):
    return [s[:-1] + (0.0,) if s[0] in ("fc", "softmax") else s for s in specs]


def flops_per_example(specs):
    """Multiply-add FLOPs of one training step per example: 2*M*N*K per product, three
    products (forward, weight gradient, input gradient) per layer, two for the first."""
    total = 0
    for k, s in enumerate(specs):
        if s[0] == "conv":
            _, f, c, side, _ = s
            out = side - K + 1
            fwd = 2 * out * out * f * c * K * K
        else:
            fwd = 2 * s[1] * s[2]
        total += fwd * (2 if k == 0 else 3)
    return total


def random_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 784), dtype=np.float32),
            rng.integers(0, 10, size=n).astype(np.int32))


def gemm_gflops(n=1024, repeats=5):
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(2).standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------- ours (nets on symbolic)

def build_ours(specs, mb, data, eta, lmbda, linker, seed=0):
    """(train(i) -> cost, net): network3's training function on shared data."""
    np.random.seed(seed)                     # dropout streams are seeded from NumPy's generator
    rng = np.random.default_rng(seed)
    act = {"sigmoid": sigmoid, "relu": ReLU}
    layers = []
    for s in specs:
        if s[0] == "conv":
            _, f, c, side, a = s
            layers.append(ConvPoolLayer(filter_shape=(f, c, K, K), image_shape=(mb, c, side, side),
                                        poolsize=(POOL, POOL), activation_fn=act[a], rng=rng))
        elif s[0] == "fc":
            layers.append(FullyConnectedLayer(n_in=s[1], n_out=s[2], activation_fn=act[s[3]],
                                              p_dropout=s[4], rng=rng))
        else:
            layers.append(SoftmaxLayer(n_in=s[1], n_out=s[2], p_dropout=s[3]))
    net = Network(layers, mb)
    shared = (S.shared(data[0], name="data_x", borrow=True),
              S.shared(data[1], name="data_y", borrow=True))
    num_batches = len(data[0]) // mb
    cost = net.cost(lmbda, num_batches)
    grads = S.grad(cost, net.params)
    eta_shared = S.shared(np.float32(eta), name="eta")
    updates = [(p, p - eta_shared * g) for p, g in zip(net.params, grads)]
    i = S.lscalar("i")
    train = S.function([i], cost, updates=updates, givens=net._batch_givens(shared, i),
                       mode=S.Mode(linker=linker), name="train_mb")
    return train, net


# ---------------------------------------------------------------- hand-written NumPy

def _act(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    return 1 / (1 + np.exp(-z))


def _act_grad(name, z, a, da):
    if name == "relu":
        return da * (z > 0)
    return da * a * (1 - a)


class HandConvPool:
    """'valid' 5x5 convolution, 2x2 max pooling, bias, activation; NHWC activations.

    The weights are kept flipped (``wf = w[:, :, ::-1, ::-1]``, so the convolution is a
    cross-correlation): SGD on the flipped weights is SGD on the weights.
    """

    def __init__(self, w, b, act, need_dx):
        f, c, k, _ = w.shape
        self.wm = np.ascontiguousarray(w[:, :, ::-1, ::-1]).reshape(f, c * k * k)  # (F, C*k*k)
        self.b, self.act, self.need_dx, self.k = b.copy(), act, need_dx, k
        self.params = [self.wm, self.b]

    def weight(self):
        f = self.wm.shape[0]
        return self.wm.reshape(f, -1, self.k, self.k)[:, :, ::-1, ::-1]

    def forward(self, x, rng):
        bsz, h, w, c = x.shape
        k = self.k
        ho, wo = h - k + 1, w - k + 1
        self.x_shape = x.shape
        self.cols = sliding_window_view(x, (k, k), axis=(1, 2)).reshape(bsz * ho * wo, c * k * k)
        conv = (self.cols @ self.wm.T).reshape(bsz, ho // POOL, POOL, wo // POOL, POOL, -1)
        pooled = conv.max(axis=(2, 4))
        self.conv, self.pooled = conv, pooled
        self.z = pooled + self.b
        self.a = _act(self.act, self.z)
        return self.a

    def backward(self, da):
        dz = _act_grad(self.act, self.z, self.a, da)
        db = dz.sum(axis=(0, 1, 2))
        mask = self.conv == self.pooled[:, :, None, :, None, :]
        dconv = (mask * dz[:, :, None, :, None, :]).reshape(-1, self.wm.shape[0])
        dwm = dconv.T @ self.cols
        dx = None
        if self.need_dx:
            bsz, h, w, c = self.x_shape
            k = self.k
            ho, wo = h - k + 1, w - k + 1
            dcols = (dconv @ self.wm).reshape(bsz, ho, wo, c, k, k)
            dx = np.zeros(self.x_shape, dtype=dcols.dtype)
            for i in range(k):
                for j in range(k):
                    dx[:, i:i + ho, j:j + wo, :] += dcols[..., i, j]
        return dx, [dwm, db]


class HandFC:
    """``act(dropout(x) . w + b)``; a 4-d NHWC input is flattened in NCHW order."""

    def __init__(self, w, b, act, p_dropout):
        self.w, self.b, self.act, self.p = w.copy(), b.copy(), act, p_dropout
        self.params = [self.w, self.b]

    def weight(self):
        return self.w

    def forward(self, x, rng):
        self.in_shape = x.shape
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
        self.mask = None
        if self.p > 0:
            self.mask = rng.random(x.shape, dtype=np.float32) < (1 - self.p)
            x = x * self.mask
        self.x = x
        self.z = x @ self.w + self.b
        self.a = self.z if self.act is None else _act(self.act, self.z)
        return self.a

    def backward(self, da):
        dz = da if self.act is None else _act_grad(self.act, self.z, self.a, da)
        dw = self.x.T @ dz
        db = dz.sum(axis=0)
        dx = dz @ self.w.T
        if self.mask is not None:
            dx *= self.mask
        if len(self.in_shape) == 4:
            bsz, h, w, c = self.in_shape
            dx = dx.reshape(bsz, c, h, w).transpose(0, 2, 3, 1)
        return dx, [dw, db]


class HandNet:
    """The whole network: ``step(i)`` runs forward, backward and SGD on mini-batch ``i``."""

    def __init__(self, specs, weights, mb, data, eta, lmbda, seed=0):
        self.layers = []
        for k, (s, (w, b)) in enumerate(zip(specs, weights)):
            if s[0] == "conv":
                self.layers.append(HandConvPool(w, b, s[4], need_dx=k > 0))
            elif s[0] == "fc":
                self.layers.append(HandFC(w, b, s[3], s[4]))
            else:
                self.layers.append(HandFC(w, b, None, s[3]))
        self.mb, self.x, self.y = mb, data[0], data[1]
        self.eta, self.lmbda = np.float32(eta), lmbda
        self.l2 = np.float32(lmbda / (len(data[0]) // mb))     # lmbda / num_training_batches
        self.rng = np.random.default_rng(seed)
        self.side = specs[0][3] if specs[0][0] == "conv" else None

    def step(self, i):
        mb = self.mb
        a = self.x[i * mb:(i + 1) * mb]
        y = self.y[i * mb:(i + 1) * mb]
        if self.side is not None:
            a = a.reshape(mb, self.side, self.side, 1)           # NHWC with one channel
        for layer in self.layers:
            a = layer.forward(a, self.rng)
        z = a - a.max(axis=1, keepdims=True)                       # log-softmax
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        logp = z - np.log(s)
        rows = np.arange(mb)
        cost = -logp[rows, y].mean()
        if self.lmbda:
            cost = cost + 0.5 * self.l2 * sum(np.vdot(layer.params[0], layer.params[0])
                                              for layer in self.layers)
        dz = e / s
        dz[rows, y] -= 1
        dz /= np.float32(mb)
        grads = []
        for layer in reversed(self.layers):
            dz, g = layer.backward(dz)
            grads.append(g)
        for layer, g in zip(reversed(self.layers), grads):
            if self.lmbda:
                g[0] += self.l2 * layer.params[0]
            for p, gp in zip(layer.params, g):
                p -= self.eta * gp
        return cost

    def weights(self):
        return [(layer.weight(), layer.b) for layer in self.layers]


# ---------------------------------------------------------------- PyTorch eager

def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


class TorchNet:
    """The same network in PyTorch eager mode: autograd, then ``p -= eta * p.grad``.

    Convolution weights are kept flipped (``F.conv2d`` is a cross-correlation); dropout
    multiplies by a Bernoulli mask without rescaling, as network3 does.
    """

    def __init__(self, torch, specs, weights, mb, data, eta, lmbda, threads, seed=0):
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.torch, self.F = torch, torch.nn.functional
        self.specs, self.mb, self.eta, self.lmbda = specs, mb, eta, lmbda
        self.l2 = lmbda / (len(data[0]) // mb)
        self.x = torch.from_numpy(data[0])
        self.y = torch.from_numpy(data[1].astype(np.int64))
        self.params = []
        for s, (w, b) in zip(specs, weights):
            if s[0] == "conv":
                w = np.ascontiguousarray(w[:, :, ::-1, ::-1])
            self.params.append((torch.tensor(w, requires_grad=True),
                                torch.tensor(b, requires_grad=True)))
        self.side = specs[0][3] if specs[0][0] == "conv" else None

    def step(self, i):
        torch, F, mb = self.torch, self.F, self.mb
        a = self.x[i * mb:(i + 1) * mb]
        if self.side is not None:
            a = a.view(mb, 1, self.side, self.side)
        for s, (w, b) in zip(self.specs, self.params):
            if s[0] == "conv":
                z = F.max_pool2d(F.conv2d(a, w), POOL) + b.view(1, -1, 1, 1)
                a = torch.relu(z) if s[4] == "relu" else torch.sigmoid(z)
                continue
            a = a.reshape(mb, -1)
            p = s[-1]
            if p > 0:
                a = a * (torch.rand_like(a) < 1 - p).to(a.dtype)
            z = torch.addmm(b, a, w)
            if s[0] == "softmax":
                a = z
            else:
                a = torch.relu(z) if s[3] == "relu" else torch.sigmoid(z)
        cost = F.nll_loss(F.log_softmax(a, dim=1), self.y[i * mb:(i + 1) * mb])
        if self.lmbda:
            cost = cost + 0.5 * self.l2 * sum((w * w).sum() for w, _ in self.params)
        cost.backward()
        with torch.no_grad():
            for w, b in self.params:
                w.sub_(self.eta * w.grad)
                b.sub_(self.eta * b.grad)
                w.grad = b.grad = None
        return cost.detach()

    def weights(self):
        out = []
        for s, (w, b) in zip(self.specs, self.params):
            w = w.detach().numpy()
            out.append((w[:, :, ::-1, ::-1] if s[0] == "conv" else w, b.detach().numpy()))
        return out


# ---------------------------------------------------------------- checking and timing

def check(name, torch, threads):
    """Same losses for three steps and the same parameters after them, dropout off: both
    of our linkers, the hand-written NumPy network and torch, from the same weights."""
    _, specs, eta, lmbda = WORKLOADS[name]
    specs = without_dropout(specs)
    mb = 10
    data = random_data(mb * 4, seed=1)
    runs = {}
    for linker in ("numpy", "llvm"):
        train, net = build_ours(specs, mb, data, eta, lmbda, linker, seed=1)
        weights = [(p.get_value(), q.get_value()) for p, q in zip(net.params[::2], net.params[1::2])]
        runs[f"ours-{linker}"] = ([float(train(i)) for i in range(3)],
                                  [p.get_value() for p in net.params])
    peers = {"numpy-hand": HandNet(specs, weights, mb, data, eta, lmbda)}
    if torch is not None:
        peers["torch"] = TorchNet(torch, specs, weights, mb, data, eta, lmbda, threads)
    for peer_name, peer in peers.items():
        runs[peer_name] = ([float(peer.step(i)) for i in range(3)],
                           [np.asarray(v) for pair in peer.weights() for v in pair])
    ours, ours_w = runs.pop("ours-numpy")
    for other, (costs, weights_after) in runs.items():
        np.testing.assert_allclose(costs, ours, rtol=2e-4, atol=1e-5,
                                   err_msg=f"{name}: {other} losses differ from ours-numpy")
        for k, (a, b) in enumerate(zip(weights_after, ours_w)):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5,
                                       err_msg=f"{name}: {other} parameter {k} after 3 steps")
    print(f"check {name}: losses {', '.join(f'{c:.5f}' for c in ours)} (ours-numpy) agree with "
          f"{', '.join(runs)}; so do the parameters after 3 steps")


def throughput(steppers, num_batches, mb, steps, repeats, warmup=3, synchronize=None, between=None):
    """Examples/s of each ``step(i)`` in ``steppers``, the median of ``repeats`` timed runs
    of ``steps`` steps.  The systems take turns run by run, so a burst of load from other
    work on the machine falls on all of them rather than on one.  ``synchronize()`` (a GPU:
    wait for the queued work) ends the warm-up and every timed run; ``between()`` runs
    after each round of turns, untimed."""
    sync = synchronize or (lambda: None)
    for step in steppers.values():
        for k in range(warmup):
            step(k % num_batches)
    sync()
    runs = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step in steppers.items():
            t = time.perf_counter()
            for k in range(steps):
                step(k % num_batches)
            sync()
            runs[name].append(time.perf_counter() - t)
        if between is not None:
            between()
    return {name: steps * mb / sorted(r)[len(r) // 2] for name, r in runs.items()}


# the LLVM backend with a flag changed, to show what the flag's feature brings
VARIANTS = {"llvm-nodes": {"native_driver": False}, "llvm-blas": {"small_gemm": False}}


def measure(name, mb, systems, steps, repeats, torch, threads):
    _, specs, eta, lmbda = WORKLOADS[name]
    num_batches = max(4, min(steps, 50))
    data = random_data(num_batches * mb)
    steppers, weights = {}, None
    for linker in ("llvm", "numpy"):
        if linker in systems:
            steppers[linker], net = build_ours(specs, mb, data, eta, lmbda, linker)
            weights = [(p.get_value(), q.get_value()) for p, q in zip(net.params[::2], net.params[1::2])]
    for variant, flags in VARIANTS.items():
        if variant in systems:
            with S.config.change_flags(**flags):
                steppers[variant], _ = build_ours(specs, mb, data, eta, lmbda, "llvm")
                steppers[variant](0)          # plans the call under the flags
    if weights is None:
        _, net = build_ours(specs, mb, data, eta, lmbda, "numpy")   # only for the initial weights
        weights = [(p.get_value(), q.get_value()) for p, q in zip(net.params[::2], net.params[1::2])]
    if "hand" in systems:
        steppers["hand"] = HandNet(specs, weights, mb, data, eta, lmbda).step
    if "torch" in systems and torch is not None:
        steppers["torch"] = TorchNet(torch, specs, weights, mb, data, eta, lmbda, threads).step
    gemm = []                  # the GEMM rate, timed between the rounds of turns
    rates = throughput(steppers, num_batches, mb, steps, repeats,
                       between=lambda: gemm.append(gemm_gflops(repeats=2)))
    return rates, sorted(gemm)[len(gemm) // 2]          # the median, as for the systems


def fmt(v):
    return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def main(args):
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        sys.exit(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    systems = {s.strip() for s in args.systems.split(",")}
    torch = torch_or_none() if "torch" in systems else None
    if "torch" in systems and torch is None:
        print("note: PyTorch is not installed (import torch failed): its column is skipped")
    gemm = gemm_gflops()
    print(f"threads={args.threads}, float32; NumPy {np.__version__}"
          + (f", PyTorch {torch.__version__}" if torch is not None else "")
          + f"; 1024^3 float32 NumPy matmul: {gemm:.1f} GFLOP/s (at the start; each row's "
          "% of GEMM uses the median of such matmuls timed between that row's rounds of runs)")
    for name in names:
        print(f"  {name}: {WORKLOADS[name][0]}, "
              f"{flops_per_example(WORKLOADS[name][1]) / 1e6:.2f} MFLOP per example per step")
    if args.check:
        for name in names:
            check(name, torch, args.threads)
    variants = [v for v in VARIANTS if v in systems]
    header = (f"{'workload':<8} {'mb':>4} {'steps':>5} {'ours-llvm':>10} "
              + "".join(f"{v:>10} " for v in variants)
              + f"{'ours-numpy':>10} {'numpy-hand':>10} {'torch':>10} {'llvm/best peer':>14} "
              f"{'llvm GFLOP/s':>12} {'GEMM GFLOP/s':>12} {'% of GEMM':>9}")
    print("\ntraining throughput, examples/s (median of "
          f"{args.repeats} runs; higher is better)")
    print(header)
    for mb in batch_sizes:
        steps = args.steps or max(8, 1000 // mb)
        for name in names:
            r, gemm = measure(name, mb, systems, steps, args.repeats, torch, args.threads)
            peers = [r[k] for k in ("numpy", "hand", "torch") if k in r]
            llvm = r.get("llvm")
            ratio = f"{llvm / max(peers):.2f}x" if llvm and peers else "-"
            gflops = llvm * flops_per_example(WORKLOADS[name][1]) / 1e9 if llvm else None
            print(f"{name:<8} {mb:>4} {steps:>5} {fmt(llvm):>10} "
                  + "".join(f"{fmt(r.get(v)):>10} " for v in variants)
                  + f"{fmt(r.get('numpy')):>10} "
                  f"{fmt(r.get('hand')):>10} {fmt(r.get('torch')):>10} {ratio:>14} "
                  f"{fmt(gflops) if gflops else '-':>12} {gemm:>12.1f} "
                  f"{f'{100 * gflops / gemm:.0f}%' if gflops else '-':>9}", flush=True)


if __name__ == "__main__":
    main(ARGS)
