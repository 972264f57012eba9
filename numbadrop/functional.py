"""The dropout family: one public function per operation, for every array kind.

Every function validates its arguments, resolves ``rng`` to one
``(seed, offset)`` pair, and hands the array to the backend of its kind
(:mod:`numbadrop.backends`: NumPy, GPU, torch, Dask), which runs one kernel
pass (or, for Dask, returns a lazy graph of them). With ``return_state=True``
it also returns a state, a few dozen bytes from which ``state.backward``
regenerates the mask, for a gradient of any kind. The functions live in
:mod:`numbadrop.ops`, one module per family; this module is their public home.
"""

from __future__ import annotations

from numbadrop.ops.dropblock import DropBlockState, drop_block2d, drop_block3d
from numbadrop.ops.dropout import (
    DropoutState,
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    stochastic_depth,
)
from numbadrop.ops.gaussian import GaussianState, gaussian_dropout, gaussian_noise
from numbadrop.ops.mask import dropout_mask

__all__ = [
    "DropBlockState",
    "DropoutState",
    "GaussianState",
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "dropout_mask",
    "drop_block2d",
    "drop_block3d",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_noise",
    "stochastic_depth",
]
