"""The autodiff tape: backward closures recorded during a training forward.

A training-mode forward of a top-level module opens a :class:`Tape`; every
primitive layer called inside it (``Linear``, activations, dropout, ...)
pushes one closure ``grad_out -> grad_in`` that holds just what its backward
needs. ``Module.backward`` pops the closures in reverse order. Nothing is
recorded in eval mode or under :func:`no_grad`, so no activation stays alive.

The tape is a chain: each closure's input gradient is the next closure's
output gradient, which covers feed-forward stacks (a layer may appear several
times). Branching graphs (residual sums) are not expressed by this tape.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

Backprop = Callable[[np.ndarray], np.ndarray]
F = TypeVar("F", bound=Callable[..., object])

_state = threading.local()


class Tape:
    """An ordered list of backward closures for one forward pass."""

    __slots__ = ("_closures",)

    def __init__(self) -> None:
        self._closures: list[Backprop] = []

    def record(self, backprop: Backprop) -> None:
        """Append the backward closure of one primitive call."""
        self._closures.append(backprop)

    def __len__(self) -> int:
        return len(self._closures)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Run the closures in reverse, emptying the tape; return the input gradient."""
        while self._closures:
            grad = self._closures.pop()(grad)
        return grad


def grad_enabled() -> bool:
    """False inside :func:`no_grad`."""
    return getattr(_state, "enabled", True)


def active_tape() -> Tape | None:
    """The tape being recorded on this thread, if any."""
    return getattr(_state, "tape", None)


def record(backprop: Backprop) -> None:
    """Record ``backprop`` on the active tape, if one is recording."""
    tape = getattr(_state, "tape", None)
    if tape is not None and grad_enabled():
        tape.record(backprop)


@contextlib.contextmanager
def recording(tape: Tape | None) -> Iterator[None]:
    """Make ``tape`` the active tape for the duration of the block."""
    previous = getattr(_state, "tape", None)
    _state.tape = tape
    try:
        yield
    finally:
        _state.tape = previous


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) under which forwards record no backward.

    Examples
    --------
    >>> import numpy as np
    >>> import numbadrop
    >>> from numbadrop import nn
    >>> layer = nn.Linear(3, 2)
    >>> with numbadrop.no_grad():
    ...     y = layer(np.ones((1, 3), np.float32))
    >>> layer.backward(np.ones((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    RuntimeError: Linear.backward() needs a training-mode forward first (none recorded, or already used)
    """

    def __enter__(self) -> no_grad:
        self._previous = grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous


def primitive(forward: F) -> F:
    """Decorator for ``forward(self, x) -> (y, backprop)`` of a primitive layer.

    The wrapped forward returns ``y`` and records ``backprop`` (unless it is
    ``None``) on the active tape, wrapped so that a gradient of the wrong
    shape raises ``ValueError``.
    """

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        y, backprop = forward(self, *args, **kwargs)
        if backprop is not None and active_tape() is not None and grad_enabled():
            record(_checked(backprop, np.shape(y), type(self).__name__))
        return y

    return wrapper  # type: ignore[return-value]


def _checked(backprop: Backprop, shape: tuple[int, ...], owner: str) -> Backprop:
    def checked(grad: np.ndarray) -> np.ndarray:
        if np.shape(grad) != shape:
            raise ValueError(f"{owner} backward: gradient has shape {np.shape(grad)}, expected {shape}")
        return backprop(grad)

    return checked
