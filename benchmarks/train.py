"""Benchmark: one training epoch of an MLP, refquant (NumPy, hand-written backward) vs torch (CPU).

Two networks, the same optimizer (Adam, lr 1e-3) and loss (softmax
cross-entropy), float32; torch runs on 2 threads, NumPy's BLAS on its own
default (set ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` to match them):

* the demo MLP 64-128-128-10 on the bundled digits (1,438 rows, batch 32);
* a 784-1024-1024-10 MLP on synthetic data (8,192 rows, batch 128).

Printed as times and ratios measured in one run; nothing asserts a timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from refquant.datasets import load_digits
from refquant.nn.mlp import init_mlp
from refquant.nn.train import Model, train
from refquant.recipes.demo import SIZES

REPEAT = 3


def refquant_epoch(sizes, x, y, batch):
    rng = np.random.default_rng(0)
    model = Model(init_mlp(sizes, rng=rng))
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        model, _ = train(model, x, y, epochs=1, batch_size=batch, rng=rng, lr=1e-3)
        best = min(best, time.perf_counter() - t0)
    return best


def torch_epoch(torch, sizes, x, y, batch):
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        order = torch.randperm(len(tx), generator=gen)
        for i in range(0, len(tx), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    d = load_digits()
    rng = np.random.default_rng(1)
    xs = rng.random((8192, 784), dtype=np.float32)
    ys = rng.integers(0, 10, 8192)
    cases = [
        ("digits MLP 64-128-128-10, batch 32", SIZES, d.x_train, d.y_train, 32),
        ("synthetic MLP 784-1024-1024-10, batch 128", (784, 1024, 1024, 10), xs, ys, 128),
    ]
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    print(f"{'one training epoch (Adam, float32)':<45} {'refquant s':>11} {'torch s':>9} {'ratio':>7}")
    for name, sizes, x, y, batch in cases:
        ours = refquant_epoch(sizes, x, y, batch)
        theirs = torch_epoch(torch, sizes, x, y.astype(np.int64), batch) if torch else float("nan")
        print(f"{name:<45} {ours:>11.3f} {theirs:>9.3f} {ours / theirs:>7.2f}")
    print("ratio: refquant time / torch time (target <= 1.0); torch threads = 2")


if __name__ == "__main__":
    main()
