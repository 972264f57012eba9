"""``out=`` on the dropout family and ``DropoutState.backward``: NumPy's rules, bits of the naive reference."""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn

FORWARDS = {
    "dropout": (lambda x, **kw: nd.dropout(x, 0.4, rng=nd.Generator(5, 2), **kw), naive.dropout, ()),
    "dropout2d": (lambda x, **kw: nd.dropout2d(x, 0.4, rng=nd.Generator(5, 2), **kw), naive.dropout, (2, 3)),
    "alpha": (lambda x, **kw: nd.alpha_dropout(x, 0.4, True, rng=nd.Generator(5, 2), **kw), naive.alpha_dropout, ()),
    "feature_alpha": (
        lambda x, **kw: nd.feature_alpha_dropout(x, 0.4, True, rng=nd.Generator(5, 2), **kw),
        naive.alpha_dropout,
        (2, 3),
    ),
}


def data(shape=(3, 5, 4, 6), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_forward_into_out_matches_the_reference(name, dtype):
    call, reference, broadcast = FORWARDS[name]
    x = data(dtype=dtype)
    before = x.copy()
    out = np.full_like(x, np.nan)
    assert call(x, out=out) is out
    np.testing.assert_array_equal(out.view(np.uint8), reference(x, 0.4, 5, 2, broadcast).view(np.uint8))
    np.testing.assert_array_equal(x, before)  # the input is untouched


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_out_of_any_layout(layout):
    x = data()
    out = np.asfortranarray(np.empty_like(x)) if layout == "fortran" else np.empty((3, 5, 4, 12), np.float32)[..., ::2]
    nd.dropout(x, 0.4, rng=nd.Generator(5, 2), out=out)
    np.testing.assert_array_equal(out, naive.dropout(x, 0.4, 5, 2))


def test_backward_into_out():
    x = data()
    _, state = nd.dropout(x, 0.4, rng=nd.Generator(5, 2), return_state=True)
    g = data(seed=1)
    out = np.empty_like(g)
    assert state.backward(g, out=out) is out
    np.testing.assert_array_equal(out, state.backward(g))
    _, alpha = nd.alpha_dropout(x, 0.4, True, rng=nd.Generator(5, 2), return_state=True)
    alpha.backward(g, out=out)
    np.testing.assert_array_equal(out, naive.alpha_dropout_grad(g, 0.4, 5, 2))


def test_out_that_is_x_is_in_place_and_other_overlaps_read_x_as_it_was():
    x = data()
    expected = naive.dropout(x, 0.4, 5, 2)
    y = x.copy()
    assert nd.dropout(y, 0.4, rng=nd.Generator(5, 2), out=y) is y
    np.testing.assert_array_equal(y, expected)
    flat = np.random.default_rng(3).standard_normal(110).astype(np.float32)
    expected = naive.dropout(flat[:100].copy(), 0.4, 5, 2)
    nd.dropout(flat[:100], 0.4, rng=nd.Generator(5, 2), out=flat[10:])  # shifted by 10 elements
    np.testing.assert_array_equal(flat[10:], expected)


def test_pass_through_and_all_dropped_fill_out():
    x = data()
    out = np.full_like(x, np.nan)
    nd.dropout(x, 0.4, training=False, out=out)
    np.testing.assert_array_equal(out, x)
    nd.dropout(x, 0.0, rng=1, out=out)
    np.testing.assert_array_equal(out, x)
    nd.dropout(x, 1.0, rng=1, out=out)
    assert not out.view(np.uint32).any()  # +0 everywhere


@pytest.mark.parametrize(
    "out, error, match",
    [
        (np.empty((3, 5, 4, 5), np.float32), ValueError, "shape"),
        (np.empty((3, 5, 4, 6), np.float64), TypeError, "dtype"),
        ([0.0] * 6, TypeError, "same kind"),
        (np.ma.zeros((3, 5, 4, 6), np.float32), TypeError, "same kind"),
    ],
    ids=["shape", "dtype", "list", "masked"],
)
def test_bad_out_raises_before_drawing(out, error, match):
    gen = nd.Generator(1)
    with pytest.raises(error, match=match):
        nd.dropout(data(), 0.5, rng=gen, out=out)
    assert gen.offset == 0  # nothing drawn, nothing written


def test_read_only_out_and_inplace_with_out_raise():
    x = data()
    out = np.empty_like(x)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        nd.dropout(x, 0.5, rng=0, out=out)
    with pytest.raises(ValueError, match="not both"):
        nd.dropout(x, 0.5, True, True, rng=0, out=np.empty_like(x))


def test_out_on_a_recorded_value_raises():
    h = nn.Linear(6, 6)(data())
    with pytest.raises(TypeError, match="does not record"):
        nd.dropout(h, 0.5, rng=0, out=np.empty(h.shape, h.dtype))


def test_dask_has_no_out():
    da = pytest.importorskip("dask.array")
    x = da.from_array(data(), chunks=2)
    with pytest.raises(TypeError, match="same kind"):
        nd.dropout(x, 0.5, rng=0, out=np.empty(x.shape, np.float32))


def test_torch_cpu_tensor_out():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(data())
    out = torch.empty_like(x)
    assert nd.dropout(x, 0.4, rng=nd.Generator(5, 2), out=out) is out
    np.testing.assert_array_equal(out.numpy(), naive.dropout(x.numpy(), 0.4, 5, 2))
