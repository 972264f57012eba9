"""The front door's shared steps: validate the flags, draw from ``rng``, record on the graph, ``out=`` rules.

Every public function of the family (:mod:`numbadrop.ops.dropout`,
:mod:`numbadrop.ops.dropblock`, :mod:`numbadrop.ops.gaussian`) runs these in
the same order: validate everything, then draw once from ``rng``, then hand
the array to its backend; a recorded value (:mod:`numbadrop.autograd`) is
recorded as one node whose backward regenerates the mask.
"""

from __future__ import annotations

import numpy as np

from numbadrop import backends
from numbadrop._core.validation import check_bool, check_p
from numbadrop.autograd.primitive import primitive
from numbadrop.autograd.tensor import is_recorded
from numbadrop.random import RngLike, check_rng, seed_offset


def recorded(run, x, name: str, return_state: bool):
    """``run(plain x) -> (y, state)`` recorded on the graph: its backward regenerates the mask."""
    states = []

    def forward(value: np.ndarray) -> tuple[np.ndarray, object]:
        y, state = run(value)
        states.append(state)
        return y, (None if state.kind == "identity" else state.backward)

    forward.__name__ = name
    y = primitive(forward)(x)
    return (y, states[0]) if return_state else y


def check_call(p: object, training: object, return_state: object, rng: object) -> tuple[float, bool, bool]:
    """Validate the arguments every forward takes (the NumPy and Dask APIs alike)."""
    p = check_p(p)
    return (p, *check_flags(training, return_state, rng))


def check_flags(training: object, return_state: object, rng: object) -> tuple[bool, bool]:
    """``(training, return_state)`` validated, and ``rng``: the forwards' arguments besides the rate."""
    training = check_bool(training, "training")
    return_state = check_bool(return_state, "return_state")
    check_rng(rng)
    return training, return_state


def draw(rng: RngLike, training: bool) -> tuple[int, int]:
    """``(seed, offset)`` of one forward call.

    A training-mode call draws once from ``rng`` whatever ``p`` is, so a
    layer's k-th training forward always uses offset k of its generator; an
    eval-mode call draws nothing.
    """
    return seed_offset(rng) if training else (0, 0)


def check_out(out: object, x, name: str, backend, inplace: bool) -> tuple[bool, object]:
    """``(inplace, out)`` after NumPy's rules for ``out=``; ``out`` being ``x`` itself is the in-place case."""
    if out is None:
        return inplace, None
    if out is x:
        return True, None
    if inplace:
        raise ValueError("give inplace=True or out=, not both (out=x is the in-place call)")
    array_like = isinstance(out, np.ndarray) or (not isinstance(x, np.ndarray) and hasattr(out, "shape"))
    if (
        not array_like
        or backends.backend_of(out) is not backend
        or is_recorded(out)
        or isinstance(out, np.ma.MaskedArray)
    ):
        raise TypeError(
            f"out must be an array of the same kind as {name} ({type(x).__name__}), got {type(out).__name__}"
        )
    if isinstance(x, np.ma.MaskedArray) or not hasattr(backend, "apply_into"):
        raise TypeError(f"out= is not supported for {type(x).__module__}.{type(x).__name__} inputs")
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {name}'s shape {tuple(x.shape)}")
    dtype_of = getattr(backend, "dtype", None) or (lambda a: a.dtype)  # a DataFrame has dtypes, not a dtype
    if dtype_of(out) != dtype_of(x):
        raise TypeError(f"out has dtype {dtype_of(out)}, expected {name}'s dtype {dtype_of(x)} (out= does not cast)")
    backend.check_inplace(out, "out")
    return False, out


def refuse_out(out: object) -> None:
    if out is not None:
        raise TypeError(
            "out= does not record gradients, and the input is a recorded value: "
            "drop out= (or compute under numbadrop.no_grad())"
        )


def copy_into(backend, x, out):
    """``out[...] = x`` on ``x``'s device: the pass-through (eval mode, ``p = 0``) of a call with ``out=``."""
    return backend.apply_into(x, "dropout", 0.0, 0, 0, (), out)  # p = 0 keeps every element, scaled by exactly 1
