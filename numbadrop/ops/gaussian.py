"""Gaussian dropout and Gaussian noise (Keras semantics) under the contract's normal variates.

``gaussian_dropout`` multiplies each element by ``1 + s*z_j``,
``s = sqrt(p / (1 - p))``; ``gaussian_noise`` adds ``stddev * z_j``; ``z_j``
is the contract's standard normal variate of element ``j`` (docs/contract.rst,
"Normal variates"), a pure function of ``(seed, offset, j)``. A forward keeps
O(1) bytes of state (:class:`GaussianState`); the backward redraws ``z``.

Array kinds: NumPy arrays (any strides, byte order and subclass, masked
arrays keep their mask), torch CPU tensors, GPU arrays
(``__cuda_array_interface__``) and Dask arrays (lazy, bit-identical for every
chunking), through the backend of their kind like the dropout family: the
two operations are ops of every backend's ``apply``, which ends in
:func:`numbadrop.kernels.cpu.gaussian.launch` or
:func:`numbadrop.kernels.cuda.gaussian.launch`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Union

import numpy as np

from numbadrop import backends
from numbadrop._core.validation import check_bool, check_p, check_same_shape
from numbadrop.autograd.tensor import bump, is_recorded
from numbadrop.ops import torch_autograd
from numbadrop.ops._front import check_flags, draw, recorded
from numbadrop.random import RngLike

__all__ = ["GaussianState", "gaussian_dropout", "gaussian_noise"]

#: The two operations: ``y = x * (1 + a*z)`` and ``y = x + a*z``.
MULTIPLY = "gaussian_dropout"
ADD = "gaussian_noise"


@dataclass(frozen=True)
class GaussianState:
    """What a Gaussian dropout or noise forward keeps for its backward: how to redraw ``z``.

    Attributes
    ----------
    kind : {"gaussian_dropout", "gaussian_noise", "identity"}
        The forward that ran (``"identity"``: eval mode, ``p = 0`` or ``stddev = 0``).
    rate : float
        ``p`` (Gaussian dropout) or ``stddev`` (Gaussian noise).
    seed, offset : int
        The variates' Philox key and stream offset.
    shape : tuple of int
        Shape of the forward input (and of the gradient ``backward`` takes).
    """

    kind: str
    rate: float
    seed: int
    offset: int
    shape: tuple[int, ...]

    @property
    def scale(self) -> float:
        """The noise's multiplier ``a``: ``sqrt(p / (1 - p))`` or ``stddev``."""
        return _scale(self.kind, self.rate)

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Gradient with respect to the forward's input.

        Parameters
        ----------
        grad : array
            Gradient with respect to the forward's output (same shape; any
            array kind the forwards take).
        inplace : bool, default False
            Write the result into ``grad``.

        Returns
        -------
        array
            ``grad * (1 + s*z)`` (the forward's factor, redrawn, in the same
            compute type) for Gaussian dropout; ``grad`` itself for Gaussian
            noise and pass-through forwards.
        """
        backend = backends.backend_of(grad)
        grad = backends.check_array(grad, "grad", inplace)
        check_same_shape(grad, self.shape)
        inplace = check_bool(inplace, "inplace")
        if self.kind != MULTIPLY:
            return grad
        if is_recorded(grad):  # linear in grad: its own backward is itself
            return recorded(lambda g: (self.backward(g, inplace), self), grad, "gaussian_dropout_backward", False)
        if inplace:
            backend.check_inplace(grad, "grad")
        return _apply(grad, backend, MULTIPLY, self.scale, self.seed, self.offset, inplace)


Output = Union[np.ndarray, tuple[np.ndarray, GaussianState]]


def _check_stddev(stddev: object) -> float:
    if isinstance(stddev, (bool, np.bool_)) or not isinstance(stddev, numbers.Real):
        raise TypeError(f"stddev must be a real number >= 0, got {stddev!r} ({type(stddev).__name__})")
    value = float(stddev)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"stddev must be a finite number >= 0, got {stddev!r}")
    return value


def _check_rate(p: object) -> float:
    value = check_p(p)
    if value == 1.0:
        raise ValueError(
            f"p must be in [0, 1) for gaussian_dropout (the noise std sqrt(p/(1-p)) is infinite), got {p!r}"
        )
    return value


def _scale(kind: str, rate: float) -> float:
    """The contract's noise multiplier: ``sigma = sqrt(p / (1 - p))`` (float64 operations) or ``stddev``."""
    return math.sqrt(rate / (1.0 - rate)) if kind == MULTIPLY else rate


def _run(x, kind: str, rate: float, training: object, inplace: object, rng: RngLike, return_state: object) -> Output:
    """Shared body of both forwards: ``x`` and ``rate`` are already checked."""
    if is_recorded(x):
        return recorded(lambda v: _run(v, kind, rate, training, inplace, rng, True), x, kind, return_state)
    if torch_autograd.wants_grad(x):  # one node of torch's graph, whose backward redraws the noise
        inplace = check_bool(inplace, "inplace")
        run = lambda v: _run(v, kind, rate, training, inplace, rng, True)  # noqa: E731
        return torch_autograd.record(run, x, kind, inplace, return_state)
    backend = backends.backend_of(x)
    training, return_state = check_flags(training, return_state, rng)
    inplace = check_bool(inplace, "inplace")
    shape = tuple(x.shape)
    if inplace:
        backend.check_inplace(x, "x")
        bump(x)  # a write the graph does not record (no_grad)
    seed, offset = draw(rng, training)
    if not training or rate == 0.0:
        y, kind, seed, offset = x, "identity", 0, 0
    else:
        y = _apply(x, backend, kind, _scale(kind, rate), seed, offset, inplace)
    return (y, GaussianState(kind, rate, seed, offset, shape)) if return_state else y


def gaussian_dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Multiply each element by Gaussian noise of mean 1 and standard deviation ``sqrt(p/(1-p))``.

    Keras' ``GaussianDropout(rate=p)``: ``y = x * (1 + sqrt(p/(1-p)) * z)``,
    ``z`` the contract's standard normal variate of each element (a pure
    function of ``(seed, offset, index)``, identical on the CPU, the GPU and
    under Dask; see the contract page, "Normal variates").

    Parameters
    ----------
    x : numpy.ndarray, GPU array, torch.Tensor or dask.array.Array
        float16, float32, float64 or bfloat16 array of any shape and strides
        (computed in float32 for 2- and 4-byte floats, float64 for float64).
    p : float, default 0.5
        Drop rate in ``[0, 1)``; ``p = 0`` returns ``x``.
    training : bool, default True
        If False, return ``x`` itself.
    inplace : bool, default False
        Write the result into ``x`` (which must be writeable; not Dask).
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        Source of the noise (see :func:`numbadrop.random.seed_offset`).
    return_state : bool, default False
        Also return a :class:`GaussianState` for the backward pass.

    Returns
    -------
    y : array
        ``x``'s shape, dtype and kind (C order unless in place).
    state : GaussianState
        Only with ``return_state=True``; ``state.backward(g)`` is
        ``g * (1 + s*z)`` with the same ``z``.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.ones(1_000_000, np.float32)
    >>> y = nd.gaussian_dropout(x, 0.2, rng=0)  # std sqrt(0.2 / 0.8) = 0.5
    >>> round(float(y.mean()), 2), round(float(y.std()), 2)
    (1.0, 0.5)
    >>> y2, state = nd.gaussian_dropout(x, 0.2, rng=0, return_state=True)
    >>> bool((y2 == y).all()), bool((state.backward(x) == y).all())
    (True, True)
    """
    x = backends.check_array(x, "x", inplace)
    return _run(x, MULTIPLY, _check_rate(p), training, inplace, rng, return_state)


def gaussian_noise(
    x: np.ndarray,
    stddev: float,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` to each element.

    Keras' ``GaussianNoise(stddev)``: ``y = x + stddev * z`` with the
    contract's standard normal variates ``z`` (those of
    :func:`gaussian_dropout` for the same seed and offset). The gradient is
    the identity.

    Parameters
    ----------
    x : numpy.ndarray, GPU array, torch.Tensor or dask.array.Array
        As in :func:`gaussian_dropout`.
    stddev : float
        Finite and ``>= 0``; ``0`` returns ``x``.
    training, inplace, rng, return_state
        As in :func:`gaussian_dropout`.

    Returns
    -------
    y : array
        ``x``'s shape, dtype and kind.
    state : GaussianState
        Only with ``return_state=True``.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> y = nd.gaussian_noise(np.zeros(1_000_000), 0.1, rng=0)
    >>> round(float(y.mean()), 3), round(float(y.std()), 3)
    (0.0, 0.1)
    >>> z = nd.gaussian_noise(np.zeros(4), 1.0, rng=0)  # the variates themselves
    >>> bool((nd.gaussian_dropout(np.ones(4), 0.5, rng=0) == 1 + z).all())
    True
    """
    x = backends.check_array(x, "x", inplace)
    return _run(x, ADD, _check_stddev(stddev), training, inplace, rng, return_state)


# --- per array kind ----------------------------------------------------------------------------


def _apply(x, backend, kind: str, a: float, seed: int, offset: int, inplace: bool):
    """``kind`` of ``x`` with noise multiplier ``a``, by ``x``'s backend (see :mod:`numbadrop.backends`)."""
    return backend.apply(x, kind, a, seed, offset, (), inplace)
