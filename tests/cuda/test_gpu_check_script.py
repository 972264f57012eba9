"""``asv_bench/gpu_check.py``, the script a GPU session runs once, works.

GPU time is scarce and comes in one short session, so the script must not
fail there for a reason the simulator could have shown: this runs its
``--simulator`` mode (first calls and the bit-identity table on small arrays)
in a subprocess and checks what it reports.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import SIMULATOR

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not SIMULATOR, reason="runs the script's --simulator mode (NUMBA_ENABLE_CUDASIM=1 run)")


def test_gpu_check_simulator_mode(tmp_path):
    report = tmp_path / "gpu_check.json"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    done = subprocess.run(
        [sys.executable, str(ROOT / "asv_bench" / "gpu_check.py"), "--simulator", "--json", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(report.read_text())
    cases = results["bit_identity"]
    bad = [case for case in cases if not case["ok"]]
    assert not bad, bad
    assert {case["op"] for case in cases} == {"dropout", "alpha", "alpha_grad", "mask"}
    assert {case["dtype"] for case in cases} == {"float16", "float32", "float64", "bool"}
    assert {case["kernel"] for case in cases} >= {"vec", "rows4", "general"}
    assert set(results["first_call"]["others_s"]) == {
        "dropout2d",
        "float16 dropout",
        "dropout backward",
        "alpha dropout",
        "dropout_mask",
    }
    family = results["family_identity"]
    assert family and all(case["ok"] for case in family), family
    assert {case["case"].split()[0].rstrip(",") for case in family} == {
        "drop_block2d",
        "drop_block3d",
        "gaussian_dropout",
        "gaussian_noise",
    }
    assert "bit-identity with CPU (cases)" in done.stdout
    assert "DropBlock, Gaussian, bfloat16 (cases)" in done.stdout
