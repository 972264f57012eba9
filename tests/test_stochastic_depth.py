"""Stochastic depth (DropPath): torchvision's semantics under the mask contract."""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn

try:
    import torch
except ImportError:
    torch = None


def data(shape=(8, 3, 5), dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("mode, broadcast", [("row", (1, 2)), ("batch", (0, 1, 2))])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_matches_the_reference(mode, broadcast, dtype):
    x = data(dtype=dtype)
    y = nd.stochastic_depth(x, 0.3, mode, rng=nd.Generator(4, 1))
    np.testing.assert_array_equal(y.view(np.uint8), naive.dropout(x, 0.3, 4, 1, broadcast).view(np.uint8))


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("mode", ["row", "batch"])
def test_torchvision_algorithm_with_the_same_noise(mode):
    """torchvision.ops.stochastic_depth written in torch, its Bernoulli noise replaced by our mask."""
    x, p = data(), 0.3
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    keep = nd.dropout_mask(tuple(size), p, rng=nd.Generator(4, 1))
    noise = torch.from_numpy(keep.astype(np.float64)).div_(1.0 - p)
    expected = torch.from_numpy(x) * noise
    np.testing.assert_array_equal(nd.stochastic_depth(x, p, mode, rng=nd.Generator(4, 1)), expected.numpy())


def test_extremes_and_eval():
    x = data()
    assert nd.stochastic_depth(x, 0.5, training=False) is x
    assert nd.stochastic_depth(x, 0.0, rng=1) is x
    assert not nd.stochastic_depth(x, 1.0, rng=1).any()


def test_keep_rate_of_rows():
    p, n = 0.3, 200_000
    kept = int(nd.stochastic_depth(np.ones((n, 2), np.float32), p, rng=7)[:, 0].astype(bool).sum())
    assert abs(kept - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        nd.stochastic_depth(data(), 0.5, "col")
    with pytest.raises(ValueError, match="0-d"):
        nd.stochastic_depth(np.float32(1.0), 0.5, "row")
    with pytest.raises(ValueError, match="mode"):
        nn.StochasticDepth(0.5, "sample")
    with pytest.raises(ValueError, match="p"):
        nd.stochastic_depth(data(), 1.5)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_residual_branch_gradients_match_torch():
    fc = nn.Linear(5, 5, dtype=np.float64, rng=0)
    drop = nn.StochasticDepth(0.5, "row", rng=nd.Generator(9))
    x = data()
    (x + drop(fc(x))).sum().backward()
    keep = nd.dropout_mask((8, 1, 1), 0.5, rng=nd.Generator(9, 0)).astype(np.float64)
    tfc = torch.nn.Linear(5, 5).double()
    with torch.no_grad():
        tfc.weight.copy_(torch.from_numpy(fc.weight.data))
        tfc.bias.copy_(torch.from_numpy(fc.bias.data))
    xt = torch.from_numpy(x)
    (xt + tfc(xt) * torch.from_numpy(keep) / 0.5).sum().backward()
    np.testing.assert_allclose(fc.weight.grad, tfc.weight.grad.numpy(), rtol=1e-12)
    assert repr(drop) == "StochasticDepth(p=0.5, mode='row')"
