"""Keep the documentation honest.

* ``docs/contract_mask.py`` -- the pure-NumPy program that the mask-contract
  page shows (it is ``literalinclude``'d, so the page and this test read the
  same file) -- must reproduce :func:`numbadrop.dropout_mask` bit for bit.
* The ``>>>`` examples of the user-guide pages (their printed outputs are the
  real ones) must still print what the pages say.
"""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numbadrop as nd

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load_program():
    spec = importlib.util.spec_from_file_location("docs_contract_mask", DOCS / "contract_mask.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


program = _load_program()


def test_the_contract_page_shows_this_program():
    page = (DOCS / "contract.rst").read_text()
    assert ".. literalinclude:: contract_mask.py" in page


NORMALS_MARK = "# --- Normal variates"


def test_program_is_short():
    """The mask in 20 lines of code; the normal variates (after their mark) in 25 more."""
    text = (DOCS / "contract_mask.py").read_text()
    mask, normal = text.split(NORMALS_MARK) if NORMALS_MARK in text else (text, "")
    for part, limit in ((mask, 20), (normal, 25)):
        code = [line for line in part.splitlines() if line.strip() and not line.lstrip().startswith(("#", '"""'))]
        assert len(code) <= limit, len(code)


@pytest.mark.parametrize(
    ("ctr", "key", "expected"),
    [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_program_philox_known_answers(ctr, key, expected):
    out = program.philox4x32_10(np.array([ctr], np.uint64), *key)
    assert tuple(int(v) for v in out[0]) == expected


SHAPES = [(), (0,), (1,), (3,), (7,), (4, 5), (3, 1, 9), (2, 3, 4, 5), (1, 1027)]
SEEDS = [0, 1, 42, 0xFFFFFFFF, 2**32, 2**63 + 12345, 2**64 - 1]
OFFSETS = [0, 1, 5, 2**32 - 1, 2**32 + 7, 2**64 - 2]
PS = [0.0, 2.0**-33, 1e-9, 0.1, 0.3, 0.5, 0.7, 0.999, 1.0]


@pytest.mark.parametrize("shape", SHAPES)
def test_program_matches_dropout_mask(shape):
    for i, seed in enumerate(SEEDS):
        for j, offset in enumerate(OFFSETS):
            p = PS[(i + j) % len(PS)]
            expected = nd.dropout_mask(shape, p, rng=nd.Generator(seed, offset))
            got = program.keep_mask(shape, p, seed, offset)
            assert got.shape == expected.shape
            assert got.dtype == expected.dtype == np.bool_
            assert np.array_equal(got, expected), (shape, p, seed, offset)


@pytest.mark.parametrize("p", PS)
def test_program_matches_for_every_p(p):
    shape = (5, 37)
    for seed, offset in [(0, 0), (7, 3), (2**63 + 1, 2**33)]:
        expected = nd.dropout_mask(shape, p, rng=nd.Generator(seed, offset))
        assert np.array_equal(program.keep_mask(shape, p, seed, offset), expected)


@pytest.mark.parametrize(
    ("shape", "broadcast_dims"),
    [((4, 3, 5), (1, 2)), ((2, 6, 4), (1,)), ((2, 4, 4, 3), (1, 2)), ((3, 8, 5, 5), (-2, -1)), ((6, 2), (0, 1))],
)
def test_program_matches_broadcast_masks_and_dropout(shape, broadcast_dims):
    seed, offset, p = 2024, 9, 0.4
    expected = nd.dropout_mask(shape, p, rng=nd.Generator(seed, offset), broadcast_dims=broadcast_dims)
    keep = program.keep_mask(shape, p, seed, offset, broadcast_dims)
    assert np.array_equal(keep, expected)
    # ... and it is the mask that dropout itself applies
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = nd.dropout(x, p, rng=nd.Generator(seed, offset), broadcast_dims=broadcast_dims)
    scale = np.float32(1 / (1 - p))
    assert np.array_equal(y, np.where(keep, x * scale, np.float32(0)))


def test_program_matches_channel_dropout():
    x = np.ones((3, 5, 4, 4), np.float32)
    y = nd.dropout2d(x, 0.5, rng=nd.Generator(11, 2))
    keep = program.keep_mask(x.shape, 0.5, 11, 2, broadcast_dims=(2, 3))
    assert np.array_equal(y != 0, np.broadcast_to(keep, x.shape))


def test_program_matches_a_large_mask():
    shape = (257, 1031)  # several CPU work items, n % 4 != 0
    expected = nd.dropout_mask(shape, 0.5, rng=nd.Generator(3, 1))
    assert np.array_equal(program.keep_mask(shape, 0.5, 3, 1), expected)


GENERATED = {"_build", "auto_examples", "generated"}
DOCTEST_PAGES = sorted(
    str(path.relative_to(DOCS))
    for path in DOCS.rglob("*.rst")
    if not GENERATED & set(path.parts) and ">>> " in path.read_text()
)


@pytest.mark.parametrize("page", DOCTEST_PAGES)
def test_page_examples_print_what_the_page_says(page, monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS))  # the contract page imports contract_mask
    failures, tried = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        verbose=False,
        report=True,
    )
    assert tried > 0
    assert failures == 0, f"{failures} of {tried} examples in docs/{page} print something else (see the output above)"


@pytest.mark.parametrize("n", [0, 1, 3, 4, 7, 1027])
def test_program_normals_match_gaussian_noise(n):
    """The program's normal variates are numbadrop's, bit for bit (float64 noise of stddev 1 on zeros is z)."""
    for seed, offset in [(0, 0), (42, 1), (2**63 + 12345, 2**32 + 7), (2**64 - 1, 2**64 - 2)]:
        expected = nd.gaussian_noise(np.zeros(n), 1.0, rng=nd.Generator(seed, offset))
        assert np.array_equal(program.normals(n, seed, offset), expected), (n, seed, offset)


def test_program_normals_give_gaussian_dropout():
    x = np.random.default_rng(0).standard_normal((37, 29)).astype(np.float32)
    z = program.normals(x.size, 5, 3).reshape(x.shape)
    m = (1 + np.sqrt(0.3 / 0.7) * z).astype(np.float32)
    assert np.array_equal(nd.gaussian_dropout(x, 0.3, rng=nd.Generator(5, 3)), x * m)
