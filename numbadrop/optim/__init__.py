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

from numbadrop.optim.adam import Adam, AdamW
from numbadrop.optim.optimizer import Optimizer, ParamsT  # noqa: F401  (the params type, as before the split)
from numbadrop.optim.sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD"]
