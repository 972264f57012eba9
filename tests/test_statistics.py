"""Statistical properties of the masks (all tests are deterministic: fixed seeds).

Bounds are 5 standard deviations, so a correct generator fails one of these
with probability below 1e-6 per check; a biased threshold, a repeated word or
a stream that ignores its seed/offset fails them by a wide margin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import numbadrop as nd

N = 10**7


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_keep_rate_within_5_sigma(p):
    keep = nd.dropout_mask(N, p, rng=nd.Generator(int(p * 1000) + 2**63))
    kept = int(np.count_nonzero(keep))
    sigma = math.sqrt(N * p * (1 - p))
    assert abs(kept - N * (1 - p)) < 5 * sigma, (kept, N * (1 - p), sigma)
    # each of the 4 words of a Philox call is used, and each is unbiased
    for lane in range(4):
        n = N // 4
        lane_kept = int(np.count_nonzero(keep[lane::4]))
        assert abs(lane_kept - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p)), lane


@pytest.mark.parametrize("p", [1e-4, 0.999])
def test_keep_rate_for_extreme_p(p):
    keep = nd.dropout_mask(N, p, rng=12)
    dropped = N - int(np.count_nonzero(keep))
    sigma = math.sqrt(N * p * (1 - p))
    assert abs(dropped - N * p) < 5 * sigma, (dropped, N * p, sigma)


@pytest.mark.parametrize(
    ("fn", "shape"),
    [
        (nd.dropout1d, (400, 250, 8)),
        (nd.dropout1d, (1000, 7)),  # unbatched (C, L)
        (nd.dropout2d, (200, 500, 2, 3)),
        (nd.dropout2d, (1000, 3, 3)),  # unbatched (C, H, W)
        (nd.dropout3d, (100, 1000, 2, 1, 2)),
        (nd.feature_alpha_dropout, (300, 300, 5)),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_channel_variants_zero_whole_channels(fn, shape):
    p = 0.3
    alpha = fn is nd.feature_alpha_dropout
    batched = fn is nd.feature_alpha_dropout or len(shape) == {nd.dropout1d: 3, nd.dropout2d: 4, nd.dropout3d: 5}[fn]
    x = np.ones(shape, np.float32)
    y = fn(x, p, True, rng=2024)
    lead = 2 if batched else 1
    channels = y.reshape(math.prod(shape[:lead]), -1)
    first = channels[:, :1]
    assert np.all(channels == first)  # one decision per channel
    dropped_value = np.float32(-1.7580993408473766 / math.sqrt((1.7580993408473766**2 * p + 1) * (1 - p)) * (1 - p))
    dropped = first[:, 0] == (dropped_value if alpha else 0)
    assert set(np.unique(first)) == {first[dropped, 0][0], first[~dropped, 0][0]}
    n = dropped.size
    assert abs(int(dropped.sum()) - n * p) < 5 * math.sqrt(n * p * (1 - p))


def _corr(a, b):
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)))


PAIRS = {
    "successive offsets": ((7, 0), (7, 1)),
    "offsets 2**32 apart": ((7, 5), (7, 5 + 2**32)),
    "neighbouring seeds": ((7, 0), (8, 0)),
    "seeds 2**32 apart": ((7, 0), (7 + 2**32, 0)),
    "seed 0 and max": ((0, 0), (2**64 - 1, 0)),
    "seed/offset swapped": ((3, 9), (9, 3)),
}


@pytest.mark.parametrize("pair", list(PAIRS), ids=str)
def test_masks_of_nearby_streams_are_uncorrelated(pair):
    n = 2 * 10**6
    (s1, o1), (s2, o2) = PAIRS[pair]
    a = nd.dropout_mask(n, 0.5, rng=nd.Generator(s1, o1))
    b = nd.dropout_mask(n, 0.5, rng=nd.Generator(s2, o2))
    assert abs(_corr(a, b)) < 5 / math.sqrt(n)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("lag", [1, 2, 3, 4, 5, 8, 2048, 2049])
def test_mask_elements_are_uncorrelated_within_a_mask(lag):
    n = 2 * 10**6
    keep = nd.dropout_mask(n + lag, 0.5, rng=31)
    assert abs(_corr(keep[:-lag], keep[lag:])) < 5 / math.sqrt(n)


def test_generator_stream_draws_are_uncorrelated():
    n = 10**6
    g = nd.Generator(99)
    masks = [nd.dropout_mask(n, 0.3, rng=g) for _ in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert abs(_corr(masks[i], masks[j])) < 5 / math.sqrt(n)


def test_spawned_children_are_uncorrelated():
    n = 10**6
    children = nd.Generator(5).spawn(3)
    masks = [nd.dropout_mask(n, 0.5, rng=c) for c in children]
    for i in range(3):
        for j in range(i + 1, 3):
            assert abs(_corr(masks[i], masks[j])) < 5 / math.sqrt(n)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_preserves_the_mean(p):
    n = 2 * 10**6
    y = nd.dropout(np.ones(n, np.float64), p, rng=8)
    sd = math.sqrt(p / (1 - p))  # std of mask * scale
    assert abs(y.mean() - 1.0) < 5 * sd / math.sqrt(n)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(p):
    n = 2 * 10**6
    x = np.random.default_rng(1).standard_normal(n)
    y = nd.alpha_dropout(x, p, True, rng=9)
    se_mean = y.std() / math.sqrt(n)
    assert abs(y.mean()) < 5 * se_mean + 5 / math.sqrt(n)
    y2 = y * y
    se_var = y2.std() / math.sqrt(n)
    assert abs(y2.mean() - y.mean() ** 2 - 1.0) < 5 * se_var + 5 / math.sqrt(n)
