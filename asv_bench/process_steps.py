"""Training steps of numbadrop and torch, each timed in its own process (alone, or beside the other library).

Two libraries that keep thread pools slow each other down when they share a
process, and by how much depends on which was imported first. So every case
here runs in a fresh interpreter: ``run`` times one library's step (median of
``--steps`` steps after a warm-up), optionally after importing the other
library (``--with torch --first``) or importing it afterwards (``--with torch
--after``, which also runs one step of the other library, so that its thread
pool exists). ``table`` runs every case in a fresh process, rounds in
alternation, and prints the medians and the ratios the issue's targets are
about (``numbadrop / torch`` alone; ``mixed / alone`` for each library).

Usage::

    python asv_bench/process_steps.py table --rounds 3 --steps 25
    python asv_bench/process_steps.py run --peer numbadrop --model residual --with torch --order first

Nothing here imports numbadrop or torch at module level: the process imports
exactly what the case names, in the order it names.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

#: DropoutNet 784-256-256-10 (p=0.5, batch 128, SGD with momentum) and the
#: residual MLP (width 512, 4 blocks of Dropout(0.1), batch 256, AdamW).
MODELS = ("dropoutnet", "residual")
DIMS, BATCH = (784, 256, 10), 128
RES_WIDTH, RES_BLOCKS, RES_BATCH, RES_CLASSES = 512, 4, 256, 10


def _data(model: str):
    import numpy as np

    rng = np.random.default_rng(0)
    if model == "dropoutnet":
        return rng.standard_normal((BATCH, DIMS[0]), dtype=np.float32), rng.integers(0, DIMS[2], BATCH)
    return rng.standard_normal((RES_BATCH, RES_WIDTH), dtype=np.float32), rng.integers(0, RES_CLASSES, RES_BATCH)


def numbadrop_step(model: str):
    """One step of numbadrop's model (``numbadrop.nn``, its autodiff and optimizers)."""
    import numbadrop
    from numbadrop import nn, optim
    from numbadrop.examples.train_mlp import DropoutNet

    x, y = _data(model)
    numbadrop.manual_seed(0)
    loss_fn = nn.CrossEntropyLoss()
    if model == "dropoutnet":
        net = DropoutNet(*DIMS, dropout_rate=0.5)
        opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            opt.zero_grad()
            loss_fn(net(x), y)
            net.backward(loss_fn.backward())
            opt.step()

        return step

    class ResidualNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(*[nn.Linear(RES_WIDTH, RES_WIDTH) for _ in range(RES_BLOCKS)])
            self.drops = nn.Sequential(*[nn.Dropout(0.1) for _ in range(RES_BLOCKS)])
            self.relu = nn.ReLU()
            self.head = nn.Linear(RES_WIDTH, RES_CLASSES)

        def forward(self, h):
            for fc, drop in zip(self.blocks, self.drops, strict=True):
                h = h + drop(self.relu(fc(h)))
            return self.head(h)

    net = ResidualNet()
    opt = optim.AdamW(net.parameters(), lr=1e-3)

    def res_step() -> None:
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    return res_step


def torch_step(model: str):
    """The same step in torch (``torch.nn.Dropout``), same shapes and data."""
    import torch

    x, y = (torch.from_numpy(a) for a in _data(model))
    torch.manual_seed(0)
    tnn = torch.nn
    if model == "dropoutnet":
        net = tnn.Sequential(
            tnn.Linear(DIMS[0], DIMS[1]), tnn.ReLU(), tnn.Dropout(0.5),
            tnn.Linear(DIMS[1], DIMS[1]), tnn.ReLU(), tnn.Dropout(0.5),
            tnn.Linear(DIMS[1], DIMS[2]),
        )  # fmt: skip
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    else:

        class ResidualNet(tnn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.blocks = tnn.ModuleList([tnn.Linear(RES_WIDTH, RES_WIDTH) for _ in range(RES_BLOCKS)])
                self.drops = tnn.ModuleList([tnn.Dropout(0.1) for _ in range(RES_BLOCKS)])
                self.head = tnn.Linear(RES_WIDTH, RES_CLASSES)

            def forward(self, h):
                for fc, drop in zip(self.blocks, self.drops, strict=True):
                    h = h + drop(torch.relu(fc(h)))
                return self.head(h)

        net = ResidualNet()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = tnn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    return step


STEPS = {"numbadrop": numbadrop_step, "torch": torch_step}


def run_case(peer: str, model: str, other: str | None, order: str, steps: int) -> float:
    """Median seconds of ``peer``'s step in this process (``other`` imported ``first`` or ``after``)."""
    import importlib

    if other and order == "first":
        importlib.import_module(other)
    step = STEPS[peer](model)
    if other and order == "after":
        STEPS[other](model)()  # the other library imported and its pools started after ours
    for _ in range(5):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


CASES = [
    (peer, model, other, order)
    for model in MODELS
    for peer, other_name in (("numbadrop", "torch"), ("torch", "numbadrop"))
    for other, order in ((None, "-"), (other_name, "first"), (other_name, "after"))
]


def _label(peer, model, other, order) -> str:
    return f"{peer} {model}" + ("" if other is None else f" ({other} imported {order})")


def table(rounds: int, steps: int) -> dict:
    """Every case in a fresh process, the cases in alternation within each round; medians over rounds."""
    samples: dict[tuple, list[float]] = {case: [] for case in CASES}
    for _ in range(rounds):
        for case in CASES:
            peer, model, other, order = case
            cmd = [sys.executable, __file__, "run", "--peer", peer, "--model", model, "--steps", str(steps)]
            if other:
                cmd += ["--with", other, "--order", order]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ)).stdout
            samples[case].append(json.loads(out.splitlines()[-1])["median_s"])
    medians = {case: statistics.median(v) for case, v in samples.items()}
    rows = []
    for case in CASES:
        peer, model, other, order = case
        alone = medians[(peer, model, None, "-")]
        rows.append(
            {
                "case": _label(*case),
                "median_ms": round(medians[case] * 1e3, 2),
                "rounds_ms": [round(s * 1e3, 2) for s in samples[case]],
                "vs_alone": round(medians[case] / alone, 2),
            }
        )
    ratios = {
        f"{model}: numbadrop/torch alone": round(
            medians[("numbadrop", model, None, "-")] / medians[("torch", model, None, "-")], 2
        )
        for model in MODELS
    }
    return {"rows": rows, "ratios": ratios, "load": os.getloadavg(), "rounds": rounds, "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--peer", choices=tuple(STEPS), required=True)
    r.add_argument("--model", choices=MODELS, required=True)
    r.add_argument("--with", dest="other", choices=tuple(STEPS))
    r.add_argument("--order", choices=("first", "after"), default="first")
    r.add_argument("--steps", type=int, default=25)
    t = sub.add_parser("table")
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)
    if args.cmd == "run":
        print(json.dumps({"median_s": run_case(args.peer, args.model, args.other, args.order, args.steps)}))
        return 0
    result = table(args.rounds, args.steps)
    width = max(len(row["case"]) for row in result["rows"])
    for row in result["rows"]:
        print(f"{row['case']:<{width}}  {row['median_ms']:8.2f} ms  x{row['vs_alone']:.2f} alone  {row['rounds_ms']}")
    for name, value in result["ratios"].items():
        print(f"{name}: {value}")
    print(f"load average: {result['load']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
