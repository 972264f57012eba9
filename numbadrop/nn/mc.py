"""Monte Carlo dropout: dropout kept active at inference for predictive uncertainty."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from numbadrop.nn.dropout import _DropoutNd
from numbadrop.nn.module import Module
from numbadrop.nn.tape import no_grad

__all__ = ["mc_dropout", "mc_predict"]


@contextlib.contextmanager
def mc_dropout(model: Module) -> Iterator[Module]:
    """Put ``model`` in eval mode but keep its dropout layers sampling.

    Every module's mode is restored on exit. Forwards inside record nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> model = nn.Sequential(nn.Linear(4, 16, rng=0), nn.ReLU(), nn.Dropout(0.5, rng=1), nn.Linear(16, 1, rng=2))
    >>> x = np.ones((1, 4), np.float32)
    >>> with nn.mc_dropout(model):
    ...     samples = np.stack([model(x) for _ in range(20)])
    >>> bool(samples.std() > 0), model.training
    (True, True)
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    for module in model.modules():
        if isinstance(module, _DropoutNd):
            module.train()
    try:
        with no_grad():
            yield model
    finally:
        for module, mode in modes:
            module.train(mode)


def mc_predict(model: Module, x: np.ndarray, n_samples: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``n_samples`` MC-dropout forwards of ``x``.

    Parameters
    ----------
    model : Module
        The network (its dropout layers draw a new mask each pass).
    x : numpy.ndarray
        Input batch.
    n_samples : int, default 30
        Number of stochastic passes ``T``.

    Returns
    -------
    mean, std : numpy.ndarray
        Elementwise over the ``T`` outputs.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    with mc_dropout(model):
        outputs = np.stack([model(x) for _ in range(int(n_samples))])
    # Moments of the deviations from the first sample: identical samples (p = 0)
    # give exactly their value and a std of exactly 0, which a rounded mean does not.
    deviations = outputs - outputs[0]
    return outputs[0] + deviations.mean(axis=0), deviations.std(axis=0)
