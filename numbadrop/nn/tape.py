"""The names the layers are written with: ``primitive``, ``no_grad`` and the per-call ``Tape``.

The graph itself lives in :mod:`numbadrop.autograd`; this module keeps the
names that earlier code imported from here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from numbadrop.autograd.graph import (
    Tape,
    active_tape,
    enable_grad,
    grad_enabled,
    is_recording,
    needs_input_grad,
    no_grad,
    recording,
)
from numbadrop.autograd.primitive import primitive

__all__ = [
    "Backprop",
    "Tape",
    "active_tape",
    "enable_grad",
    "grad_enabled",
    "is_recording",
    "needs_input_grad",
    "no_grad",
    "primitive",
    "record",
    "recording",
]

Backprop = Callable[[np.ndarray], np.ndarray]


def record(backprop: Backprop) -> None:
    """Append ``backprop`` to the active tape as the next link of a chain, if a tape is active."""
    tape = active_tape()
    if tape is not None and grad_enabled():
        tape.record(backprop)
