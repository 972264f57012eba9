"""Element, channel and alpha dropout and stochastic depth: one public function per operation, for every array kind.

Every function validates its arguments, resolves ``rng`` to one
``(seed, offset)`` pair, and hands the array to the backend of its kind
(:mod:`numbadrop.backends`: NumPy, GPU, torch, Dask), which runs one kernel
pass (or, for Dask, returns a lazy graph of them). With ``return_state=True``
it also returns a :class:`DropoutState`, a few dozen bytes from which
:meth:`DropoutState.backward` regenerates the mask, for a gradient of any kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from numbadrop import backends
from numbadrop._core.validation import check_bool, check_same_shape, normalize_axes
from numbadrop.autograd.tensor import bump, is_recorded
from numbadrop.backends import numpy as numpy_backend
from numbadrop.ops import torch_autograd
from numbadrop.ops._front import check_call, check_out, copy_into, draw, recorded, refuse_out
from numbadrop.random import RngLike

Output = Union[np.ndarray, tuple[np.ndarray, "DropoutState"]]


@dataclass(frozen=True)
class DropoutState:
    """What a forward pass keeps for its backward: no mask, only how to redraw it.

    Attributes
    ----------
    kind : {"dropout", "alpha", "identity", "zero"}
        The forward that ran: scaled dropout, alpha dropout, a pass-through
        (eval mode or ``p = 0``) or all zeros (``p = 1``).
    p : float
        Drop probability.
    seed, offset : int
        The mask's Philox key and stream offset.
    shape : tuple of int
        Shape of the forward input (and of the gradient ``backward`` takes).
    broadcast : tuple of int
        Axes along which the mask is shared (the mask has length 1 there).
    """

    kind: str
    p: float
    seed: int
    offset: int
    shape: tuple[int, ...]
    broadcast: tuple[int, ...] = ()

    def backward(self, grad: np.ndarray, inplace: bool = False, *, out: object = None) -> np.ndarray:
        """Gradient with respect to the forward's input.

        Parameters
        ----------
        grad : array
            Gradient with respect to the forward's output, of the same shape,
            of any kind the forwards take (NumPy, GPU, torch, Dask: the result
            is the same kind of array; a Dask ``grad`` gives a lazy result).
        inplace : bool, default False
            Write the result into ``grad``.
        out : array, optional
            Write the result into ``out`` and return it (NumPy's rules: see
            :func:`dropout`).

        Returns
        -------
        array
            ``grad * mask * scale`` for dropout, ``grad * mask * a`` for alpha
            dropout; ``grad`` itself for a pass-through forward (``out``
            holding a copy of it when given).
        """
        if type(grad) is np.ndarray and self.kind == "dropout" and not self.broadcast and inplace is False:
            if out is None and grad.shape == self.shape:  # the forward's short path, backwards
                dx = numpy_backend.small_backward(grad, self.p, self.seed, self.offset)
                if dx is not None:
                    return dx
        backend = backends.backend_of(grad)
        grad = backends.check_array(grad, "grad", inplace)
        check_same_shape(grad, self.shape)
        inplace = check_bool(inplace, "inplace")
        if is_recorded(grad):  # a backward that is itself differentiated: it is linear in grad
            refuse_out(out)
            return recorded(lambda g: (self.backward(g, inplace), self), grad, "dropout_backward", False)
        inplace, out = check_out(out, grad, "grad", backend, inplace)
        if inplace:
            backend.check_inplace(grad, "grad")
        if self.kind == "identity":
            return grad if out is None else copy_into(backend, grad, out)
        op = {"zero": "zero", "dropout": "dropout"}.get(self.kind, "alpha_grad")
        if out is not None:
            return backend.apply_into(grad, op, self.p, self.seed, self.offset, self.broadcast, out)
        return backend.apply(grad, op, self.p, self.seed, self.offset, self.broadcast, inplace)


def _feature_axes(x) -> tuple[int, ...]:
    """Broadcast axes of feature alpha dropout: all but ``(N, C)``."""
    if x.ndim < 2:
        raise ValueError(f"feature_alpha_dropout expects an (N, C, ...) input, got shape {x.shape}")
    return tuple(range(2, x.ndim))


def _run(x, p, training, inplace, rng, broadcast, return_state, kind, out=None) -> Output:
    """Shared body of every forward: ``x`` and ``broadcast`` are already checked."""
    if is_recorded(x):
        refuse_out(out)
        return recorded(lambda v: _run(v, p, training, inplace, rng, broadcast, True, kind), x, kind, return_state)
    if torch_autograd.wants_grad(x):  # one node of torch's graph, whose backward redraws the mask
        if out is not None:
            raise torch_autograd.out_refusal(kind)
        inplace = check_bool(inplace, "inplace")
        run = lambda v: _run(v, p, training, inplace, rng, broadcast, True, kind)  # noqa: E731
        return torch_autograd.record(run, x, kind, inplace, return_state)
    backend = backends.backend_of(x)
    shape = tuple(x.shape)
    p, training, return_state = check_call(p, training, return_state, rng)
    inplace = check_bool(inplace, "inplace")
    inplace, out = check_out(out, x, "x", backend, inplace)
    if inplace:
        backend.check_inplace(x, "x")
        bump(x)  # a write the graph does not record (no_grad): a pending backward that needs x must see it
    seed, offset = draw(rng, training)
    if not training or p == 0.0:
        y, state_kind = (x if out is None else copy_into(backend, x, out)), "identity"
        seed = offset = 0
    else:
        state_kind = "zero" if p == 1.0 else kind
        if out is None:
            y = backend.apply(x, state_kind, p, seed, offset, broadcast, inplace)
        else:
            y = backend.apply_into(x, state_kind, p, seed, offset, broadcast, out)
    if not return_state:
        return y
    return y, DropoutState(state_kind, p, seed, offset, shape, broadcast)


def dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    broadcast_dims: int | tuple[int, ...] = (),
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    Parameters
    ----------
    x : numpy.ndarray, GPU array, torch.Tensor or dask.array.Array
        float16, float32, float64 or bfloat16 array of any shape and strides
        (bfloat16: ``ml_dtypes.bfloat16`` or torch's, computed in float32 and
        rounded once, like float16). An array exposing
        ``__cuda_array_interface__`` (Numba device array, CuPy array, PyTorch
        CUDA tensor) is processed on its GPU, with the same mask, and the
        result is the same kind of array on the same device; a torch CPU
        tensor gives a torch tensor; a Dask array gives a lazy Dask array
        (``inplace`` must be False); a NumPy masked array keeps its mask.
    p : float, default 0.5
        Drop probability in ``[0, 1]``.
    training : bool, default True
        If False, return ``x`` itself.
    inplace : bool, default False
        Write the result into ``x`` (which must be writeable).
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        Source of the mask (see :func:`numbadrop.random.seed_offset`).
    broadcast_dims : int or tuple of int, default ()
        Axes along which one mask value is shared (negative axes allowed).
    return_state : bool, default False
        Also return a :class:`DropoutState` for the backward pass.
    out : array, optional
        Where to write the result (returned), NumPy's ``out=``: an array of
        ``x``'s kind (NumPy, GPU, torch; not Dask), shape and dtype, writeable;
        ``out=x`` is the in-place call; any other overlap with ``x`` is
        computed from ``x`` as it was. Also in eval mode (a copy of ``x``).
        Not for recorded values (no gradient through ``out=``).

    Returns
    -------
    y : array
        The result, ``x``'s shape, dtype and kind, native byte order. Unless
        in place, it has ``x``'s memory order, NumPy's ``order='K'`` (as
        ``x * s`` has): a Fortran-ordered or otherwise permuted ``x`` gives
        an output of the same strides, a sliced view a dense array in its
        axes' order. The bits do not depend on it.
    state : DropoutState
        Only with ``return_state=True``.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.ones((2, 8), np.float32)
    >>> y = nd.dropout(x, 0.5, rng=0)
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]

    DropPath / stochastic depth: one decision per sample (all axes but 0)

    >>> h = np.ones((4, 3, 5), np.float32)
    >>> y = nd.dropout(h, 0.5, rng=1, broadcast_dims=(1, 2))
    >>> bool(all(np.unique(y[i]).size == 1 for i in range(4)))
    True

    Locked (variational) dropout for sequences ``(batch, time, features)``:
    the same units are dropped at every time step

    >>> seq = np.ones((2, 6, 4), np.float32)
    >>> y = nd.dropout(seq, 0.5, rng=2, broadcast_dims=1)
    >>> bool((y == y[:, :1]).all())
    True

    Channels-last spatial dropout on ``(N, H, W, C)``: whole channels dropped

    >>> img = np.ones((2, 4, 4, 3), np.float32)
    >>> y = nd.dropout(img, 0.5, rng=3, broadcast_dims=(1, 2))
    >>> bool((y == y[:, :1, :1, :]).all())
    True
    """
    if (
        type(x) is np.ndarray
        and type(p) is float
        and training is True
        and inplace is False
        and type(return_state) is bool
        and type(broadcast_dims) is tuple
        and not broadcast_dims
    ):
        done = numpy_backend.small_dropout(x, p, rng, out)
        if done is not None:
            y, seed, offset = done
            return (y, DropoutState("dropout", p, seed, offset, x.shape)) if return_state else y
    x = backends.check_array(x, "x", inplace)
    broadcast = normalize_axes(broadcast_dims, x.ndim)
    return _run(x, p, training, inplace, rng, broadcast, return_state, "dropout", out)


def _channel_axes(x: np.ndarray, spatial: int, name: str) -> tuple[int, ...]:
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{name} expects a {spatial + 2}-D (N, C, ...) or {spatial + 1}-D (C, ...) input, "
            f"got an array of shape {x.shape}"
        )
    return tuple(range(x.ndim - spatial, x.ndim))


def _channel_dropout(x, p, training, inplace, rng, return_state, spatial, name, out) -> Output:
    x = backends.check_array(x, "x", inplace)
    broadcast = _channel_axes(x, spatial, name)
    return _run(x, p, training, inplace, rng, broadcast, return_state, "dropout", out)


def dropout1d(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input.

    Each channel is kept with probability ``1 - p`` and scaled by ``1/(1-p)``.
    Parameters and returns as in :func:`dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> y = nd.dropout1d(np.ones((2, 3, 5), np.float32), 0.5, rng=0)
    >>> bool((y == y[..., :1]).all())
    True
    """
    return _channel_dropout(x, p, training, inplace, rng, return_state, 1, "dropout1d", out)


def dropout2d(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Zero whole channels of ``(N, C, H, W)`` or ``(C, H, W)`` input.

    Parameters and returns as in :func:`dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> y = nd.dropout2d(np.ones((1, 4, 3, 3), np.float32), 0.5, rng=0)
    >>> bool((y == y[..., :1, :1]).all())
    True
    """
    return _channel_dropout(x, p, training, inplace, rng, return_state, 2, "dropout2d", out)


def dropout3d(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    Parameters and returns as in :func:`dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> y = nd.dropout3d(np.ones((2, 2, 2, 3, 3), np.float32), 0.5, rng=0)
    >>> bool((y == y[..., :1, :1, :1]).all())
    True
    """
    return _channel_dropout(x, p, training, inplace, rng, return_state, 3, "dropout3d", out)


def alpha_dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Alpha dropout for self-normalizing (SELU) networks.

    Kept elements become ``a*x + alpha*a*p`` and dropped ones
    ``-alpha*a*(1-p)``, with ``alpha = 1.7580993408473766`` and
    ``a = 1/sqrt((alpha**2 * p + 1) * (1 - p))``, so that zero mean and unit
    variance are kept. Note that ``training`` defaults to False, as in torch.
    Other parameters and returns as in :func:`dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.random.default_rng(0).standard_normal(200_000).astype(np.float32)
    >>> y = nd.alpha_dropout(x, 0.2, training=True, rng=0)
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (0.0, 1.0)
    """
    x = backends.check_array(x, "x", inplace)
    return _run(x, p, training, inplace, rng, (), return_state, "alpha", out)


def feature_alpha_dropout(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Alpha dropout of whole channels: one mask value per ``(N, C)``.

    ``x`` has shape ``(N, C, *spatial)`` (at least 2-D); the mask has shape
    ``(N, C, 1, ..., 1)``. Formulas as in :func:`alpha_dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> y = nd.feature_alpha_dropout(np.zeros((2, 3, 4), np.float32), 0.5, True, rng=0)
    >>> bool((y == y[..., :1]).all())
    True
    """
    x = backends.check_array(x, "x", inplace)
    return _run(x, p, training, inplace, rng, _feature_axes(x), return_state, "alpha", out)


def stochastic_depth(
    x: np.ndarray,
    p: float,
    mode: str = "row",
    training: bool = True,
    *,
    rng: RngLike = None,
    return_state: bool = False,
    out: object = None,
) -> Output:
    """Stochastic depth (DropPath): drop whole samples of a residual branch, as ``torchvision.ops``.

    ``mode="row"`` keeps or drops each sample (all axes but the first share
    one decision), ``mode="batch"`` the whole batch at once; kept values are
    scaled by ``1/(1-p)``, and ``p = 1`` gives zeros. The mask is the
    contract's mask of shape ``(N, 1, ..., 1)`` (row) or ``(1, ..., 1)``
    (batch): this is :func:`dropout` with those ``broadcast_dims``.

    Parameters
    ----------
    x : array
        The residual branch's output, ``(N, ...)`` (any array kind :func:`dropout` takes).
    p : float
        Probability of dropping a sample (row) or the batch.
    mode : {"row", "batch"}, default "row"
        One decision per sample, or one for the whole batch.
    training : bool, default True
        If False, return ``x`` itself.
    rng, return_state, out
        As in :func:`dropout`.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> branch = np.ones((6, 3, 4), np.float32)
    >>> y = nd.stochastic_depth(branch, 0.5, "row", rng=0)
    >>> sorted({float(v) for v in y.reshape(6, -1).max(axis=1)}), bool((y == y[:, :1, :1]).all())
    ([0.0, 2.0], True)
    """
    if mode not in ("row", "batch"):
        raise ValueError(f"mode must be 'row' or 'batch', got {mode!r}")
    x = backends.check_array(x)
    if mode == "row" and x.ndim == 0:
        raise ValueError("stochastic_depth(mode='row') expects an (N, ...) input, got a 0-d array")
    broadcast = tuple(range(1 if mode == "row" else 0, x.ndim))
    return _run(x, p, training, False, rng, broadcast, return_state, "dropout", out)
