"""Record the family's calls on torch tensors into torch's autograd graph.

A call whose input is a torch tensor that requires grad (grad mode on) runs
as one :class:`torch.autograd.Function` node. Its forward runs the operation
on the detached tensor with ``return_state=True`` and keeps the state (a few
ints and floats) on ``ctx``; its backward calls ``state.backward(grad)``,
which regenerates the mask. Nothing is saved for backward
(``ctx.save_for_backward`` is never called): the graph holds no mask bytes,
where ``torch.nn.functional.dropout`` keeps one byte per element.

This is what :func:`numbadrop.ops._front.recorded` does for numbadrop's own
graph. torch is never imported here: the tensor's module, already loaded by
whoever made the tensor, is looked up in ``sys.modules``.

In place follows torch's rules: refused on a leaf that requires grad; on an
intermediate the tensor is marked dirty (its version counter moves, so a
stale saved copy raises at backward) and the gradient flows through the call.
``out=`` is refused when gradients would be recorded, as torch refuses it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from numbadrop._core.arrays import is_torch

#: torch's own message for an in-place write into a leaf that requires grad.
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


def wants_grad(x: object) -> bool:
    """True for a torch tensor that requires grad while torch's grad mode is on."""
    return getattr(x, "requires_grad", False) is True and is_torch(x) and sys.modules["torch"].is_grad_enabled()


def out_refusal(name: str) -> RuntimeError:
    """torch's refusal of ``out=`` in a call that autograd records."""
    return RuntimeError(
        f"{name}(): functions with out=... arguments don't support automatic differentiation, "
        "but one of the arguments requires grad (numbadrop follows torch: call it without out=)"
    )


def record(run: Callable[[object], tuple[object, object]], x, name: str, inplace: bool, return_state: bool):
    """``run(detached x) -> (y, state)`` as one node of torch's graph; ``y`` (and ``state`` when asked).

    Parameters
    ----------
    run : callable
        The operation on a tensor that does not require grad, returning the
        result and the state whose ``backward(grad)`` is the gradient.
    x : torch.Tensor
        The input, which requires grad (see :func:`wants_grad`).
    name : str
        The operation's name, for messages.
    inplace : bool
        Whether ``run`` writes into ``x``.
    return_state : bool
        Also return the state.
    """
    if inplace and x.is_leaf:
        raise RuntimeError(f"{name}: {LEAF_INPLACE}")
    states: list = []
    y = _function().apply(x, run, inplace, states)
    return (y, states[0]) if return_state else y


_FUNCTIONS: dict[int, tuple[type, type]] = {}


def _function() -> type:
    """The two ``torch.autograd.Function`` classes, made once per torch module loaded."""
    torch = sys.modules["torch"]
    made = _FUNCTIONS.get(id(torch))
    if made is None:
        made = _FUNCTIONS[id(torch)] = _make(torch)
    return made[0]


def _make(torch) -> tuple[type, type]:
    class Linear(torch.autograd.Function):
        """``state.backward(g)``: every backward of the family is linear in ``g`` and its own adjoint."""

        @staticmethod
        def forward(ctx, g, state):
            ctx.state = state
            return state.backward(g.detach())

        @staticmethod
        def backward(ctx, gg):
            return apply_state(ctx.state, gg), None

    def apply_state(state, g):
        if g.requires_grad and torch.is_grad_enabled():  # create_graph=True: a differentiable backward
            return Linear.apply(g, state)
        return state.backward(g)

    class NumbadropOp(torch.autograd.Function):
        """One call of the family: the state on ``ctx``, no saved tensors."""

        @staticmethod
        def forward(ctx, x, run, inplace, states):
            y, state = run(x.detach())
            ctx.state = state
            states.append(state)
            if inplace:
                ctx.mark_dirty(x)
                return x
            return y

        @staticmethod
        def backward(ctx, grad):
            return apply_state(ctx.state, grad), None, None, None

    return NumbadropOp, Linear
