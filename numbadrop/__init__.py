"""numbadrop: fast, exact, reproducible dropout for NumPy arrays.

Every mask follows one public contract (counter-based Philox4x32-10), so the
same seed gives the same mask on any thread count, strides or chunking.
"""

from numbadrop import autograd, nn, optim  # noqa: F401  (subpackages as attributes, like torch.nn and torch.optim)
from numbadrop.functional import (
    DropBlockState,
    DropoutState,
    GaussianState,
    alpha_dropout,
    drop_block2d,
    drop_block3d,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    dropout_mask,
    feature_alpha_dropout,
    gaussian_dropout,
    gaussian_noise,
    stochastic_depth,
)
from numbadrop.nn.tape import no_grad
from numbadrop.random import Generator, manual_seed

__version__ = "0.1.0"

__all__ = [
    "DropBlockState",
    "DropoutState",
    "GaussianState",
    "Generator",
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "drop_block2d",
    "drop_block3d",
    "dropout_mask",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_noise",
    "stochastic_depth",
    "manual_seed",
    "no_grad",
]
