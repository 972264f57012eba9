"""Reverse-mode automatic differentiation over a recorded graph.

What is recorded: every training-mode module call (its layers, and the NumPy
arithmetic and functional dropout calls in its ``forward``), operations on
:class:`~numbadrop.nn.Parameter` objects, and operations on the values those
produce (:class:`Tensor`). ``loss.backward()`` then adds ``dloss/dparam`` into
every parameter it reaches. See the autodiff page of the documentation.

Examples
--------
>>> import numpy as np
>>> from numbadrop import autograd
>>> x = autograd.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
>>> y = np.maximum(x, 0) * 2 + x.mean()
>>> y.sum().backward()
>>> x.grad
array([[3., 1.],
       [3., 3.]])
"""

# The rule modules fill the tables of numbadrop.autograd.registry when imported.
from numbadrop.autograd import compositions as _compositions  # noqa: F401
from numbadrop.autograd import linalg as _linalg  # noqa: F401
from numbadrop.autograd import shapes as _shapes  # noqa: F401
from numbadrop.autograd import statistics as _statistics  # noqa: F401
from numbadrop.autograd import vjps as _vjps  # noqa: F401
from numbadrop.autograd.graph import (
    Node,
    backward,
    enable_grad,
    grad_enabled,
    is_recording,
    needs_input_grad,
    no_grad,
    set_grad_enabled,
)
from numbadrop.autograd.primitive import primitive
from numbadrop.autograd.registry import unbroadcast
from numbadrop.autograd.tensor import Tensor, is_recorded, tensor

__all__ = [
    "Node",
    "Tensor",
    "backward",
    "enable_grad",
    "grad_enabled",
    "is_recorded",
    "is_recording",
    "needs_input_grad",
    "no_grad",
    "primitive",
    "set_grad_enabled",
    "tensor",
    "unbroadcast",
]
