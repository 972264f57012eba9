"""Optimizers shaped like ``torch.optim``: ``SGD``, ``Adam`` and ``AdamW``.

Each optimizer updates :class:`numbadrop.nn.Parameter` objects in place from
their ``.grad`` arrays, with the update rules of PyTorch's single-tensor
(``foreach=False``) implementations, applied in the same order of operations:
Python-float hyper-parameter arithmetic (bias corrections, step sizes) is done
in double precision exactly as PyTorch does it, and every array operation is
done in the parameter's own dtype with the scalar cast to that dtype first.
The only remaining difference is that PyTorch's CPU kernels fuse some
multiply-adds (``add(alpha=)``, ``lerp``, ``addcmul``) into FMA instructions,
which NumPy cannot express; results agree to a few units in the last place.

Examples
--------
>>> import numpy as np
>>> from numbadrop.nn.parameter import Parameter
>>> from numbadrop.optim import SGD
>>> w = Parameter(np.array([1.0, 2.0]))
>>> opt = SGD([w], lr=0.5)
>>> w.grad = np.array([1.0, -1.0])
>>> opt.step()
>>> w.data
array([0.5, 2.5])
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from numbadrop import _optim_kernels as _kernels
from numbadrop.nn.parameter import Parameter

__all__ = ["Adam", "AdamW", "Optimizer", "SGD"]

ParamsT = Iterable[Parameter] | Iterable[Mapping[str, Any]]


# --- argument checks ---------------------------------------------------------
def _check_real(value: object, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_nonneg(value: object, name: str) -> float:
    result = _check_real(value, name)
    if not result >= 0.0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def _check_flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _check_betas(value: object, name: str = "betas") -> tuple[float, float]:
    try:
        pair = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a pair of floats, got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{name} must have 2 elements, got {value!r}")
    out = []
    for i, beta in enumerate(pair):
        b = _check_real(beta, f"{name}[{i}]")
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{name}[{i}] must be in [0, 1), got {beta!r}")
        out.append(b)
    return out[0], out[1]


def _check_nonneg_option(group: dict[str, Any], name: str) -> None:
    group[name] = _check_nonneg(group[name], name)


# --- base class --------------------------------------------------------------
class Optimizer:
    """Base class of numbadrop optimizers, shaped like ``torch.optim.Optimizer``.

    Subclasses define ``_check_group`` (validate and normalise one group's
    options) and ``_update`` (update one parameter from its gradient).

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        The parameters to optimize, or "parameter groups": dicts with a
        ``"params"`` entry (a Parameter or an ordered iterable of them) and
        optional per-group options that override ``defaults``.
    defaults : dict
        Default options (``lr`` and the optimizer's other hyper-parameters).

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` (list of Parameter) and the options.
        Options may be changed between steps (e.g. ``group["lr"]``).
    state : dict
        Per-parameter state, keyed by Parameter: NumPy arrays (momentum
        buffers, moment estimates) and ``"step"`` counts (int).
    defaults : dict
        The default options.

    Raises
    ------
    ValueError
        If ``params`` is empty, a parameter appears twice, or an option is out
        of range (the message names the option and the value).
    TypeError
        If ``params`` is a single Parameter, a set, or holds non-Parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop.nn.parameter import Parameter
    >>> from numbadrop.optim import SGD
    >>> a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    >>> opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=1.0)
    >>> [g["lr"] for g in opt.param_groups]
    [1.0, 0.1]
    """

    def __init__(self, params: ParamsT, defaults: Mapping[str, Any]) -> None:
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                f"params must be an iterable of Parameters or of dicts, got a single {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError("params must be an ordered iterable (e.g. a list), not a set")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list (params)")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- groups ----------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a parameter group, filling missing options from ``defaults``.

        Parameters
        ----------
        param_group : dict
            ``"params"`` (a Parameter or an ordered iterable of them) and
            optional options overriding ``defaults``.

        Raises
        ------
        ValueError
            If a parameter is already optimized (in this or another group),
            or an option is out of range.

        Examples
        --------
        >>> import numpy as np
        >>> from numbadrop.nn.parameter import Parameter
        >>> from numbadrop.optim import Adam
        >>> opt = Adam([Parameter(np.zeros(2))], lr=1e-3)
        >>> opt.add_param_group({"params": Parameter(np.zeros(4)), "lr": 1e-2})
        >>> [(len(g["params"]), g["lr"]) for g in opt.param_groups]
        [(1, 0.001), (1, 0.01)]
        """
        if not isinstance(param_group, Mapping):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("a group's params must be an ordered iterable (e.g. a list), not a set")
        params = list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if id(p) in seen:
                raise ValueError(f"params: {p!r} appears more than once in the optimizer")
            seen.add(id(p))
        group["params"] = params
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalise in place) one group's options."""
        _check_nonneg_option(group, "lr")

    # --- stepping --------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters, like PyTorch.

        Parameters
        ----------
        set_to_none : bool, default True
            If True, set each ``.grad`` to ``None`` (so the next ``step`` skips
            the parameter unless a new gradient arrives). If False, fill the
            existing gradient arrays with zeros in place. Gradients that are
            already ``None`` stay ``None`` either way.

        Examples
        --------
        >>> import numpy as np
        >>> from numbadrop.nn.parameter import Parameter
        >>> from numbadrop.optim import SGD
        >>> p = Parameter(np.zeros(2))
        >>> opt = SGD([p])
        >>> p.grad = np.ones(2)
        >>> opt.zero_grad(set_to_none=False)
        >>> p.grad
        array([0., 0.])
        >>> opt.zero_grad()
        >>> p.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif isinstance(p.grad, np.ndarray) and p.grad.flags.writeable:
                    p.grad[...] = 0
                else:
                    p.grad = np.zeros_like(p.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; skip those whose grad is None.

        Parameters
        ----------
        closure : callable, optional
            Called first (like PyTorch's closure, it would re-evaluate the
            model and fill gradients); its result is returned.

        Returns
        -------
        object
            The closure's result, or None.

        Raises
        ------
        ValueError
            If a gradient's shape differs from its parameter's.

        Examples
        --------
        >>> import numpy as np
        >>> from numbadrop.nn.parameter import Parameter
        >>> from numbadrop.optim import SGD
        >>> p, q = Parameter(np.ones(2)), Parameter(np.ones(2))
        >>> opt = SGD([p, q], lr=0.25)
        >>> p.grad = np.array([1.0, 2.0])  # q.grad stays None: q is skipped
        >>> opt.step()
        >>> p.data, q.data
        (array([0.75, 0.5 ]), array([1., 1.]))
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not isinstance(grad, np.ndarray) or grad.dtype != p.data.dtype:
                    grad = np.asarray(grad, dtype=p.data.dtype)
                if grad.shape != p.data.shape:
                    raise ValueError(f"grad of {p!r} has shape {grad.shape}, expected {p.data.shape}")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(p.data, grad, state, group)
                p.bump_version()  # a backward still pending on the old values must not use the new ones
        return loss

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update ``param`` in place from ``grad`` (never modified)."""
        raise NotImplementedError

    # --- (de)serialisation ----------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return the optimizer's state and options as plain data (a deep copy).

        Returns
        -------
        dict
            ``{"state": {index: {name: ndarray or int}}, "param_groups":
            [{option: value, "params": [index, ...]}]}``, where parameters are
            numbered across groups in order (PyTorch's layout). Parameters
            without state (never stepped) have no ``"state"`` entry.

        Examples
        --------
        >>> import numpy as np
        >>> from numbadrop.nn.parameter import Parameter
        >>> from numbadrop.optim import Adam
        >>> p = Parameter(np.zeros(2))
        >>> opt = Adam([p])
        >>> p.grad = np.ones(2)
        >>> opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"][0]), sd["state"][0]["step"], sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], 1, [0])
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _copy_value(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index and s
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore state and options saved by :meth:`state_dict`.

        The optimizer must hold the same number of groups with the same
        number of parameters as when the state was saved; arrays are copied
        and cast to each parameter's dtype, and group options (``lr`` etc.)
        are taken from ``state_dict``.

        Parameters
        ----------
        state_dict : dict
            A dict from :meth:`state_dict`.

        Raises
        ------
        ValueError
            If the groups, their sizes or the state arrays' shapes differ.

        Examples
        --------
        >>> import numpy as np
        >>> from numbadrop.nn.parameter import Parameter
        >>> from numbadrop.optim import SGD
        >>> p = Parameter(np.zeros(2))
        >>> opt = SGD([p], lr=0.1, momentum=0.9)
        >>> p.grad = np.ones(2)
        >>> opt.step()
        >>> q = Parameter(p.data.copy())
        >>> opt2 = SGD([q], lr=0.5)
        >>> opt2.load_state_dict(opt.state_dict())
        >>> opt2.param_groups[0]["lr"], opt2.state[q]["momentum_buffer"]
        (0.1, array([1., 1.]))
        """
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(saved_groups)} parameter groups, the optimizer has {len(self.param_groups)}"
            )
        index: dict[int, Parameter] = {}
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"state_dict's parameter group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's has {len(group['params'])}"
                )
            for k, p in zip(saved["params"], group["params"], strict=True):
                index[k] = p
            new_group = {k: _copy_value(v) for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            self._check_group(new_group)
            new_groups.append(new_group)
        new_state: dict[Parameter, dict[str, Any]] = {}
        for k, saved_state in state_dict["state"].items():
            if k not in index:
                raise ValueError(f"state_dict has state for parameter {k!r}, which no group lists")
            p = index[k]
            entry: dict[str, Any] = {}
            for name, value in saved_state.items():
                if name == "step":
                    entry[name] = int(value)
                elif value is None:
                    entry[name] = None
                else:
                    arr = np.array(value, dtype=p.data.dtype, copy=True)
                    if arr.shape != p.data.shape:
                        raise ValueError(
                            f"state {name!r} of parameter {k!r} has shape {arr.shape}, expected {p.data.shape}"
                        )
                    entry[name] = arr
            new_state[p] = entry
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copy_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    return value


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
            _kernels.sgd(
                param, grad, param if buf is None else buf, group["maximize"], group["weight_decay"] != 0,
                cast(group["weight_decay"]), momentum != 0, cast(momentum), cast(1.0 - group["dampening"]),
                group["nesterov"], first, cast(-group["lr"]),
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
        _kernels.adam(
            param, grad, arrays[0], arrays[1], arrays[-1] if amsgrad else arrays[1], group["maximize"],
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
