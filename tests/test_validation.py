"""Bad arguments raise at the door: the right exception type, a message naming the
argument and the value received, and the input left untouched."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn

FORWARDS = {
    "dropout": (nd.dropout, (2, 3, 4)),
    "dropout1d": (nd.dropout1d, (2, 3, 4)),
    "dropout2d": (nd.dropout2d, (2, 3, 4, 5)),
    "dropout3d": (nd.dropout3d, (2, 3, 2, 4, 5)),
    "alpha_dropout": (nd.alpha_dropout, (2, 3, 4)),
    "feature_alpha_dropout": (nd.feature_alpha_dropout, (2, 3, 4)),
}
LAYERS = [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout]
LAYER_SHAPES = {
    nn.Dropout: (2, 3, 4),
    nn.Dropout1d: (2, 3, 4),
    nn.Dropout2d: (2, 3, 4, 5),
    nn.Dropout3d: (2, 3, 2, 4, 5),
    nn.AlphaDropout: (2, 3, 4),
    nn.FeatureAlphaDropout: (2, 3, 4),
}


def fresh(shape, dtype=np.float32):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return x, x.copy()


def untouched(x, x0):
    assert x.dtype == x0.dtype and x.shape == x0.shape and x.tobytes() == x0.tobytes()


# --- p ------------------------------------------------------------------------------------------

BAD_P_VALUE = [-0.1, 1.1, -1e-300, 1 + 2**-52, math.nan, math.inf, -math.inf, np.float32(2.0), 2]
BAD_P_TYPE = [True, False, np.bool_(True), "0.5", None, 0.5j, [0.5], np.array(0.5), object()]


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("p", BAD_P_VALUE, ids=repr)
def test_p_out_of_range_or_nan_is_value_error(name, p):
    fn, shape = FORWARDS[name]
    x, x0 = fresh(shape)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got " + re.escape(repr(p))):
        fn(x, p, True, True, rng=1)
    untouched(x, x0)


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("p", BAD_P_TYPE, ids=lambda v: type(v).__name__ + repr(v)[:10])
def test_p_of_wrong_type_is_type_error(name, p):
    fn, shape = FORWARDS[name]
    x, x0 = fresh(shape)
    with pytest.raises(TypeError, match=r"p must be a real number in \[0, 1\], got " + re.escape(repr(p))):
        fn(x, p, True, True, rng=1)
    untouched(x, x0)


@pytest.mark.parametrize("p", [-0.5, math.nan, 1.5])
def test_p_checked_even_when_not_training(p):
    x, x0 = fresh((3, 4))
    with pytest.raises(ValueError, match="p must be in"):
        nd.dropout(x, p, training=False)
    untouched(x, x0)


@pytest.mark.parametrize("p", [-0.5, math.nan, 1.5])
def test_dropout_mask_p(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        nd.dropout_mask((3, 4), p, rng=1)
    with pytest.raises(TypeError, match="p must be a real number"):
        nd.dropout_mask((3, 4), "0.5", rng=1)


def test_p_accepts_other_real_numbers():
    from fractions import Fraction

    x = np.ones(8, np.float32)
    reference = nd.dropout(x, 0.5, rng=3)
    for p in [np.float32(0.5), np.float64(0.5), Fraction(1, 2)]:
        assert np.array_equal(nd.dropout(x, p, rng=3), reference)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
def test_layer_p_checked_at_construction(layer):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        layer(p=1.5)
    with pytest.raises(TypeError, match=r"p must be a real number in .*got '0.5'"):
        layer(p="0.5")
    with pytest.raises(TypeError, match="inplace must be a bool, got 1"):
        layer(0.5, inplace=1)


# --- dtypes ---------------------------------------------------------------------------------------

BAD_DTYPES = [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_, np.complex64, np.complex128, object]


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
def test_non_float_arrays_are_type_errors(name, dtype):
    fn, shape = FORWARDS[name]
    x = np.ones(shape, dtype)
    x0 = x.copy()
    with pytest.raises(
        TypeError, match=r"x must have dtype float16, float32 or float64, got dtype " + np.dtype(dtype).name
    ):
        fn(x, 0.5, True, True, rng=1)
    assert np.array_equal(x, x0)


def test_non_array_inputs():
    with pytest.raises(TypeError, match="x must have dtype float16, float32 or float64, got dtype int64"):
        nd.dropout([1, 2, 3], 0.5, rng=1)
    with pytest.raises(TypeError, match="x must be an array of floats, got list"):
        nd.dropout([[1.0], [1.0, 2.0]], 0.5, rng=1)
    with pytest.raises(TypeError, match="got dtype <U"):
        nd.dropout("abc", 0.5, rng=1)
    # a list of floats is an array-like, converted like np.asarray
    assert np.array_equal(
        nd.dropout([1.0, 2.0, 3.0, 4.0], 0.5, rng=1), nd.dropout(np.array([1.0, 2.0, 3.0, 4.0]), 0.5, rng=1)
    )


# --- ranks of channel variants ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        (
            "dropout1d",
            (5,),
            r"dropout1d expects a 3-D \(N, C, ...\) or 2-D \(C, ...\) input, got an array of shape \(5,\)",
        ),
        ("dropout1d", (2, 3, 4, 5), r"dropout1d expects .* got an array of shape \(2, 3, 4, 5\)"),
        ("dropout1d", (), r"dropout1d expects .* shape \(\)"),
        (
            "dropout2d",
            (3, 4),
            r"dropout2d expects a 4-D \(N, C, ...\) or 3-D \(C, ...\) input, got an array of shape \(3, 4\)",
        ),
        ("dropout2d", (1, 2, 3, 4, 5), r"dropout2d expects .* \(1, 2, 3, 4, 5\)"),
        (
            "dropout3d",
            (2, 3, 4),
            r"dropout3d expects a 5-D \(N, C, ...\) or 4-D \(C, ...\) input, got an array of shape \(2, 3, 4\)",
        ),
        ("dropout3d", (1, 1, 1, 1, 1, 1), r"dropout3d expects .* \(1, 1, 1, 1, 1, 1\)"),
        ("feature_alpha_dropout", (7,), r"feature_alpha_dropout expects an \(N, C, ...\) input, got shape \(7,\)"),
        ("feature_alpha_dropout", (), r"feature_alpha_dropout expects .* got shape \(\)"),
    ],
)
def test_wrong_rank_for_channel_variants(name, shape, message):
    fn = FORWARDS[name][0]
    x, x0 = fresh(shape)
    with pytest.raises(ValueError, match=message):
        fn(x, 0.5, True, True, rng=1)
    untouched(x, x0)
    with pytest.raises(ValueError, match=message):  # also in eval mode
        fn(x, 0.5, False)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [(nn.Dropout1d, (4,)), (nn.Dropout2d, (4, 4)), (nn.Dropout3d, (4,)), (nn.FeatureAlphaDropout, (4,))],
)
def test_layers_check_rank(layer, shape):
    with pytest.raises(ValueError, match=r"expects .*shape \(4"):
        layer(0.5)(np.ones(shape, np.float32))


# --- broadcast_dims -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "error", "message"),
    [
        ((0, 0), ValueError, r"broadcast_dims has repeated axes: \(0, 0\)"),
        ((1, -2), ValueError, r"broadcast_dims has repeated axes: \(1, -2\)"),
        (3, ValueError, r"broadcast_dims axis 3 is out of range for an array of 3 dimensions"),
        ((0, -4), ValueError, r"broadcast_dims axis -4 is out of range for an array of 3 dimensions"),
        ("0", TypeError, r"broadcast_dims must be an int or a sequence of ints, got '0'"),
        (1.0, TypeError, r"broadcast_dims must be an int or a sequence of ints, got 1.0"),
        ((1.0,), TypeError, r"broadcast_dims must contain ints, got \(1.0,\)"),
        ((True,), TypeError, r"broadcast_dims must contain ints, got \(True,\)"),
        (None, TypeError, r"broadcast_dims must be an int or a sequence of ints, got None"),
    ],
    ids=repr,
)
def test_bad_broadcast_dims(dims, error, message):
    x, x0 = fresh((2, 3, 4))
    with pytest.raises(error, match=message):
        nd.dropout(x, 0.5, inplace=True, rng=1, broadcast_dims=dims)
    untouched(x, x0)
    with pytest.raises(error, match=message):
        nd.dropout_mask((2, 3, 4), 0.5, rng=1, broadcast_dims=dims)


def test_bad_mask_shape():
    with pytest.raises(ValueError, match=r"shape must hold non-negative ints, got \(3, -1\)"):
        nd.dropout_mask((3, -1), 0.5, rng=1)
    with pytest.raises(ValueError, match=r"shape must hold non-negative ints, got \(?-2"):
        nd.dropout_mask(-2, 0.5, rng=1)
    with pytest.raises(TypeError, match=r"shape must be an int or a tuple of ints, got 2.5"):
        nd.dropout_mask(2.5, 0.5, rng=1)
    with pytest.raises((TypeError, ValueError), match=r"shape .*got \(2, 'a'\)"):
        nd.dropout_mask((2, "a"), 0.5, rng=1)


# --- seeds and rng ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**64, 2**70, -(2**63)], ids=repr)
def test_seed_out_of_range(seed):
    x, x0 = fresh((4, 5))
    with pytest.raises(ValueError, match=rf"rng must be in \[0, 2\*\*64\), got {seed}"):
        nd.dropout(x, 0.5, inplace=True, rng=seed)
    untouched(x, x0)
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*64\), got {seed}"):
        nd.Generator(seed)
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*64\), got {seed}"):
        nd.manual_seed(seed)
    with pytest.raises(ValueError, match=rf"offset must be in \[0, 2\*\*64\), got {seed}"):
        nd.Generator(1, offset=seed)
    with pytest.raises(ValueError, match=rf"rng must be in \[0, 2\*\*64\), got {seed}"):
        nn.Dropout(0.5, rng=seed)


@pytest.mark.parametrize("seed", [1.0, "1", True, np.bool_(False), 1 + 0j, np.float64(3)], ids=repr)
def test_seed_not_an_int(seed):
    with pytest.raises(TypeError, match=r"seed must be an integer in \[0, 2\*\*64\), got " + re.escape(repr(seed))):
        nd.Generator(seed)
    with pytest.raises(TypeError, match=r"seed must be an integer"):
        nd.manual_seed(seed)
    with pytest.raises(TypeError, match=r"offset must be an integer in \[0, 2\*\*64\), got " + re.escape(repr(seed))):
        nd.Generator(1, offset=seed)


@pytest.mark.parametrize(
    "rng", [1.0, "1", True, [1], object(), np.random.RandomState(0)], ids=lambda v: type(v).__name__
)
def test_rng_of_wrong_type(rng):
    x, x0 = fresh((4, 5))
    with pytest.raises(
        TypeError, match=r"rng must be None, an int seed, a numbadrop\.Generator or a numpy\.random\.Generator, got "
    ):
        nd.dropout(x, 0.5, inplace=True, rng=rng)
    untouched(x, x0)
    with pytest.raises(TypeError, match=r"rng must be None, an int seed"):
        nd.dropout_mask(4, 0.5, rng=rng)


def test_numpy_integer_seeds_are_accepted():
    x = np.ones(16, np.float32)
    expected = nd.dropout(x, 0.5, rng=5)
    for seed in [np.int64(5), np.uint64(5), np.uint8(5)]:
        assert np.array_equal(nd.dropout(x, 0.5, rng=seed), expected)
        assert nd.Generator(seed).seed == 5
    assert nd.Generator(np.uint64(2**64 - 1)).seed == 2**64 - 1


@pytest.mark.parametrize("n", [-1, 1.5, "2", True, None], ids=repr)
def test_spawn_bad_count(n):
    g = nd.Generator(1)
    with pytest.raises(ValueError, match=r"n must be a non-negative integer, got " + re.escape(repr(n))):
        g.spawn(n)


# --- booleans -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("arg", ["training", "inplace", "return_state"])
@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0], ids=repr)
def test_flags_must_be_bool(name, arg, value):
    fn, shape = FORWARDS[name]
    x, x0 = fresh(shape)
    kwargs = dict(training=True, inplace=False, return_state=False)
    kwargs[arg] = value
    with pytest.raises(TypeError, match=rf"{arg} must be a bool, got {re.escape(repr(value))}"):
        fn(x, 0.5, rng=1, **kwargs)
    untouched(x, x0)


def test_numpy_bools_are_accepted_as_flags():
    x = np.ones(8, np.float32)
    assert nd.dropout(x, 0.5, training=np.bool_(False)) is x
    assert nd.dropout(x, 0.5, np.bool_(True), np.bool_(True), rng=1) is x


# --- read-only arrays ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FORWARDS))
def test_inplace_on_read_only_array(name):
    fn, shape = FORWARDS[name]
    x, x0 = fresh(shape)
    x.flags.writeable = False
    for p, training in [(0.5, True), (0.0, True), (1.0, True), (0.5, False)]:
        with pytest.raises(ValueError, match="inplace=True needs a writeable array, but x is read-only"):
            fn(x, p, training, True, rng=1)
    untouched(x, x0)
    b = np.broadcast_to(x0[:1], shape)
    with pytest.raises(ValueError, match="x is read-only"):
        fn(b, 0.5, True, True, rng=1)
    # out of place is fine on a read-only array
    assert np.array_equal(fn(x, 0.5, True, rng=1), fn(x0, 0.5, True, rng=1), equal_nan=True)


def test_backward_inplace_on_read_only_grad():
    _, state = nd.dropout(np.ones((3, 4), np.float32), 0.5, rng=1, return_state=True)
    g, g0 = fresh((3, 4))
    g.flags.writeable = False
    with pytest.raises(ValueError, match="inplace=True needs a writeable array, but grad is read-only"):
        state.backward(g, inplace=True)
    untouched(g, g0)


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dropout", "identity", "zero", "alpha"])
def test_gradient_of_wrong_shape(kind):
    x = np.ones((2, 3), np.float32)
    if kind == "alpha":
        _, state = nd.alpha_dropout(x, 0.5, True, rng=1, return_state=True)
    else:
        p, training = {"dropout": (0.5, True), "identity": (0.5, False), "zero": (1.0, True)}[kind]
        _, state = nd.dropout(x, p, training, rng=1, return_state=True)
    for shape in [(3, 2), (6,), (2, 3, 1), ()]:
        g, g0 = fresh(shape)
        with pytest.raises(ValueError, match=rf"grad has shape {re.escape(str(shape))}, expected \(2, 3\)"):
            state.backward(g, inplace=True)
        untouched(g, g0)
    with pytest.raises(TypeError, match="grad must have dtype float16, float32 or float64, got dtype int32"):
        state.backward(np.ones((2, 3), np.int32))
    with pytest.raises(TypeError, match="inplace must be a bool, got 1"):
        state.backward(np.ones((2, 3), np.float32), inplace=1)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
def test_layer_backward_before_forward(layer):
    m = layer(0.5, rng=0)
    with pytest.raises(RuntimeError, match=rf"{layer.__name__}.backward\(\) needs a training-mode forward first"):
        m.backward(np.ones(LAYER_SHAPES[layer], np.float32))


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
def test_layer_backward_after_eval_forward(layer):
    x = np.ones(LAYER_SHAPES[layer], np.float32)
    m = layer(0.5, rng=0)
    m(x)
    m.backward(x)  # fine after a training forward
    m.eval()
    m(x)
    with pytest.raises(RuntimeError, match=rf"{layer.__name__}.backward\(\) needs a training-mode forward first"):
        m.backward(x)
    m.train()
    with pytest.raises(RuntimeError, match="needs a training-mode forward"):
        m.backward(x)  # switching back is not a forward


def test_layer_backward_gradient_of_wrong_shape():
    m = nn.Dropout(0.5, rng=0)
    m(np.ones((2, 3), np.float32))
    g, g0 = fresh((3, 2))
    with pytest.raises(ValueError, match=r"grad has shape \(3, 2\), expected .*\(2, 3\)"):
        m.backward(g)
    untouched(g, g0)


def test_module_base_class_errors():
    m = nn.Module()
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        m(np.ones(3))
    with pytest.raises(RuntimeError, match=r"Module\.backward"):
        m.backward(np.ones(3))
    with pytest.raises(TypeError, match="mode must be a bool, got 1"):
        m.train(1)


@pytest.mark.parametrize("training", [True, False])
def test_rng_checked_even_when_no_mask_is_drawn(training):
    x, x0 = fresh((3, 4))
    with pytest.raises(TypeError, match=r"rng must be None, an int seed.*got 'bad'"):
        nd.dropout(x, 0.0, training=training, rng="bad")
    untouched(x, x0)
    with pytest.raises(TypeError, match=r"rng must be None, an int seed.*got 'bad'"):
        nn.Dropout(0.5, rng="bad")


def test_generator_advances_once_per_training_call_whatever_p():
    x = np.ones((2, 3), np.float32)
    g = nd.Generator(9)
    for p in (0.0, 0.5, 1.0):
        nd.dropout(x, p, rng=g)
    assert g.offset == 3
    nd.dropout(x, 0.5, training=False, rng=g)
    assert g.offset == 3
    for p in (0.0, 0.5, 1.0):
        nd.dropout_mask(x.shape, p, rng=g)
    assert g.offset == 6


def test_dropout_mask_shape_entries_must_be_ints():
    with pytest.raises(TypeError, match=r"shape must hold ints, got \(2, 'a'\)"):
        nd.dropout_mask((2, "a"), 0.5, rng=0)
    with pytest.raises(ValueError, match=r"shape must hold non-negative ints, got \(2, -1\)"):
        nd.dropout_mask((2, -1), 0.5, rng=0)
