"""A shuffled training loop over ``exzarr.batches``: logistic regression in NumPy on data stored in exzarr.

    python examples/training_loop.py [--small] [--epochs N] [--dir D]

Writes a synthetic binary classification set (features ``n x d`` float32 and 0/1 labels, chunked
along the rows, zstd) to a local store, then trains a logistic regression with mini-batch gradient
descent: each epoch is one pass of ``exzarr.batches((x, y), batch_size, shuffle=True, seed=s)``,
which reads each chunk once, mixes rows of several chunks in every batch and reads the next
batches in a background thread while the current one trains. Prints the loss and accuracy per
epoch (the loss goes down) and exits non-zero if it did not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import exzarr


def write_dataset(root: Path, n: int, d: int, chunk_rows: int, seed: int = 0) -> tuple[exzarr.Array, exzarr.Array]:
    """Features from a standard normal, labels from a hidden linear rule with some noise."""
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(d).astype("float32")
    x = exzarr.create(str(root / "features"), shape=(n, d), chunks=(chunk_rows, d), dtype="float32", compressor="zstd")
    y = exzarr.create(str(root / "labels"), shape=(n,), chunks=(chunk_rows,), dtype="uint8", compressor="zstd")
    for r0 in range(0, n, chunk_rows * 4):
        r1 = min(n, r0 + chunk_rows * 4)
        xs = rng.standard_normal((r1 - r0, d), dtype="float32")
        logits = xs @ w_true + 0.5 * rng.standard_normal(r1 - r0).astype("float32")
        x[r0:r1] = xs
        y[r0:r1] = (logits > 0).astype("uint8")
    return exzarr.open(str(root / "features")), exzarr.open(str(root / "labels"))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def train(x: exzarr.Array, y: exzarr.Array, epochs: int, batch_size: int, lr: float, seed: int = 0) -> list[float]:
    """Mini-batch gradient descent on the logistic loss; returns the mean loss of each epoch."""
    d = x.shape[1]
    w = np.zeros(d, dtype="float64")
    b = 0.0
    data = exzarr.batches((x, y), batch_size=batch_size, shuffle=True, seed=seed)
    losses = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        total, correct, rows = 0.0, 0, 0
        for xb, yb in data:  # each iteration of `data` is the next epoch, in a new shuffled order
            xb = xb.astype("float64")
            p = sigmoid(xb @ w + b)
            t = yb.astype("float64")
            eps = 1e-12
            total += float(-(t * np.log(p + eps) + (1 - t) * np.log(1 - p + eps)).sum())
            correct += int(((p > 0.5) == (t > 0.5)).sum())
            rows += len(yb)
            grad = p - t
            w -= lr * (xb.T @ grad) / len(yb)
            b -= lr * float(grad.mean())
        losses.append(total / rows)
        print(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}  accuracy {correct / rows:.3f}  "
              f"({rows} rows, {len(data)} batches, {time.perf_counter() - t0:.2f} s)")  # fmt: skip
    return losses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="shuffled training loop over exzarr.batches")
    p.add_argument("--small", action="store_true", help="a small data set (a few seconds)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--dir", type=Path, default=None, help="where to write the data (default: a temporary directory)")
    args = p.parse_args(argv)
    n, d, chunk_rows, batch_size = (4_000, 16, 500, 64) if args.small else (200_000, 32, 4096, 256)
    epochs = args.epochs or (4 if args.small else 5)
    with tempfile.TemporaryDirectory(prefix="exzarr-train-") as tmp:
        root = (args.dir or Path(tmp)) / "train.zarr"
        x, y = write_dataset(root, n, d, chunk_rows)
        print(f"data: features {x.shape} {x.dtype} in chunks {x.chunks}, labels {y.shape} {y.dtype}, at {root}")
        losses = train(x, y, epochs, batch_size, lr=0.5)
    if not losses[-1] < losses[0]:
        print(f"the loss did not go down: {losses}", file=sys.stderr)
        return 1
    print(f"loss went down: {losses[0]:.4f} -> {losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
