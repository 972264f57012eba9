"""Adam and AdamW, like ``torch.optim.Adam`` and ``torch.optim.AdamW`` (see :mod:`numbadrop.optim`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.kernels.cpu import optim as _kernels
from numbadrop.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_betas,
    _check_flag,
    _check_nonneg_option,
)
from numbadrop.optim.sgd import _axpy_new

#: The kernel's ``vmax`` without amsgrad: an array that cannot overlap the others (see the kernel).
_NO_VMAX = {np.dtype(t): np.zeros(1, t) for t in (np.float32, np.float64)}


# --- Adam / AdamW ------------------------------------------------------------
class Adam(Optimizer):
    """Adam, like ``torch.optim.Adam`` (L2 weight decay added to the gradient).

    For each parameter with a gradient ``g``, at step ``t`` (PyTorch's algorithm)::

        g = -g if maximize
        g = g + weight_decay * p                     if weight_decay != 0
        m = m + (1 - beta1) * (g - m)                (``lerp``)
        v = beta2 * v + (1 - beta2) * g * g
        vmax = max(vmax, v); v_used = vmax if amsgrad else v
        denom = sqrt(v_used) / sqrt(1 - beta2**t) + eps
        p = p + (-lr / (1 - beta1**t)) * m / denom

    The bias corrections and the step size are Python floats (double
    precision), as in PyTorch; the array work is in the parameter's dtype.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        Parameters, or parameter groups with per-group options.
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0
        L2 penalty added to the gradient, >= 0.
    amsgrad : bool, default False
        Use the running maximum of the second moment (AMSGrad).
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
    >>> from numbadrop.optim import Adam
    >>> p = Parameter(np.array([1.0, -1.0], dtype=np.float32))
    >>> opt = Adam([p], lr=0.1)
    >>> p.grad = np.array([3.0, -0.5], dtype=np.float32)
    >>> opt.step()  # the first Adam step moves each entry by about lr
    >>> p.data.round(6), p.data.dtype
    (array([ 0.9, -0.9], dtype=float32), dtype('float32'))
    """

    _decoupled = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_nonneg_option(group, "lr")
        group["betas"] = _check_betas(group["betas"])
        _check_nonneg_option(group, "eps")
        _check_nonneg_option(group, "weight_decay")
        group["amsgrad"] = _check_flag(group["amsgrad"], "amsgrad")
        group["maximize"] = _check_flag(group["maximize"], "maximize")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not _kernels.usable(param, grad):
            self._update_numpy(param, grad, state, group)
            return
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        cast = param.dtype.type
        _init_adam_state(state, param, amsgrad)
        arrays = [state["exp_avg"], state["exp_avg_sq"]] + ([state["max_exp_avg_sq"]] if amsgrad else [])
        if not _kernels.usable(param, *arrays):  # state loaded in another layout or dtype
            self._update_numpy(param, grad, state, group)
            return
        state["step"] += 1
        step = float(state["step"])
        weight = cast(1.0 - beta1)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        flat = [a.reshape(-1) for a in (param, grad, *arrays)]  # views: one compiled kernel per dtype, not per rank
        _kernels.adam(
            flat[0], flat[1], flat[2], flat[3], flat[4] if amsgrad else _NO_VMAX[param.dtype], group["maximize"],
            weight_decay != 0, cast(weight_decay), self._decoupled, cast(1.0 - lr * weight_decay), weight,
            bool(abs(weight) < 0.5), cast(beta2), cast(1.0 - beta2), amsgrad, cast(bias_correction2**0.5),
            cast(group["eps"]), cast(-(lr / bias_correction1)),
        )  # fmt: skip

    def _update_numpy(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """The update as whole-array NumPy operations: the reference of the fused kernel (and its fallback)."""
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        cast = param.dtype.type

        _init_adam_state(state, param, amsgrad)
        exp_avg = state["exp_avg"]
        exp_avg_sq = state["exp_avg_sq"]
        state["step"] += 1
        step = float(state["step"])

        g = np.negative(grad, out=np.empty_like(param)) if group["maximize"] else grad
        if weight_decay != 0:
            if self._decoupled:
                np.multiply(param, cast(1.0 - lr * weight_decay), out=param)
            else:
                g = _axpy_new(g, param, weight_decay)

        # exp_avg.lerp_(g, 1 - beta1), with PyTorch's two formulas by weight size
        weight = cast(1.0 - beta1)
        scratch = np.subtract(g, exp_avg, out=np.empty_like(param))
        if abs(weight) < 0.5:
            np.multiply(scratch, weight, out=scratch)
            np.add(exp_avg, scratch, out=exp_avg)
        else:
            np.multiply(scratch, weight - cast(1.0), out=scratch)
            np.add(g, scratch, out=exp_avg)

        # exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2): v*b2 + ((1-b2)*g)*g
        np.multiply(exp_avg_sq, cast(beta2), out=exp_avg_sq)
        np.multiply(g, cast(1.0 - beta2), out=scratch)
        np.multiply(scratch, g, out=scratch)
        np.add(exp_avg_sq, scratch, out=exp_avg_sq)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if amsgrad:
            max_sq = state["max_exp_avg_sq"]
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            denom = np.sqrt(max_sq, out=np.empty_like(param))
        else:
            denom = np.sqrt(exp_avg_sq, out=np.empty_like(param))
        np.divide(denom, cast(bias_correction2_sqrt), out=denom)
        np.add(denom, cast(group["eps"]), out=denom)

        # param.addcdiv_(exp_avg, denom, value=-step_size): p + ((-s) * m) / denom
        np.multiply(exp_avg, cast(-step_size), out=scratch)
        np.divide(scratch, denom, out=scratch)
        np.add(param, scratch, out=param)


def _init_adam_state(state: dict[str, Any], param: np.ndarray, amsgrad: bool) -> None:
    """Adam's per-parameter state on its first step: step count and moment estimates."""
    if not state:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)
    if amsgrad and state.get("max_exp_avg_sq") is None:
        state["max_exp_avg_sq"] = np.zeros_like(param)


class AdamW(Adam):
    """AdamW, like ``torch.optim.AdamW``: Adam with decoupled weight decay.

    Identical to :class:`Adam` except that weight decay shrinks the parameter
    directly, ``p = p * (1 - lr * weight_decay)``, before the Adam update,
    instead of being added to the gradient. The default ``weight_decay`` is
    ``1e-2``.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        Parameters, or parameter groups with per-group options.
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 1e-2
        Decoupled weight decay coefficient, >= 0.
    amsgrad : bool, default False
        Use the running maximum of the second moment (AMSGrad).
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
    >>> from numbadrop.optim import AdamW
    >>> p = Parameter(np.array([2.0]))
    >>> opt = AdamW([p], lr=0.1, weight_decay=0.5)
    >>> p.grad = np.array([0.0])  # zero gradient: only the decay acts
    >>> opt.step()
    >>> p.data  # 2 * (1 - 0.1 * 0.5)
    array([1.9])
    """

    _decoupled = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
