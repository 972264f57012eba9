"""The ``Module`` base class: parameters, submodules, modes and the tape."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import Any

import numpy as np

from numbadrop._core.arrays import is_torch
from numbadrop.autograd.graph import Node, Tape
from numbadrop.autograd.graph import _state as graph_state
from numbadrop.autograd.tensor import Tensor, is_float_dtype, is_recorded, wrap
from numbadrop.nn.parameter import Parameter


class Module:
    """Base class of numbadrop layers and models, shaped like ``torch.nn.Module``.

    Subclasses implement :meth:`forward`. Assigning a :class:`Parameter` or a
    ``Module`` to an attribute registers it, so :meth:`parameters`,
    :meth:`state_dict` and :meth:`train` reach it.

    A call of a module that is in training mode, outside :func:`numbadrop.no_grad`
    and not inside another module's forward, records a tape of backward
    closures; :meth:`backward` replays it once. Calls in eval mode or under
    ``no_grad`` record nothing.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`.

    Examples
    --------
    >>> import numpy as np
    >>> import numbadrop.nn as nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(4, 2, rng=0)
    ...         self.act = nn.ReLU()
    ...     def forward(self, x):
    ...         return self.act(self.fc(x))
    >>> net = Net()
    >>> [name for name, _ in net.named_parameters()]
    ['fc.weight', 'fc.bias']
    >>> y = net(np.ones((3, 4), np.float32))
    >>> dx = net.backward(np.ones_like(y))
    >>> dx.shape, net.fc.weight.grad.shape
    ((3, 4), (2, 4))
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_tape", None)
        object.__setattr__(self, "_out_shape", None)

    # --- registration ----------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before {type(self).__name__}.__init__() "
                "called Module.__init__() (call super().__init__() first)"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (``None`` just sets the attribute)."""
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` under ``name``."""
        setattr(self, name, module)

    # --- traversal -------------------------------------------------------
    def children(self) -> Iterator[Module]:
        """Direct submodules."""
        yield from self._modules.values()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules with their attribute names."""
        yield from self._modules.items()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and all submodules, each once, with dotted names."""
        seen: set[int] = set()

        def walk(module: Module, name: str) -> Iterator[tuple[str, Module]]:
            if id(module) in seen:
                return
            seen.add(id(module))
            yield name, module
            for child_name, child in module._modules.items():
                yield from walk(child, f"{name}.{child_name}" if name else child_name)

        yield from walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        """This module and all submodules, each once."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Parameters with dotted names (``fc1.weight``), each once."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """All parameters, each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (``None``, or zeros in place)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    # --- modes -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or eval mode, recursively; returns ``self``."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set eval mode recursively; same as ``train(False)``."""
        return self.train(False)

    # --- forward / backward ----------------------------------------------
    def _check_torch_input(self) -> None:
        """TypeError for a torch tensor into a module with NumPy parameters (dropout layers take tensors)."""
        if next(self.parameters(), None) is not None:
            raise TypeError(
                f"numbadrop.nn.{type(self).__name__} holds NumPy parameters and was given a torch.Tensor: "
                "torch's autograd would not see them. Build the model from torch.nn layers and "
                "numbadrop.torch's dropout modules, or pass NumPy arrays"
            )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and _is_numbers(args[0]):
            args = (self._as_array(args[0]), *args[1:])
        state = graph_state
        if getattr(state, "context", None) is not None:  # inside an enclosing forward: its recording applies
            return self.forward(*args, **kwargs)
        for arg in args:
            if not isinstance(arg, np.ndarray) and is_torch(arg):
                self._check_torch_input()
        object.__setattr__(self, "_tape", None)
        if not (self.training and getattr(state, "enabled", True)):
            state.context = "eval"
            try:
                return self.forward(*args, **kwargs)
            finally:
                state.context = None
        tape = getattr(state, "tape", None)
        if tape is None:
            tape = Tape()
        given = (*args, *kwargs.values()) if kwargs else args
        if any(_is_foreign(a) for a in given):  # GPU, torch or Dask arrays: a chain of closures, not a graph
            tape.chain = True
        wrapped, inputs = _boundaries(given)
        previous_tape = state.tape if hasattr(state, "tape") else None
        state.context, state.tape = "train", tape
        try:
            if kwargs:
                out = self.forward(*wrapped[: len(args)], **dict(zip(kwargs, wrapped[len(args) :], strict=True)))
            else:
                out = self.forward(*wrapped)
        finally:
            state.context, state.tape = None, previous_tape
        if not tape.chain:  # a chain's ends are set by its links (``Tape.record``)
            tape.inputs = inputs
            tape.output = out._node if isinstance(out, Tensor) else None
        object.__setattr__(self, "_tape", tape)
        object.__setattr__(self, "_out_shape", tuple(out.shape) if hasattr(out, "shape") else None)
        for arg, original in zip(wrapped, given, strict=True):
            if out is arg:  # the input itself came back (Identity, a layer working in place)
                if not isinstance(original, Tensor):
                    return original  # the caller's own array: ``backward`` still works
                if out._ver != original._ver:  # changed in place, so ``original`` (same memory) now has that history
                    original._node, original._ver = out._node, out._ver
                return original
        return out

    def _as_array(self, x: object) -> np.ndarray:
        """The layer's input given as Python numbers (a list, a tuple, a scalar) as a float array.

        It is then recorded like any array, so that :meth:`backward` works; a
        layer that would write into its input (``inplace=True``) refuses it,
        since the caller's object could not be changed.
        """
        name = type(self).__name__
        if getattr(self, "inplace", False) is True:
            raise TypeError(
                f"{name}(inplace=True) cannot write into its input, a {type(x).__name__}: "
                "pass a writeable array, or use the returned value with inplace=False"
            )
        try:
            array = np.asarray(x)
        except ValueError as exc:  # ragged nesting
            raise TypeError(f"{name}'s input must be an array of floats, got a ragged {type(x).__name__}") from exc
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)  # as torch.tensor([1, 2.]) would be, a float array
        if not is_float_dtype(array.dtype):
            raise TypeError(f"{name}'s input must be an array of floats, got a {type(x).__name__} of {array.dtype}")
        return array

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Backpropagate ``grad`` through the latest recorded forward, once.

        Runs the graph from this call's output back to its first input, and
        no further (the graph that produced the input is left for its own
        backward). Parameter gradients are added to each ``Parameter.grad``
        (so two backwards add up until :meth:`zero_grad`). The PyTorch way,
        ``loss.backward()`` on a recorded loss, does the whole graph at once.

        Parameters
        ----------
        grad : numpy.ndarray
            Gradient with respect to the forward's output.

        Returns
        -------
        numpy.ndarray
            Gradient with respect to the forward's (first) input.

        Raises
        ------
        RuntimeError
            If no training-mode forward was recorded, or it was already used.
        ValueError
            If ``grad`` does not have the output's shape.
        """
        tape = self._tape
        if tape is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() needs a training-mode forward first (none recorded, or already used)"
            )
        if self._out_shape is None:
            raise TypeError(f"{type(self).__name__}.backward() needs a forward that returns one array")
        if np.shape(grad) != self._out_shape:
            raise ValueError(f"grad has shape {np.shape(grad)}, expected the output's shape {self._out_shape}")
        if tape.output is None and not tape.chain:
            raise RuntimeError(
                f"{type(self).__name__}'s output is not connected to what its forward recorded: it was made from "
                "plain arrays (np.asarray(), .detach() or .view(np.ndarray) of a recorded value inside forward?)"
            )
        if np.ndim(grad) == 0:
            grad = np.asarray(grad, dtype=tape.output.dtype)
        object.__setattr__(self, "_tape", None)
        return tape.backward(grad)

    # --- state -----------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameter arrays by dotted name (the arrays themselves, not copies)."""
        return OrderedDict((name, param.data) for name, param in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays from ``state_dict`` into the parameters (shapes must match).

        Raises
        ------
        KeyError
            With ``strict=True``, for missing or unexpected keys.
        ValueError
            For an array of the wrong shape.
        """
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(params))
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, value in state_dict.items():
            if name not in params:
                continue
            value = np.asarray(value)
            if value.shape != params[name].data.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape}, expected {params[name].data.shape}")
            np.copyto(params[name].data, value, casting="same_kind")

    def save(self, path: str | PathLike[str]) -> None:
        """Save the parameters to an ``.npz`` file at exactly ``path``."""
        with open(path, "wb") as file:  # np.savez would append ".npz" to a bare name
            np.savez(file, **self.state_dict())

    def load(self, path: str | PathLike[str], strict: bool = True) -> None:
        """Load parameters saved by :meth:`save`."""
        with np.load(path) as data:
            self.load_state_dict({name: data[name] for name in data.files}, strict=strict)

    # --- repr ------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of ``repr``; subclasses override it."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _boundaries(args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Node, ...]]:
    """The float-array arguments of a top-level call, each behind a node where ``Module.backward`` stops.

    A plain array becomes a leaf (its gradient is computed only when
    ``Module.backward`` asks for it); a recorded value passes its gradient
    on to its own history in a whole-graph backward.
    """
    wrapped, nodes = [], []
    for arg in args:
        if isinstance(arg, np.ndarray) and is_float_dtype(arg.dtype):
            if is_recorded(arg):
                node = Node("input", (arg._node,), _identity, arg.shape, arg.dtype)
                arg = wrap(arg.view(np.ndarray), node, arg._box)
            else:
                node = Node("input", (), None, arg.shape, arg.dtype)
                arg = wrap(arg.view(np.ndarray) if isinstance(arg, Tensor) else arg, node)
            nodes.append(node)
        wrapped.append(arg)
    return tuple(wrapped), tuple(nodes)


def _is_numbers(arg: object, top: bool = True) -> bool:
    """A Python or NumPy scalar, or a (nested) list or tuple holding no arrays: data, not an array."""
    if isinstance(arg, (list, tuple)):
        return all(_is_numbers(a, False) for a in arg)
    if top:
        return isinstance(arg, (int, float, np.number)) and not isinstance(arg, bool)
    return not hasattr(arg, "shape") and not isinstance(arg, Module)


def _is_foreign(arg: object) -> bool:
    """An array of another kind (GPU, torch, Dask): the graph records only NumPy values."""
    return not isinstance(arg, np.ndarray) and hasattr(arg, "shape") and hasattr(arg, "dtype")


def _identity(grad: np.ndarray) -> np.ndarray:
    return grad
