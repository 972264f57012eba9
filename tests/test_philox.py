"""Philox4x32-10 against Random123's known answers, in every form it is compiled to.

The same plain-Python function in ``numbadrop._core.philox`` runs as CPython, as
``numba.njit`` code and (elsewhere) as CUDA device code; ``tests/naive.py``
holds an independent NumPy transcription. All three must reproduce the
Random123 ``kat_vectors`` quoted in DESIGN.md and agree with each other.
"""

from __future__ import annotations

import math
from fractions import Fraction

import naive
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbadrop._core import philox as _philox
from numbadrop.kernels.cpu import dropout as _cpu

U32 = st.integers(0, 2**32 - 1)

# (counter, key, expected output), Random123 kat_vectors for philox4x32_10.
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@numba.njit
def _philox_compiled(c0, c1, c2, c3, k0, k1):
    return _cpu.philox(c0, c1, c2, c3, k0, k1)


_njit_philox = numba.njit(_philox.philox4x32_10)


@numba.njit
def _philox_many(ctr, key):
    """Compiled Philox over rows of ``ctr`` (the inlined form the kernels use)."""
    out = np.empty_like(ctr)
    for i in range(ctr.shape[0]):
        r = _cpu.philox(ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[0], key[1])
        out[i, 0] = r[0]
        out[i, 1] = r[1]
        out[i, 2] = r[2]
        out[i, 3] = r[3]
    return out


def _u64(values):
    return tuple(np.uint64(v) for v in values)


def _as_ints(result):
    return tuple(int(v) for v in result)


@pytest.mark.parametrize(("ctr", "key", "expected"), KATS)
def test_kat_plain_python(ctr, key, expected):
    assert _as_ints(_philox.philox4x32_10(*_u64(ctr), *_u64(key))) == expected


@pytest.mark.parametrize(("ctr", "key", "expected"), KATS)
def test_kat_njit(ctr, key, expected):
    assert _as_ints(_njit_philox(*_u64(ctr), *_u64(key))) == expected


@pytest.mark.parametrize(("ctr", "key", "expected"), KATS)
def test_kat_kernel_inline_form(ctr, key, expected):
    # _cpu.philox is the inline="always" form the CPU kernels call.
    assert _as_ints(_philox_compiled(*_u64(ctr), *_u64(key))) == expected


@pytest.mark.parametrize(("ctr", "key", "expected"), KATS)
def test_kat_naive(ctr, key, expected):
    out = naive.philox4x32_10(np.array([ctr], dtype=np.uint64), key)
    assert out.dtype == np.uint64
    assert _as_ints(out[0]) == expected


def test_kats_batched_naive_and_compiled():
    ctr = np.array([k[0] for k in KATS], dtype=np.uint64)
    expected = np.array([k[2] for k in KATS], dtype=np.uint64)
    # naive takes one key per call; the batched compiled form too.
    for i, (_, key, _) in enumerate(KATS):
        assert np.array_equal(naive.philox4x32_10(ctr[i : i + 1], key)[0], expected[i])
        key_arr = np.array(key, dtype=np.uint64)
        assert np.array_equal(_philox_many(ctr[i : i + 1], key_arr)[0], expected[i])


@settings(max_examples=40, deadline=None)
@given(ctr=st.tuples(U32, U32, U32, U32), key=st.tuples(U32, U32))
def test_three_implementations_agree(ctr, key):
    plain = _as_ints(_philox.philox4x32_10(*_u64(ctr), *_u64(key)))
    compiled = _as_ints(_njit_philox(*_u64(ctr), *_u64(key)))
    reference = _as_ints(naive.philox4x32_10(np.array([ctr], dtype=np.uint64), key)[0])
    assert plain == compiled == reference
    assert all(0 <= v < 2**32 for v in plain)


def test_compiled_agrees_with_naive_in_bulk():
    rng = np.random.default_rng(20261126)
    ctr = rng.integers(0, 2**32, size=(4096, 4), dtype=np.uint64)
    ctr[:8] = [[2**32 - 1] * 4, [0] * 4, [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] + [[2**31] * 4] * 2
    for key in [(0, 0), (2**32 - 1, 2**32 - 1), (0x9E3779B9, 0xBB67AE85), (12345, 678910)]:
        assert np.array_equal(_philox_many(ctr, np.array(key, np.uint64)), naive.philox4x32_10(ctr, key))


def test_changing_any_input_word_changes_output():
    # A transcription that dropped a counter or key word would miss this.
    base_ctr, base_key = (1, 2, 3, 4), (5, 6)
    base = _as_ints(_philox.philox4x32_10(*_u64(base_ctr), *_u64(base_key)))
    for i in range(4):
        ctr = list(base_ctr)
        ctr[i] ^= 1
        assert _as_ints(_philox.philox4x32_10(*_u64(ctr), *_u64(base_key))) != base
    for i in range(2):
        key = list(base_key)
        key[i] ^= 1
        assert _as_ints(_philox.philox4x32_10(*_u64(base_ctr), *_u64(key))) != base


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 40),
    first=st.one_of(st.integers(0, 100), st.integers(0, 2**62)),
    seed=st.integers(0, 2**64 - 1),
    offset=st.integers(0, 2**64 - 1),
)
def test_naive_words_follow_contract(n, first, seed, offset):
    """naive.words is itself checked against the contract's formula, one call per word."""
    words = naive.words(n, seed, offset, first)
    key = _u64((seed & 0xFFFFFFFF, seed >> 32))
    for i, j in enumerate(range(first, first + n)):
        g = j // 4
        ctr = _u64((g & 0xFFFFFFFF, g >> 32, offset & 0xFFFFFFFF, offset >> 32))
        assert int(words[i]) == int(_philox.philox4x32_10(*ctr, *key)[j % 4])


def test_naive_keep_mask_threshold():
    # Dropped iff r_j < ceil(p * 2**32): check against the words directly.
    seed, offset, n = 99, 3, 1000
    words = naive.words(n, seed, offset).astype(np.int64)
    for p in [0.0, 1e-300, 0.25, 0.5, 0.999, 1.0]:
        t = math.ceil(Fraction(p) * 2**32)  # exact rational arithmetic
        assert np.array_equal(naive.keep_mask((n,), p, seed, offset), words >= t)
