"""``python -m numbadrop``: a short demo of the seed tutorial's Examples 1 and 5."""

from __future__ import annotations

import numpy as np

import numbadrop
from numbadrop import nn


def main() -> None:
    """Print dropout outputs (Example 1) and keep rates for several p (Example 5)."""
    print(f"numbadrop {numbadrop.__version__}: Philox4x32-10 dropout on NumPy arrays\n")
    print("Example 1: basic usage, nn.Dropout(p=0.5, rng=0) on ones(1, 10)")
    dropout = nn.Dropout(p=0.5, rng=0)
    dropout.train()
    x = np.ones((1, 10), np.float32)
    print("Input:   ", x.squeeze().tolist())
    for i in range(3):
        print(f"Output {i + 1}:", dropout(x).squeeze().tolist())

    print("\nExample 5: keep rate for different p (100 passes over 1000 ones)")
    for p in (0.1, 0.3, 0.5, 0.7):
        layer = nn.Dropout(p=p, rng=1)
        active = sum(int(np.count_nonzero(layer(np.ones(1000, np.float32)))) for _ in range(100))
        print(f"p={p} - Average activation ratio: {active / 100 / 1000:.2%} (Expected: {1 - p:.2%})")


if __name__ == "__main__":
    main()
