"""The base of the optimizers: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``, argument checks.

:class:`Optimizer` holds what every update rule shares; :mod:`numbadrop.optim.sgd`
and :mod:`numbadrop.optim.adam` hold the rules (see :mod:`numbadrop.optim` for
how they follow PyTorch's arithmetic).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from numbadrop.nn.parameter import Parameter

__all__ = ["Optimizer"]

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
