"""Custom differentiable operations: a forward that returns its output and a backward closure.

This is thinc's ``forward -> (Y, backprop)`` shape, and numbadrop's layers are
written with it. The decorated function computes on plain NumPy arrays (its
array arguments arrive unwrapped, and nothing inside it is recorded) and
returns ``(y, backprop)``; ``backprop(grad)`` returns the gradient of each
array argument. The graph then treats the call like a built-in operation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from numbadrop.autograd import graph
from numbadrop.autograd.core import Tensor, rebase, record, source, wrap
from numbadrop.autograd.graph import Node, grad_enabled

__all__ = ["primitive"]

F = TypeVar("F", bound=Callable[..., Any])


def _is_operand(value: object) -> bool:
    return isinstance(value, np.ndarray) or getattr(value, "__autograd_leaf__", None) is not None


def primitive(forward: F | None = None, *, saves: tuple[int, ...] = ()) -> Any:
    """Make ``forward(*args) -> (y, backprop)`` a differentiable operation.

    Parameters
    ----------
    forward : callable
        Takes arrays (and any other arguments) and returns ``(y, backprop)``:
        ``y`` one array, ``backprop(grad)`` the gradient of the array
        argument (one array argument) or a tuple with one entry per array
        argument (``None`` for an argument without gradient). Positional
        NumPy arrays, Tensors and Parameters are the differentiable
        arguments; they reach ``forward`` as plain arrays. ``backprop`` may
        be ``None`` when ``y`` is one of the inputs unchanged. A method of a
        :class:`~numbadrop.nn.Module` works too (``self`` is not an array);
        a module with parameters is recorded in every training-mode call, so
        its closure can add into ``Parameter.grad``.
    saves : tuple of int
        Positions, among the array arguments, of the inputs ``backprop``
        reads: their in-place modification before the backward then raises
        ``RuntimeError``, instead of yielding a gradient of other values.

    Returns
    -------
    callable
        The recorded operation. When gradients are disabled, or nothing is
        recorded and no parameter is involved, it returns ``y`` unrecorded.

    Notes
    -----
    ``forward`` runs with recording off. Writing the result into an input
    (``y`` being that input's array) is an in-place operation: the input is
    returned, recorded with the new history. Inside ``forward``,
    :func:`numbadrop.autograd.graph.is_recording` says whether the closure
    will be used, and inside ``backprop``,
    :func:`numbadrop.autograd.needs_input_grad` says which gradients are
    wanted.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop.autograd import primitive, tensor
    >>> @primitive
    ... def cube(x):
    ...     return x**3, lambda g: 3 * x**2 * g
    >>> x = tensor([1.0, 2.0], requires_grad=True)
    >>> cube(x).sum().backward()
    >>> x.grad
    array([ 3., 12.])
    """
    if forward is None:
        return functools.partial(primitive, saves=saves)
    saves = tuple(saves)

    @functools.wraps(forward)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        owner = args[0] if args and hasattr(args[0], "_parameters") else None
        params = [p for p in owner._parameters.values() if p is not None] if owner is not None else ()
        positions, operands, plain = [], [], list(args)
        live = False
        for i, arg in enumerate(args):  # one pass: the array arguments, unwrapped
            if isinstance(arg, np.ndarray) or getattr(arg, "__autograd_leaf__", None) is not None:
                operand = source(arg)
                positions.append(i)
                operands.append(operand)
                plain[i] = operand[0]
                live = live or operand[1] is not None
        enabled = grad_enabled()
        if kwargs and enabled and any(_is_operand(v) and source(v)[1] is not None for v in kwargs.values()):
            raise TypeError(
                f"{getattr(forward, '__qualname__', 'primitive')}: pass recorded arrays positionally "
                "(keyword arguments of a primitive are constants, so their gradient would be lost)"
            )
        context = graph.module_context()
        tape = graph.active_tape()
        if not live and enabled and context == "train" and tape is not None and tape.chain:
            y, backprop = _call(forward, plain, kwargs, recording=True)  # arrays the graph cannot hold
            if backprop is not None:
                tape.record(backprop)
            return y
        if not (live or (enabled and params and context == "train")):
            return _call(forward, plain, kwargs, recording=False)[0]
        result = _call(forward, plain, kwargs, recording=True)
        if type(result) is not tuple or len(result) != 2 or not (result[1] is None or callable(result[1])):
            raise TypeError(
                f"{getattr(forward, '__qualname__', 'primitive')} must return (y, backprop) with one array y, "
                f"got {type(result).__name__}"
            )
        y, backprop = result
        originals = [args[i] for i in positions]
        for original, operand in zip(originals, operands, strict=True):
            if y is operand[0]:
                if backprop is None:
                    return original  # a pass-through: the input itself, with its history
                break
        else:
            original = None
        if backprop is None:
            return y
        if not isinstance(y, (np.ndarray, np.generic, float)):
            raise TypeError(
                f"{getattr(forward, '__qualname__', 'primitive')} must return one array as y, got {type(y).__name__}"
            )
        if params and context == "eval":  # an eval-mode call: its parameters are constants
            backprop = _frozen(backprop)
        name = type(owner).__name__ if owner is not None else getattr(forward, "__name__", "primitive")
        # The parameters' versions: an optimizer step before this backward would change what it reads.
        versions = tuple([(p._box, p._box[0], None) for p in params]) if params else ()
        if original is not None:  # written in place into this input
            return _in_place(name, original, y, operands, backprop, bool(params), saves, originals, versions)
        return record(
            name, y, tuple(operands), backprop, keep=saves, params=bool(params) and context == "train",
            holders=tuple(originals), extra_saved=versions,
        )  # fmt: skip

    recorded.__wrapped_primitive__ = forward  # type: ignore[attr-defined]
    return recorded


def _call(forward: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], *, recording: bool) -> Any:
    state = graph._state
    previous = getattr(state, "enabled", True), getattr(state, "recording_call", False)
    state.enabled, state.recording_call = False, recording
    try:
        return forward(*args, **kwargs)
    finally:
        state.enabled, state.recording_call = previous


def _frozen(backprop: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """``backprop`` with parameter gradients switched off (``Parameter.accumulate`` skips)."""

    def frozen(grad: np.ndarray) -> Any:
        state = graph._state
        previous = getattr(state, "frozen", False)
        state.frozen = True
        try:
            return backprop(grad)
        finally:
            state.frozen = previous

    return frozen


def _in_place(name, original, y, operands, backprop, params, saves, originals, versions) -> Tensor:
    parents = tuple(node for _, node, _ in operands)
    saved = tuple((operands[i][2], operands[i][2][0] + 1, originals[i]) for i in saves if operands[i][2] is not None)
    saved += versions
    node = Node(f"{name} (in place)", parents, backprop, y.shape, y.dtype, params=params, saved=saved)
    if isinstance(original, Tensor):
        return rebase(original, node)
    return wrap(y, node)
