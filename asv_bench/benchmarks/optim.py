"""Optimizer steps: the fused per-element kernels against the same update as whole-array NumPy operations."""

from __future__ import annotations

import numpy as np

from numbadrop import optim
from numbadrop.nn.parameter import Parameter

from .common import warm_up

#: Update rules: optimizer class and options.
RULES = {
    "sgd_momentum": (optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "adamw": (optim.AdamW, {"lr": 1e-3}),
    "adamw_amsgrad": (optim.AdamW, {"lr": 1e-3, "amsgrad": True}),
}


class OptimizerStep:
    """One ``step()`` on a 512x512 float32 parameter (a residual block's weight).

    Peers: ``kernel`` (the fused Numba loop, what ``step()`` runs) and
    ``numpy`` (the optimizer's ``_update_numpy``, the reference the kernel
    matches bit for bit: several whole-array passes).
    """

    params = (tuple(RULES), ("kernel", "numpy"))
    param_names = ("rule", "path")

    def setup(self, rule: str, path: str) -> None:
        cls, options = RULES[rule]
        rng = np.random.default_rng(0)
        self.param = Parameter(rng.standard_normal((512, 512), dtype=np.float32))
        self.grad = rng.standard_normal((512, 512), dtype=np.float32)
        self.opt = cls([self.param], **options)
        if path == "numpy":
            self.opt._update = self.opt._update_numpy
        warm_up(self._step)

    def _step(self) -> None:
        self.param.grad = self.grad
        self.opt.step()

    def time_step(self, rule: str, path: str) -> None:
        self._step()
