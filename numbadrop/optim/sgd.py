"""Stochastic gradient descent with momentum, like ``torch.optim.SGD`` (see :mod:`numbadrop.optim`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.kernels.cpu import optim as _kernels
from numbadrop.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_flag,
    _check_nonneg_option,
    _check_real,
)


# --- array helpers (all in the parameter's dtype) ----------------------------
# New arrays are made with ``out=np.empty_like(...)`` so that 0-d parameters
# stay arrays (a ufunc without ``out`` returns a NumPy scalar for 0-d input).
def _axpy_into(out: np.ndarray, x: np.ndarray, alpha: float) -> None:
    """``out += alpha * x`` (PyTorch's ``out.add_(x, alpha=alpha)``), unfused."""
    if alpha == 1.0:
        np.add(out, x, out=out)
    else:
        np.add(out, np.multiply(x, out.dtype.type(alpha), out=np.empty_like(out)), out=out)


def _axpy_new(y: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    """New array ``y + alpha * x`` (PyTorch's ``y.add(x, alpha=alpha)``)."""
    out = np.multiply(x, y.dtype.type(alpha), out=np.empty_like(y))
    np.add(y, out, out=out)
    return out


# --- SGD ---------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, like ``torch.optim.SGD``.

    For each parameter with a gradient ``g`` (PyTorch's algorithm)::

        g = -g if maximize
        g = g + weight_decay * p                     if weight_decay != 0
        if momentum != 0:
            buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        Parameters, or parameter groups with per-group options.
    lr : float, default 1e-3
        Learning rate, >= 0.
    momentum : float, default 0
        Momentum factor, >= 0.
    dampening : float, default 0
        Dampening of momentum.
    weight_decay : float, default 0
        L2 penalty added to the gradient, >= 0.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
        Maximize the objective instead of minimizing.

    Raises
    ------
    ValueError
        For an option out of range, naming it and its value.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop.nn.parameter import Parameter
    >>> from numbadrop.optim import SGD
    >>> p = Parameter(np.array([1.0]))
    >>> opt = SGD([p], lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     p.grad = np.array([1.0])
    ...     opt.step()
    >>> p.data  # 1 - 0.1 * 1 - 0.1 * (0.5 + 1)
    array([0.75])
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_nonneg_option(group, "lr")
        _check_nonneg_option(group, "momentum")
        group["dampening"] = _check_real(group["dampening"], "dampening")
        _check_nonneg_option(group, "weight_decay")
        group["nesterov"] = _check_flag(group["nesterov"], "nesterov")
        group["maximize"] = _check_flag(group["maximize"], "maximize")
        if group["nesterov"] and (group["momentum"] <= 0.0 or group["dampening"] != 0.0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        buf = state.get("momentum_buffer")
        if momentum != 0 and buf is None:
            buf = np.empty_like(param)
        if _kernels.usable(param, grad) and (buf is None or _kernels.usable(param, buf)):
            first = "momentum_buffer" not in state
            if momentum != 0:
                state["momentum_buffer"] = buf
            cast = param.dtype.type
            # 1-D views (C-contiguous, so writes land in place): one compiled kernel per dtype, not per rank
            p, g, b = (a.reshape(-1) for a in (param, grad, param if buf is None else buf))
            _kernels.sgd(
                p, g, b, group["maximize"], group["weight_decay"] != 0, cast(group["weight_decay"]), momentum != 0,
                cast(momentum), cast(1.0 - group["dampening"]), group["nesterov"], first, cast(-group["lr"]),
            )  # fmt: skip
            return
        self._update_numpy(param, grad, state, group)

    def _update_numpy(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """The update as whole-array NumPy operations: the reference of the fused kernel (and its fallback)."""
        lr = group["lr"]
        momentum = group["momentum"]
        weight_decay = group["weight_decay"]
        owned = False  # whether ``g`` is a scratch array we may overwrite
        g = grad
        if group["maximize"]:
            g = np.negative(g, out=np.empty_like(param))
            owned = True
        if weight_decay != 0:
            g = _axpy_new(g, param, weight_decay)
            owned = True
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                np.multiply(buf, buf.dtype.type(momentum), out=buf)
                _axpy_into(buf, g, 1.0 - group["dampening"])
            if group["nesterov"]:
                g = _axpy_new(g, buf, momentum)
                owned = True
            else:
                g = buf
                owned = False
        # p.add_(g, alpha=-lr): p + (-lr) * g
        delta = np.multiply(g, param.dtype.type(-lr), out=g if owned else np.empty_like(param))
        np.add(param, delta, out=param)
