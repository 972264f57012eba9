"""Agreement with ``torch.nn.functional`` dropout in distribution-free ways.

torch draws its masks from its own generator, so the masks themselves cannot
agree; what must agree is everything given the mask: the values of kept and
dropped units, the channel structure, the identity cases and the gradients.
Our mask is injected into torch's formulas (as torch's CPU kernel writes them:
``noise = bernoulli(1 - p).div_(1 - p); x * noise``, and for alpha dropout
``b = (noise - 1) * alpha * a + alpha * a * p; x * (noise * a) + b``).

Where the contract deliberately differs from torch it is stated here:
- the scale is ``float32(1 / (1 - p))`` rounded once; torch's float32 kernel
  computes ``1 / float32(1 - p)`` in float32, which differs by one ulp for some
  ``p`` (for 0.1, 0.2, ..., 0.9 and every ``p`` with ``1 - p`` a power of two the
  two agree), and ``x * mask / (1 - p)`` divides instead of multiplying;
- a dropped unit is exactly ``+0`` (torch's ``x * 0`` is ``-0`` for negative
  ``x`` and NaN for infinite ``x``);
- alpha dropout's dropped value is ``-alpha * a * (1 - p)`` rounded once;
  torch's float32 ``-alpha*a + alpha*a*p`` loses digits to cancellation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbadrop as nd

torch = pytest.importorskip("torch")
F = torch.nn.functional

ALPHA = 1.7580993408473766
COMMON_P = [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9]
POWER_OF_TWO_KEEP = [0.5, 0.75, 0.875, 0.9375, 1 - 2**-10]


def finite_data(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)).astype(dtype)


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def torch_noise(keep, p):
    """torch's CPU dropout noise for a given keep-mask: ``bernoulli_(1-p).div_(1-p)``."""
    return torch.from_numpy(keep).to(torch.float32).div_(1 - p)


# --- dropout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("p", POWER_OF_TWO_KEEP)
def test_x_times_mask_over_keep_probability_is_bitwise_ours(p, dtype):
    """``x * mask / (1 - p)`` in torch equals ours bit for bit when ``1 - p = 2**-k``."""
    x = finite_data((33, 65), dtype)
    keep = nd.dropout_mask(x.shape, p, rng=7)
    ours = nd.dropout(x, p, rng=7)
    theirs = (torch.from_numpy(x) * torch.from_numpy(keep) / (1 - p)).numpy()
    assert np.array_equal(bits(ours)[keep], bits(theirs)[keep])
    assert not np.any(bits(ours)[~keep])  # ours: +0
    assert np.all(theirs[~keep] == 0)  # torch: +0 or -0


@pytest.mark.parametrize("p", COMMON_P)
def test_torch_cpu_dropout_arithmetic_with_our_mask_is_bitwise_ours(p):
    x = finite_data((40, 50), np.float32, seed=1)
    keep = nd.dropout_mask(x.shape, p, rng=8)
    ours = nd.dropout(x, p, rng=8)
    theirs = (torch.from_numpy(x) * torch_noise(keep, p)).numpy()
    assert np.array_equal(bits(ours)[keep], bits(theirs)[keep])
    assert np.array_equal(ours == 0, theirs == 0)


@settings(max_examples=50, deadline=None)
@given(p=st.floats(1e-6, 1 - 1e-6), seed=st.integers(0, 2**64 - 1))
def test_any_p_agrees_with_torch_formula_to_two_ulp(p, seed):
    x = finite_data((2000,), np.float32, seed=seed % 1000)
    keep = nd.dropout_mask(x.shape, p, rng=seed)
    ours = nd.dropout(x, p, rng=seed)
    divided = (torch.from_numpy(x) * torch.from_numpy(keep) / (1 - p)).numpy()
    noise = (torch.from_numpy(x) * torch_noise(keep, p)).numpy()
    np.testing.assert_array_max_ulp(ours[keep], divided[keep], maxulp=2)
    np.testing.assert_array_max_ulp(ours[keep], noise[keep], maxulp=2)
    assert np.array_equal(ours == 0, divided == 0)
    # and exactly torch's product once the scale is the contract's
    scaled = (torch.from_numpy(x) * torch.tensor(np.float32(1 / (1 - p)))).numpy()
    assert np.array_equal(bits(ours)[keep], bits(scaled)[keep])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_torch_functional_dropout_kept_values_equal_ours(p):
    """Whatever torch's own kernel keeps carries the value ours gives a kept unit."""
    torch.manual_seed(0)
    x = finite_data((100_000,), np.float32, seed=2)
    theirs = F.dropout(torch.from_numpy(x.copy()), p, training=True).numpy()
    ours_if_kept = x * np.float32(1 / (1 - p))  # the contract's kept value
    kept = theirs != 0
    assert 0 < kept.sum() < kept.size
    assert np.array_equal(bits(theirs)[kept], bits(ours_if_kept)[kept])
    # our kept values are the same numbers
    ours = nd.dropout(x, p, rng=1)
    both = kept & (ours != 0)
    assert both.sum() > 0
    assert np.array_equal(bits(ours)[both], bits(theirs)[both])


def test_identity_cases_return_the_input_like_torch():
    x = finite_data((4, 5))
    t = torch.from_numpy(x.copy())
    for kwargs in [dict(p=0.5, training=False), dict(p=0.0, training=True)]:
        assert F.dropout(t, **kwargs) is t
        assert nd.dropout(x, **kwargs) is x
    assert F.dropout(t, 0.5, training=True, inplace=True) is t
    assert nd.dropout(x, 0.5, True, True, rng=1) is x


def test_p_one_gives_zeros_like_torch_on_finite_input():
    x = finite_data((6, 7))
    theirs = F.dropout(torch.from_numpy(x.copy()), 1.0, training=True).numpy()
    ours = nd.dropout(x, 1.0, rng=1)
    assert np.array_equal(ours, theirs)
    assert not np.any(bits(ours))


# --- channel variants -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours_fn", "theirs_fn", "shape", "spatial"),
    [
        (nd.dropout1d, F.dropout1d, (8, 16, 5), 1),
        (nd.dropout1d, F.dropout1d, (16, 5), 1),  # unbatched (C, L)
        (nd.dropout2d, F.dropout2d, (4, 16, 3, 3), 2),
        # no unbatched dropout2d: torch 2.x still reads a 3-D input as (N, C, L), with a warning
        (nd.dropout3d, F.dropout3d, (2, 16, 2, 3, 2), 3),
        (nd.dropout3d, F.dropout3d, (16, 2, 3, 2), 3),
    ],
    ids=lambda v: v.__name__ if callable(v) else str(v),
)
def test_channel_dropout_structure_matches_torch(ours_fn, theirs_fn, shape, spatial):
    torch.manual_seed(1)
    x = finite_data(shape, seed=3) + np.float32(1e4)  # no zeros
    p = 0.5
    ours = ours_fn(x, p, rng=3)
    theirs = theirs_fn(torch.from_numpy(x.copy()), p, training=True).numpy()
    for y in (ours, theirs):
        kept = (y != 0).reshape(*shape[: len(shape) - spatial], -1)
        # one decision per channel: a channel is all kept or all dropped
        assert np.all(kept == kept[..., :1])
        assert 0 < kept[..., 0].sum() < kept[..., 0].size
        # kept channels are x scaled by the same factor in both
        ratio = y[y != 0] / x[y != 0]
        assert np.all(ratio == np.float32(2.0))
    # with our channel mask injected into torch's formula, the values agree
    axes = tuple(range(len(shape) - spatial, len(shape)))
    keep = nd.dropout_mask(shape, p, rng=3, broadcast_dims=axes)
    injected = (torch.from_numpy(x) * torch_noise(keep, p)).numpy()
    assert np.array_equal(bits(ours), bits(injected))


# --- alpha dropout --------------------------------------------------------------------------------


def torch_alpha_formula(x, keep, p, dtype=torch.float32):
    """torch's _dropout_impl alpha branch with ``keep`` as the noise."""
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    noise = torch.from_numpy(keep).to(dtype)
    b = noise.add(-1).mul_(ALPHA * a).add_(ALPHA * a * p)
    noise.mul_(a)
    return torch.from_numpy(x).to(dtype) * noise + b


@settings(max_examples=60, deadline=None)
@given(p=st.floats(1e-6, 1 - 1e-6), seed=st.integers(0, 2**64 - 1))
def test_alpha_dropout_with_our_mask_equals_torch_formula(p, seed):
    x = finite_data((3000,), np.float32, seed=seed % 997)
    keep = nd.dropout_mask(x.shape, p, rng=seed)
    ours = nd.alpha_dropout(x, p, True, rng=seed)
    theirs = torch_alpha_formula(x, keep, p).numpy()
    # kept units: bit for bit
    assert np.array_equal(bits(ours)[keep], bits(theirs)[keep])
    # dropped units: the exact value -alpha*a*(1-p), rounded once (torch's float32
    # formula cancels; evaluated in float64 it is the exact value to 1e-16)
    exact = torch_alpha_formula(x.astype(np.float64), keep, p, torch.float64).numpy()
    np.testing.assert_allclose(ours[~keep], exact[~keep], rtol=2**-24, atol=0)
    assert len(np.unique(ours[~keep])) <= 1


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.8])
def test_torch_functional_alpha_dropout_kept_values_equal_ours(p):
    torch.manual_seed(2)
    x = finite_data((50_000,), np.float32, seed=4)
    theirs = F.alpha_dropout(torch.from_numpy(x.copy()), p, training=True).numpy()
    dropped_value = torch_alpha_formula(np.zeros(1, np.float32), np.zeros(1, bool), p).numpy()[0]
    a = 1 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    ours_if_kept = x * np.float32(a) + np.float32(ALPHA * a * p)  # the contract's kept value
    kept = theirs != dropped_value
    assert 0 < kept.sum() < kept.size
    assert np.array_equal(bits(theirs)[kept], bits(ours_if_kept)[kept])
    ours = nd.alpha_dropout(x, p, True, rng=5)
    ours_kept = nd.dropout_mask(x.shape, p, rng=5)
    assert np.array_equal(bits(ours)[ours_kept], bits(ours_if_kept)[ours_kept])


def test_feature_alpha_dropout_structure_matches_torch():
    torch.manual_seed(3)
    shape, p = (8, 16, 7), 0.5
    x = finite_data(shape, seed=5)
    theirs = F.feature_alpha_dropout(torch.from_numpy(x.copy()), p, training=True).numpy()
    ours = nd.feature_alpha_dropout(x, p, True, rng=6)
    dropped_value = torch_alpha_formula(np.zeros(1, np.float32), np.zeros(1, bool), p).numpy()[0]
    our_dropped = np.float32(-ALPHA / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p)) * (1 - p))
    for y, d in [(theirs, dropped_value), (ours, our_dropped)]:
        dropped = y == d
        assert np.all(dropped == dropped[..., :1])  # whole channels
        assert 0 < dropped[..., 0].sum() < dropped[..., 0].size
    keep = nd.dropout_mask(shape, p, rng=6, broadcast_dims=2)
    injected = torch_alpha_formula(x, np.ascontiguousarray(np.broadcast_to(keep, shape)), p).numpy()
    kept = np.broadcast_to(keep, shape)
    assert np.array_equal(bits(ours)[kept], bits(injected)[kept])


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [*POWER_OF_TWO_KEEP[:3], 0.1, 0.3])
def test_backward_equals_torch_autograd_with_our_mask(p):
    x = finite_data((20, 30), seed=6)
    g = finite_data((20, 30), seed=7)
    keep = nd.dropout_mask(x.shape, p, rng=9)
    _, state = nd.dropout(x, p, rng=9, return_state=True)
    ours = state.backward(g)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    (xt * torch_noise(keep, p)).backward(torch.from_numpy(g))
    theirs = xt.grad.numpy()
    assert np.array_equal(bits(ours)[keep], bits(theirs)[keep])
    assert not np.any(bits(ours)[~keep]) and np.all(theirs[~keep] == 0)

    _, state = nd.alpha_dropout(x, p, True, rng=9, return_state=True)
    ours = state.backward(g)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    noise = torch.from_numpy(keep).to(torch.float32).mul_(a)
    (xt * noise).backward(torch.from_numpy(g))
    theirs = xt.grad.numpy()
    assert np.array_equal(bits(ours)[keep], bits(theirs)[keep])
    assert not np.any(bits(ours)[~keep]) and np.all(theirs[~keep] == 0)
