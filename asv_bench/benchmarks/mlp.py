"""One training step of the seed tutorial's DropoutNet, numbadrop vs torch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import numbadrop
from numbadrop import nn, optim
from numbadrop.examples.train_mlp import DropoutNet

from .common import require_torch, set_threads, torch

#: The tutorial's Example 3 shape and a usual batch.
DIMS = (784, 256, 10)
BATCH = 128


def make_step(peer: str, batch: int = BATCH, seed: int = 0) -> Callable[[], object]:
    """A closure running forward, loss, backward and an SGD step of ``peer``'s DropoutNet.

    Both peers start from the same weights and see the same float32 batch.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, DIMS[0]), dtype=np.float32)
    y = rng.integers(0, DIMS[2], batch)
    numbadrop.manual_seed(seed)
    model = DropoutNet(input_dim=DIMS[0], hidden_dim=DIMS[1], output_dim=DIMS[2], dropout_rate=0.5)
    if peer == "numbadrop":
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step() -> None:
            opt.zero_grad()
            loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()

        return step
    require_torch()
    tnn = torch.nn

    class TorchDropoutNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = tnn.Linear(DIMS[0], DIMS[1])
            self.dropout1 = tnn.Dropout(0.5)
            self.fc2 = tnn.Linear(DIMS[1], DIMS[1])
            self.dropout2 = tnn.Dropout(0.5)
            self.fc3 = tnn.Linear(DIMS[1], DIMS[2])
            self.relu = tnn.ReLU()

        def forward(self, t):
            t = self.dropout1(self.relu(self.fc1(t)))
            t = self.dropout2(self.relu(self.fc2(t)))
            return self.fc3(t)

    return _torch_step(model, TorchDropoutNet(), lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), x, y)


def _torch_step(model, tmodel, make_optimizer, x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    """The torch twin's training step: ``model``'s weights copied into ``tmodel``, the same batch."""
    with torch.no_grad():
        for name, param in tmodel.named_parameters():
            param.copy_(torch.from_numpy(model.state_dict()[name]))
    topt = make_optimizer(tmodel.parameters())
    tloss = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step() -> None:
        topt.zero_grad()
        tloss(tmodel(xt), yt).backward()
        topt.step()

    return torch_step


def limit_blas_threads(threads: int) -> object:
    """Limit NumPy's BLAS (numbadrop's matmuls) to ``threads``; keep the result alive.

    Uses threadpoolctl when it is installed (it comes with scikit-learn).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return threadpool_limits(threads, user_api="blas")


class MLPTrainingStep:
    """DropoutNet 784-256-256-10, p=0.5, batch 128, float32: one SGD training step."""

    params = (("numbadrop", "torch"), (1, 2))
    param_names = ("peer", "threads")
    make = staticmethod(make_step)

    def setup(self, peer: str, threads: int) -> None:
        set_threads(threads, peer)
        self.blas_limit = limit_blas_threads(threads)
        self.step = self.make(peer)
        for _ in range(3):  # compile kernels, allocate optimizer state
            self.step()

    def time_step(self, peer: str, threads: int) -> None:
        self.step()


#: The residual MLP of the graph-autodiff benchmark: width, blocks, batch, classes.
RES_WIDTH, RES_BLOCKS, RES_BATCH, RES_CLASSES = 512, 4, 256, 10


class ResidualNet(nn.Module):
    """``RES_BLOCKS`` blocks of ``h = h + Dropout(0.1)(ReLU(Linear(h)))`` and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Linear(RES_WIDTH, RES_WIDTH) for _ in range(RES_BLOCKS)])
        self.drops = nn.Sequential(*[nn.Dropout(0.1) for _ in range(RES_BLOCKS)])
        self.relu = nn.ReLU()
        self.head = nn.Linear(RES_WIDTH, RES_CLASSES)

    def forward(self, h: np.ndarray) -> np.ndarray:
        for fc, drop in zip(self.blocks, self.drops, strict=True):
            h = h + drop(self.relu(fc(h)))
        return self.head(h)


def make_residual_step(peer: str, seed: int = 0) -> Callable[[], object]:
    """Forward, ``loss.backward()`` and an AdamW step of the residual MLP, same weights and data for both peers."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((RES_BATCH, RES_WIDTH), dtype=np.float32)
    y = rng.integers(0, RES_CLASSES, RES_BATCH)
    numbadrop.manual_seed(seed)
    model = ResidualNet()
    if peer == "numbadrop":
        opt = optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def step() -> None:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

        return step
    require_torch()
    tnn = torch.nn

    class TorchResidualNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = tnn.Sequential(*[tnn.Linear(RES_WIDTH, RES_WIDTH) for _ in range(RES_BLOCKS)])
            self.drops = tnn.Sequential(*[tnn.Dropout(0.1) for _ in range(RES_BLOCKS)])
            self.relu = tnn.ReLU()
            self.head = tnn.Linear(RES_WIDTH, RES_CLASSES)

        def forward(self, h):
            for fc, drop in zip(self.blocks, self.drops, strict=True):
                h = h + drop(self.relu(fc(h)))
            return self.head(h)

    return _torch_step(model, TorchResidualNet(), lambda ps: torch.optim.AdamW(ps, lr=1e-3), x, y)


class ResidualMLPTrainingStep(MLPTrainingStep):
    """Residual MLP, width 512, 4 dropout blocks, batch 256, float32: one AdamW step with ``loss.backward()``."""

    make = staticmethod(make_residual_step)


class TrainingStepOwnProcess:
    """Median ms of one training step, timed in a fresh process by ``asv_bench/process_steps.py``.

    This module imports numbadrop and torch together, and two libraries with
    thread pools slow each other in one process; the ``time_`` benchmarks above
    therefore read each library's step as it runs beside the other. These rows
    time each library alone (``company="alone"``) or in a process that also
    imported the other before (``"first"``) or after it (``"after"``).
    """

    params = (("numbadrop", "torch"), ("dropoutnet", "residual"), ("alone", "first", "after"))
    param_names = ("peer", "model", "company")
    timeout = 300
    number = 1
    repeat = 1

    def setup(self, peer: str, model: str, company: str) -> None:
        if "torch" in (peer, company) or company != "alone":
            require_torch()

    def track_step_ms(self, peer: str, model: str, company: str) -> float:
        script = Path(__file__).resolve().parents[1] / "process_steps.py"
        cmd = [sys.executable, str(script), "run", "--peer", peer, "--model", model, "--steps", "25"]
        if company != "alone":
            cmd += ["--with", "torch" if peer == "numbadrop" else "numbadrop", "--order", company]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.splitlines()[-1])["median_s"] * 1e3

    track_step_ms.unit = "ms"
