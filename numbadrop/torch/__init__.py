"""``torch.nn.Module`` drop-ins whose masks follow numbadrop's contract.

Each module takes torch's (or torchvision's) arguments plus ``rng=`` and
calls the numbadrop function of the same name, which records one node into
torch's autograd graph (:mod:`numbadrop.ops.torch_autograd`): the backward
regenerates the mask, so nothing is kept for it. The same ``rng`` gives the
same masks on every run, thread count and device (CPU or CUDA).

Importing this module imports torch; without torch it raises ImportError
naming the missing package.

Examples
--------
>>> import torch
>>> from numbadrop.torch import Dropout
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), Dropout(0.5, rng=0))
>>> model(torch.ones(2, 4)).shape
torch.Size([2, 8])
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "numbadrop.torch needs the 'torch' package (PyTorch), which is not installed: pip install torch"
    ) from error

from numbadrop.torch.modules import (
    AlphaDropout,
    DropBlock2d,
    DropBlock3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    GaussianDropout,
    GaussianNoise,
    StochasticDepth,
)

__all__ = [
    "AlphaDropout",
    "DropBlock2d",
    "DropBlock3d",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "StochasticDepth",
]
