"""``numbadrop.examples.train_mlp``: a short run end to end, its determinism, and the full-length accuracy."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from numbadrop.examples import train_mlp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def as_tuples(histories):
    return [(h.p, h.train_loss, h.train_acc, h.test_loss, h.test_acc) for h in histories]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("train_mlp") / "f.png"
    histories = train_mlp.run(["--epochs", "3", "--out", str(path), "--no-progress"])
    return path, histories


def test_short_run_writes_a_png(short_run):
    path, _ = short_run
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100
    assert data[-8:-4] == b"IEND"


def test_short_run_histories(short_run):
    _, histories = short_run
    assert [h.p for h in histories] == [0.0, 0.5]  # the default comparison
    for h in histories:
        for series in (h.train_loss, h.train_acc, h.test_loss, h.test_acc):
            assert len(series) == 3
        assert all(0.0 <= a <= 1.0 for a in h.train_acc + h.test_acc)
        assert h.test_loss[-1] < h.test_loss[0]  # it learns within 3 epochs
        assert h.test_acc[-1] > 0.8
    assert as_tuples(histories[:1]) != as_tuples(histories[1:])  # p changes the training


@pytest.mark.slow  # opt-in (conftest.py): 6 more epochs of training, 7 s
def test_same_seed_same_histories(short_run):
    _, histories = short_run
    again = train_mlp.run(["--epochs", "3", "--out", "", "--no-progress"])
    assert as_tuples(again) == as_tuples(histories)


def test_other_seed_other_histories_and_printed_summary(tmp_path, capsys):
    path = tmp_path / "one.png"
    a = train_mlp.run(["--epochs", "1", "--p", "0.5", "--seed", "1", "--out", str(path), "--no-progress"])
    out = capsys.readouterr().out
    assert f"p=0.5: final test accuracy {a[0].test_acc[-1]:.2%}" in out
    assert f"figure saved to {path}" in out
    assert path.read_bytes()[:8] == PNG_MAGIC
    b = train_mlp.run(["--epochs", "1", "--p", "0.5", "--seed", "2", "--out", "", "--no-progress"])
    assert as_tuples(a) != as_tuples(b)
    assert "figure saved" not in capsys.readouterr().out


@pytest.mark.slow  # opt-in (conftest.py): about 25 s of CPU time, over 60 s of wall time on a loaded 2-core machine
def test_full_length_run_reaches_97_percent():
    """The default 40 epochs with p=0.5: the example's claim of >= 97% test accuracy on digits."""
    (history,) = train_mlp.run(["--p", "0.5", "--out", "", "--no-progress"])
    assert len(history.test_acc) == 40
    assert history.test_acc[-1] >= 0.97
