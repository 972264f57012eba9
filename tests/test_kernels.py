"""Every forward kernel, bit for bit against the slow NumPy reference (tests/naive.py).

Covers the dropout family and ``dropout_mask`` over shapes (0-size, 1-element,
odd lengths, rank 0..6, larger than the serial cutoff), memory layouts
(transposed, negative strides, sliced steps, broadcast views), dtypes,
``p`` from tiny to almost 1, seeds and offsets up to ``2**64 - 1``; plus the
``inplace``/identity/``p = 1`` semantics and how ``rng=`` picks ``(seed, offset)``.
"""

from __future__ import annotations

import copy
import math
import pickle
import zlib

import naive
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbadrop as nd
from numbadrop import backends as _engine
from numbadrop import random as ndrandom
from numbadrop._core import tunables as _tunables

DTYPES = [np.float16, np.float32, np.float64]
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
U64_MAX = 2**64 - 1
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape, dtype and bits (so NaN payloads and the sign of zero count)."""
    assert isinstance(actual, np.ndarray)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    uint = UINT[actual.dtype.itemsize]
    a = np.ascontiguousarray(actual).view(uint)
    e = np.ascontiguousarray(expected).view(uint)
    if not np.array_equal(a, e):
        bad = np.argwhere(a != e)
        first = tuple(bad[0])
        raise AssertionError(
            f"{len(bad)} of {a.size} elements differ; first at {first}: "
            f"got {actual[first]!r} expected {expected[first]!r}"
        )


# --- the functions under test and their references ---------------------------------------


def _channel_broadcast(spatial):
    def axes(ndim):
        return tuple(range(ndim - spatial, ndim))

    return axes


FUNCS = {
    # name: (numbadrop function, training positional, naive reference, mask broadcast axes(ndim))
    "dropout": (nd.dropout, naive.dropout, lambda ndim: ()),
    "dropout1d": (nd.dropout1d, naive.dropout, _channel_broadcast(1)),
    "dropout2d": (nd.dropout2d, naive.dropout, _channel_broadcast(2)),
    "dropout3d": (nd.dropout3d, naive.dropout, _channel_broadcast(3)),
    "alpha_dropout": (nd.alpha_dropout, naive.alpha_dropout, lambda ndim: ()),
    "feature_alpha_dropout": (nd.feature_alpha_dropout, naive.alpha_dropout, lambda ndim: tuple(range(2, ndim))),
}

#: Ranks each function accepts.
RANKS = {
    "dropout": range(0, 7),
    "dropout1d": (2, 3),
    "dropout2d": (3, 4),
    "dropout3d": (4, 5),
    "alpha_dropout": range(0, 7),
    "feature_alpha_dropout": range(2, 7),
}

SHAPES = {
    "dropout": [
        (),
        (0,),
        (1,),
        (3,),
        (5,),
        (7,),
        (13,),
        (4, 0, 3),
        (3, 5),
        (1, 1, 1),
        (2, 3, 5),
        (2, 3, 1, 5),
        (3, 1, 2, 5, 3),
        (2, 3, 2, 1, 3, 5),
    ],
    "dropout1d": [(0, 5), (1, 1), (3, 7), (5, 1), (1, 1, 9), (4, 0, 3), (3, 5, 7), (2, 1, 6)],
    "dropout2d": [(0, 2, 3), (1, 1, 1), (3, 5, 7), (2, 3, 5, 1), (2, 5, 3, 3), (1, 4, 1, 7)],
    "dropout3d": [(3, 2, 2, 3), (1, 1, 1, 1), (2, 3, 2, 3, 5), (2, 1, 1, 1, 7), (0, 3, 2, 2, 2)],
    "feature_alpha_dropout": [(0, 3), (1, 1), (5, 7), (2, 3, 5), (2, 3, 1, 5), (3, 2, 2, 3, 5), (2, 3, 2, 2, 1, 3)],
}
SHAPES["alpha_dropout"] = SHAPES["dropout"]

#: Shapes above 65536 elements: the tests that use them set SERIAL_CUTOFF to that, so that the parallel kernel runs.
PARALLEL_FROM = 1 << 16
LARGE = {
    "dropout": (70_003,),
    "dropout1d": (3, 11, 2_111),
    "dropout2d": (2, 9, 67, 61),
    "dropout3d": (7, 3, 13, 17, 19),
    "alpha_dropout": (3, 257, 97),
    "feature_alpha_dropout": (2, 5, 3, 2_243),
}
assert all(math.prod(s) > PARALLEL_FROM for s in LARGE.values())

#: The dtype the tests run the parallel kernels with. A parallel kernel is the serial kernel's
#: inlined work items in a prange over chunks: which elements a chunk gets does not depend on the
#: dtype, and the per-dtype code (loads, conversions, rounding) is the serial kernel's, tested for
#: every dtype and layout. Each parallel specialization costs ~10 s of compiling from a cold cache,
#: so the cold test run compiles them for one dtype (test_bfloat16.py adds bfloat16).
PARALLEL_DTYPE = np.float32


def call(name, x, p, **kwargs):
    fn = FUNCS[name][0]
    return fn(x, p, True, **kwargs)


def reference(name, x, p, seed, offset=0):
    _, ref, axes = FUNCS[name]
    return ref(x, p, seed, offset, axes(x.ndim))


# --- inputs ----------------------------------------------------------------------------------

SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -3e-39, 1e300, 65504.0, 6e-8]


def values(rng: np.random.Generator, shape, dtype, specials: bool = True) -> np.ndarray:
    """Random values over many magnitudes, with NaN, infinities, -0 and subnormals sprinkled in."""
    with np.errstate(over="ignore"):
        x = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 4, shape))
        if specials and x.size:
            where = rng.random(shape) < 0.15
            x[where] = rng.choice(SPECIALS, size=int(where.sum()))
        return x.astype(dtype)


LAYOUTS = ["C", "F", "reversed", "step", "mixed", "broadcast"]


def make_view(rng, shape, dtype, layout, specials=True) -> np.ndarray:
    """An array of ``shape`` with the given memory layout (a view where possible)."""
    ndim = len(shape)
    if layout == "C":
        return values(rng, shape, dtype, specials)
    if layout == "F":
        return np.asfortranarray(values(rng, shape, dtype, specials))
    if layout == "broadcast":
        small = tuple(1 if i % 2 == 0 else n for i, n in enumerate(shape))
        return np.broadcast_to(values(rng, small, dtype, specials), shape)
    if layout == "reversed":
        steps = [-1] * ndim
    elif layout == "step":
        steps = [2 + i % 2 for i in range(ndim)]
    else:  # mixed: alternating signs, steps 1..3, permuted memory order
        steps = [(1 + i % 3) * (-1) ** i for i in range(ndim)]
    perm = list(rng.permutation(ndim)) if layout == "mixed" else list(range(ndim))
    return strided_view(rng, shape, dtype, steps, perm, specials)


def strided_view(rng, shape, dtype, steps, perm, specials=True) -> np.ndarray:
    """View of a larger array: axis ``i`` has step ``steps[i]``; memory order ``perm``."""
    if not shape:
        return values(rng, (), dtype, specials)
    base_shape = [shape[a] * abs(steps[a]) + 1 for a in perm]
    base = values(rng, base_shape, dtype, specials)
    view = base[tuple(slice(None, None, steps[a]) for a in perm)]
    view = view[tuple(slice(0, shape[a]) for a in perm)]
    view = view.transpose(np.argsort(perm))
    assert view.shape == tuple(shape)
    return view


@st.composite
def strided_arrays(draw, dtype, ranks, max_side=6):
    ndim = draw(st.sampled_from(list(ranks)))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    steps = draw(st.lists(st.sampled_from([1, 1, 2, 3, -1, -2]), min_size=ndim, max_size=ndim))
    perm = draw(st.permutations(range(ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    x = strided_view(rng, shape, dtype, steps, list(perm))
    if ndim and draw(st.booleans()):  # broadcast view along some axes (stride 0)
        axes = draw(st.sets(st.integers(0, ndim - 1)))
        index = tuple(slice(0, 1) if a in axes else slice(None) for a in range(ndim))
        x = np.broadcast_to(x[index], shape)
    return x


PS = st.one_of(
    st.sampled_from([5e-324, 1e-300, 2**-32, 1e-9, 0.1, 0.5, 0.75, 0.9, 1 - 1e-9, 1 - 2**-53, 1.0]),
    st.floats(0.0, 1.0, exclude_max=False),
)
SEEDS = st.one_of(st.sampled_from([0, 1, 2**32 - 1, 2**32, U64_MAX]), st.integers(0, U64_MAX))
OFFSETS = st.one_of(st.sampled_from([0, 1, 2**32 - 1, 2**32, U64_MAX - 1]), st.integers(0, U64_MAX - 1))


# --- bit-for-bit against naive ---------------------------------------------------------------


def _shape_cases():
    for name, shapes in SHAPES.items():
        for shape in shapes:
            yield pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape)) or 'scalar'}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("name", "shape"), list(_shape_cases()))
def test_matches_naive_over_shapes(name, shape, dtype):
    rng = np.random.default_rng(zlib.crc32(repr((name, shape)).encode()))
    x = values(rng, shape, dtype)
    x0 = x.copy()
    for p, seed in [(0.5, 0), (0.3, 2**63 + 12345), (0.9, U64_MAX)]:
        y = call(name, x, p, rng=seed)
        assert_identical(y, reference(name, x, p, seed))
        assert y is not x
    assert_identical(x, x0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(FUNCS))
def test_matches_naive_over_layouts(name, dtype, layout):
    rng = np.random.default_rng(7)
    for shape in SHAPES[name][-3:]:
        x = make_view(rng, shape, dtype, layout)
        x0 = x.copy()
        g = nd.Generator(31337, offset=2**40 + 5)
        y = call(name, x, 0.4, rng=g)
        # NumPy order K where the kernels can walk it, else C order (test_front_door.py checks which)
        assert y.flags.c_contiguous or y.strides == np.empty_like(x, order="K").strides
        assert_identical(y, reference(name, x, 0.4, 31337, 2**40 + 5))
        assert_identical(x, x0)


@pytest.mark.parametrize("name", list(FUNCS))
def test_matches_naive_parallel_path(name, monkeypatch):
    """Larger than SERIAL_CUTOFF: the prange kernel runs, contiguous and strided."""
    dtype = PARALLEL_DTYPE
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", PARALLEL_FROM)
    rng = np.random.default_rng(3)
    shape = LARGE[name]
    for layout in ["C", "mixed"]:
        x = make_view(rng, shape, dtype, layout)
        y = call(name, x, 0.25, rng=nd.Generator(2**64 - 2, offset=2**33 + 1))
        assert_identical(y, reference(name, x, 0.25, 2**64 - 2, 2**33 + 1))


@PROPERTY
@given(
    data=st.data(),
    name=st.sampled_from(list(FUNCS)),
    dtype=st.sampled_from(DTYPES),
    p=PS,
    seed=SEEDS,
    offset=OFFSETS,
)
def test_matches_naive_property(data, name, dtype, p, seed, offset):
    x = data.draw(strided_arrays(dtype, RANKS[name]))
    x0 = x.copy()
    y = call(name, x, p, rng=nd.Generator(seed, offset))
    if p == 0.0:
        assert y is x
    else:
        assert_identical(y, reference(name, x, p, seed, offset))
    assert_identical(x, x0)


@PROPERTY
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    p=PS,
    seed=SEEDS,
    offset=OFFSETS,
)
def test_dropout_broadcast_dims_property(data, dtype, p, seed, offset):
    x = data.draw(strided_arrays(dtype, range(1, 6)))
    axes = data.draw(st.sets(st.integers(0, x.ndim - 1)))
    negative = data.draw(st.booleans())
    dims = tuple(a - x.ndim if negative else a for a in axes)
    y = nd.dropout(x, p, rng=nd.Generator(seed, offset), broadcast_dims=dims)
    if p == 0.0:
        assert y is x
    else:
        assert_identical(y, naive.dropout(x, p, seed, offset, tuple(axes)))


def test_dropout_broadcast_dims_int_and_tuple():
    x = values(np.random.default_rng(0), (3, 4, 5), np.float32)
    for dims, axes in [(1, (1,)), (-1, (2,)), ((0, 2), (0, 2)), ((2, 0), (0, 2)), ([-3, -2], (0, 1))]:
        y = nd.dropout(x, 0.5, rng=77, broadcast_dims=dims)
        assert_identical(y, naive.dropout(x, 0.5, 77, 0, axes))


# --- dropout_mask -----------------------------------------------------------------------------


@PROPERTY
@given(
    shape=st.lists(st.integers(0, 9), min_size=0, max_size=6).map(tuple),
    p=PS,
    seed=SEEDS,
    offset=OFFSETS,
    data=st.data(),
)
def test_dropout_mask_matches_naive(shape, p, seed, offset, data):
    axes = data.draw(st.sets(st.integers(0, len(shape) - 1))) if shape else set()
    keep = nd.dropout_mask(shape, p, rng=nd.Generator(seed, offset), broadcast_dims=tuple(axes))
    mshape = tuple(1 if a in axes else n for a, n in enumerate(shape))
    assert keep.dtype == np.bool_
    assert np.array_equal(keep, naive.keep_mask(mshape, p, seed, offset))
    assert keep.shape == mshape


@pytest.mark.parametrize("n", [1, 3, 4, 5, 2047, 2048, 2049, 70_001])
def test_dropout_mask_lengths(n):
    keep = nd.dropout_mask(n, 0.37, rng=2**64 - 1)
    assert keep.shape == (n,)
    assert np.array_equal(keep, naive.keep_mask((n,), 0.37, 2**64 - 1, 0))


def test_dropout_mask_is_the_mask_dropout_uses():
    rng = np.random.default_rng(1)
    for name in FUNCS:
        shape = SHAPES[name][-2]
        x = values(rng, shape, np.float32, specials=False) + np.float32(100)  # no zeros
        y = call(name, x, 0.5, rng=123)
        mask_axes = FUNCS[name][2](len(shape))
        keep = np.broadcast_to(nd.dropout_mask(shape, 0.5, rng=123, broadcast_dims=mask_axes), shape)
        if name.startswith("dropout"):
            assert np.array_equal(y != 0, keep)
        else:
            d = np.float32(naive.alpha_coefficients(0.5)[2])
            assert np.array_equal(y != d, keep)


def test_offset_and_start_at_the_top_of_the_counter_space():
    """Offsets up to 2**64 - 1 and mask indices beyond 2**32 groups (counter word c1)."""
    x = values(np.random.default_rng(2), (1001,), np.float32)
    y = np.empty_like(x)
    for seed, offset, start in [
        (U64_MAX, U64_MAX, 0),
        (0, U64_MAX, 2**34 + 3),
        (2**32, 2**32, 2**40 + 1),
        (5, 0, 2**62 + 2),
    ]:
        _engine.launch(x, y, "dropout", 0.5, seed, offset, (1,), start)
        keep = naive.words(x.size, seed, offset, start) >= np.uint64(2**31)
        expected = np.where(keep, x * np.float32(2.0), np.float32(0))
        assert_identical(y, expected)


def test_generator_at_last_usable_offset():
    x = values(np.random.default_rng(4), (9,), np.float64)
    g = nd.Generator(3, offset=U64_MAX - 1)
    assert_identical(nd.dropout(x, 0.5, rng=g), naive.dropout(x, 0.5, 3, U64_MAX - 1))
    assert g.offset == U64_MAX
    # the last offset, 2**64 - 1, is drawable too; after it the generator is exhausted
    assert_identical(nd.dropout(x, 0.5, rng=g), naive.dropout(x, 0.5, 3, U64_MAX))
    with pytest.raises(OverflowError, match="exhausted"):
        nd.dropout(x, 0.5, rng=g)


# --- special values, p edge cases -------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d"])
def test_dropped_nan_and_inf_are_exact_zero(name, dtype):
    shape = {"dropout": (64,), "dropout1d": (4, 8, 2), "dropout2d": (4, 8, 1, 2)}[name]
    x = np.full(shape, np.nan, dtype)
    x.reshape(-1)[::3] = np.inf
    x.reshape(-1)[1::3] = -np.inf
    y = call(name, x, 0.5, rng=11)
    keep = np.broadcast_to(nd.dropout_mask(shape, 0.5, rng=11, broadcast_dims=FUNCS[name][2](len(shape))), shape)
    assert 0 < keep.sum() < keep.size
    assert not np.any(y.view(UINT[y.itemsize])[~keep])  # +0.0, all bits clear
    assert np.array_equal(np.isnan(y), np.isnan(x) & keep)
    assert np.array_equal(np.isinf(y), np.isinf(x) & keep)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_dropout_of_nan_dropped_is_saturation_value(dtype):
    x = np.full(64, np.nan, dtype)
    y = nd.alpha_dropout(x, 0.5, True, rng=11)
    keep = nd.dropout_mask(64, 0.5, rng=11)
    d = np.dtype(dtype).type(-naive.ALPHA * naive.alpha_coefficients(0.5)[0] * 0.5)
    assert np.all(np.isnan(y[keep]))
    assert np.all(y[~keep] == d)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(FUNCS))
def test_p_one_gives_zeros_even_for_inf(name, dtype):
    shape = SHAPES[name][-2]
    x = np.full(shape, np.inf, dtype)
    x.reshape(-1)[::2] = np.nan
    x0 = x.copy()
    y = call(name, x, 1.0, rng=5)
    assert y is not x
    assert y.dtype == x.dtype and y.shape == x.shape
    assert not np.any(y.view(UINT[y.itemsize]))
    assert_identical(x, x0)


@pytest.mark.parametrize("name", list(FUNCS))
def test_training_false_and_p_zero_return_input(name):
    x = values(np.random.default_rng(0), SHAPES[name][-1], np.float32)
    x0 = x.copy()
    fn = FUNCS[name][0]
    assert fn(x, 0.5, False, rng=1) is x
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0, True, rng=1) is x
    assert fn(x, 0, True, rng=1) is x
    assert_identical(x, x0)


def test_alpha_functions_default_to_eval_like_torch():
    x = np.ones((2, 3), np.float32)
    assert nd.alpha_dropout(x, 0.5) is x
    assert nd.feature_alpha_dropout(x, 0.5) is x
    assert nd.dropout(x, 0.5) is not x


def test_tiny_p_drops_only_zero_words():
    # t = ceil(p * 2**32) = 1 for any 0 < p <= 2**-32: dropped iff r_j == 0.
    n = 5000
    for p in [5e-324, 2**-40, 2**-32]:
        keep = nd.dropout_mask(n, p, rng=9)
        assert np.array_equal(keep, naive.words(n, 9, 0) != 0)


@pytest.mark.parametrize("n", [64, 70_001])
def test_threshold_boundary_is_exact(n):
    """A word equal to t is kept, a word of t - 1 dropped: choose p so that t hits words exactly."""
    seed, offset = 2**64 - 11, 3
    words = naive.words(n, seed, offset).astype(np.int64)
    for k in [0, 1, 2, 3, 5, n // 2, n - 1]:
        r = int(words[k])
        for t in (r, r + 1):
            p = t / 2**32  # exact in float64, and ceil(p * 2**32) == t
            keep = nd.dropout_mask(n, p, rng=nd.Generator(seed, offset))
            assert np.array_equal(keep, words >= t)
            assert keep[k] == (t == r)
            y = nd.dropout(np.ones(n, np.float64), p, rng=nd.Generator(seed, offset))
            assert (y[k] != 0) == (t == r)
        # the next float above r / 2**32 already has t = r + 1
        p = np.nextafter(r / 2**32, 1.0)
        assert not nd.dropout_mask(n, p, rng=nd.Generator(seed, offset))[k]


def test_p_near_one_drops_all_but_top_words():
    n = 5000
    p = 1 - 2**-32  # t = 2**32 - 1: kept iff r_j == 0xFFFFFFFF
    assert np.array_equal(nd.dropout_mask(n, p, rng=9), naive.words(n, 9, 0) == 0xFFFFFFFF)
    x = np.ones(n, np.float64)
    assert_identical(nd.dropout(x, 1 - 2**-53, rng=9), np.zeros(n))


# --- inplace ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["C", "F", "reversed", "mixed"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(FUNCS))
def test_inplace_writes_into_x(name, dtype, layout, monkeypatch):
    """Every function, dtype and layout in place on the serial kernel; float32 also on the parallel one."""
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", PARALLEL_FROM)  # LARGE runs the parallel kernel
    rng = np.random.default_rng(5)
    for shape in [SHAPES[name][-1]] + ([LARGE[name]] if dtype == PARALLEL_DTYPE else []):
        x = make_view(rng, shape, dtype, layout)
        x0 = x.copy()
        out_of_place = call(name, x0, 0.3, rng=42)
        y = call(name, x, 0.3, rng=42, inplace=True)
        assert y is x
        assert_identical(x, out_of_place)
        assert_identical(x, reference(name, x0, 0.3, 42))


@pytest.mark.parametrize("name", list(FUNCS))
def test_inplace_p_one_and_identity(name):
    x = values(np.random.default_rng(0), SHAPES[name][-1], np.float32)
    x0 = x.copy()
    fn = FUNCS[name][0]
    assert fn(x, 0.5, False, True, rng=1) is x
    assert fn(x, 0.0, True, True, rng=1) is x
    assert_identical(x, x0)
    assert fn(x, 1.0, True, True, rng=1) is x
    assert not np.any(x.view(np.uint32))


def test_inplace_through_a_view_changes_only_the_view():
    base = values(np.random.default_rng(8), (6, 10), np.float64, specials=False)
    base0 = base.copy()
    view = base[1::2, ::-3]
    expected = naive.dropout(view.copy(), 0.5, 4)
    assert nd.dropout(view, 0.5, rng=4, inplace=True) is view
    assert_identical(view, expected)
    untouched = np.ones(base.shape, bool)
    untouched[1::2, ::-3] = False
    assert_identical(base[untouched], base0[untouched])


# --- rng= semantics -----------------------------------------------------------------------------


def test_int_rng_is_offset_zero_every_time():
    x = values(np.random.default_rng(0), (50,), np.float32)
    for _ in range(3):
        assert_identical(nd.dropout(x, 0.5, rng=2024), naive.dropout(x, 0.5, 2024, 0))
    _, state = nd.dropout(x, 0.5, rng=2024, return_state=True)
    assert (state.seed, state.offset) == (2024, 0)
    assert_identical(nd.dropout(x, 0.5, rng=np.uint64(2024)), naive.dropout(x, 0.5, 2024, 0))


def test_generator_advances_offset_by_one_per_call():
    x = values(np.random.default_rng(0), (50,), np.float32)
    g = nd.Generator(99, offset=7)
    for k in range(4):
        assert g.offset == 7 + k
        name = ["dropout", "alpha_dropout"][k % 2]
        assert_identical(call(name, x, 0.5, rng=g), reference(name, x, 0.5, 99, 7 + k))
    keep = nd.dropout_mask(50, 0.5, rng=g)
    assert np.array_equal(keep, naive.keep_mask((50,), 0.5, 99, 11))
    assert g.offset == 12
    assert g.seed == 99


def test_generator_repr_and_equality():
    g = nd.Generator(5, offset=3)
    assert repr(g) == "Generator(seed=5, offset=3)"
    assert g == nd.Generator(5, 3)
    assert g != nd.Generator(5, 4)
    assert g != nd.Generator(6, 3)


def test_numpy_generator_draws_one_64_bit_seed_per_call():
    x = values(np.random.default_rng(0), (40,), np.float32)
    rng = np.random.default_rng(123)
    twin = np.random.default_rng(123)
    for _ in range(3):
        seed = int(twin.integers(0, 2**64, dtype=np.uint64))
        y, state = nd.dropout(x, 0.5, rng=rng, return_state=True)
        assert (state.seed, state.offset) == (seed, 0)
        assert_identical(y, naive.dropout(x, 0.5, seed, 0))
        assert rng.bit_generator.state == twin.bit_generator.state
    # one raw 64-bit output per call, no more
    rng = np.random.default_rng(5)
    raw = np.random.default_rng(5).bit_generator.random_raw(2)
    nd.dropout_mask(8, 0.5, rng=rng)
    assert int(rng.bit_generator.random_raw()) == int(raw[1])


def test_none_uses_default_generator_and_manual_seed_resets_it():
    x = values(np.random.default_rng(0), (33,), np.float32)
    try:
        g = nd.manual_seed(2**64 - 5)
        assert g is ndrandom.default_generator
        first = nd.dropout(x, 0.5)
        second = nd.dropout(x, 0.5, rng=None)
        assert_identical(first, naive.dropout(x, 0.5, 2**64 - 5, 0))
        assert_identical(second, naive.dropout(x, 0.5, 2**64 - 5, 1))
        assert ndrandom.default_generator.offset == 2
        nd.manual_seed(2**64 - 5)
        assert_identical(nd.dropout(x, 0.5), first)
        nd.manual_seed(17)
        assert_identical(nd.dropout(x, 0.5), naive.dropout(x, 0.5, 17, 0))
    finally:
        nd.manual_seed(np.random.SeedSequence().entropy % 2**64)


def test_default_generator_seeded_from_entropy_differs_between_processes():
    import subprocess
    import sys

    code = "import numbadrop.random as r; print(r.default_generator.seed)"
    seeds = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(2)}
    assert len(seeds) == 2


def test_spawn_gives_distinct_reproducible_children():
    parent = nd.Generator(2**63 + 1, offset=5)
    children = parent.spawn(4)
    more = parent.spawn(2)
    seeds = [c.seed for c in children + more]
    assert len(set(seeds) | {parent.seed}) == 7
    assert all(c.offset == 0 and isinstance(c, nd.Generator) for c in children + more)
    assert parent.offset == 5  # spawning draws no mask
    twin = nd.Generator(2**63 + 1)
    assert [c.seed for c in twin.spawn(6)] == seeds  # reproducible, and 4 + 2 == 6 in sequence
    assert parent.spawn(0) == []
    x = np.ones(256, np.float32)
    masks = [nd.dropout(x, 0.5, rng=c) for c in children]
    assert len({m.tobytes() for m in masks}) == 4


def test_spawn_of_neighbouring_seeds_differ():
    a = {c.seed for c in nd.Generator(0).spawn(3)}
    b = {c.seed for c in nd.Generator(1).spawn(3)}
    assert not a & b


@pytest.mark.parametrize("clone", [lambda g: pickle.loads(pickle.dumps(g)), copy.deepcopy, copy.copy])
def test_generator_pickle_round_trip_preserves_state(clone):
    g = nd.Generator(12345678901234567890, offset=41)
    g.spawn(3)
    h = clone(g)
    assert h == g and h is not g
    assert (h.seed, h.offset) == (g.seed, g.offset)
    x = values(np.random.default_rng(0), (30,), np.float64)
    assert_identical(nd.dropout(x, 0.5, rng=h), nd.dropout(x, 0.5, rng=g))
    assert h.offset == g.offset == 42
    assert [c.seed for c in h.spawn(2)] == [c.seed for c in g.spawn(2)]
    nd.dropout(x, 0.5, rng=h)
    assert h.offset == 43 and g.offset == 42  # independent after the copy
