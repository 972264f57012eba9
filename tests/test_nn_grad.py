"""Gradients of every ``numbadrop.nn`` layer against central finite differences (float64).

Each check runs one training forward, backpropagates a random upstream gradient
``G`` and compares the input gradient and every parameter gradient with
``d/dz sum(G * module(x))`` estimated by central differences, within a bound
derived from the size of ``G * module(x)`` (``finite_differences.py``). Forwards used
for the estimate run under ``no_grad`` so they do not disturb the tape; layers
with a generator are reset before every forward so all passes share one mask.
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_differences import (
    assert_gradient,
    numeric_grad,  # noqa: F401  (test_autograd imports it from here)
)

import numbadrop
from numbadrop import nn

RTOL = 1e-6


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], low: float = 0.1, high: float = 2.0) -> np.ndarray:
    """Random float64 values with ``low <= |v| <= high`` (no kinks within the finite-difference steps of them)."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def check_module(module: nn.Module, x: np.ndarray, *, reset=lambda: None, seed: int = 0) -> None:
    """Compare ``module``'s analytic input and parameter gradients with finite differences."""
    rng = np.random.default_rng(seed)
    module.zero_grad()
    reset()
    y = module(x)
    upstream = rng.standard_normal(np.shape(y))
    dx = module.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters()}
    assert dx.shape == x.shape

    def objective() -> np.ndarray:
        reset()
        with numbadrop.no_grad():
            return module(x) * upstream

    assert_gradient(dx, objective, x, rtol=RTOL, err_msg="input gradient")
    for name, param in module.named_parameters():
        assert_gradient(analytic[name], objective, param.data, rtol=RTOL, err_msg=name)


# --- Linear ------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)], ids=["2d", "3d"])
def test_linear(bias, shape):
    rng = np.random.default_rng(1)
    layer = nn.Linear(4, 3, bias=bias, dtype=np.float64, rng=2)
    assert (layer.bias is None) == (not bias)
    check_module(layer, rng.standard_normal(shape))


def test_checker_detects_a_gradient_off_by_one_percent():
    """Sanity of the checker itself: it notices a gradient that is off by a factor."""
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = layer(x)
    layer.backward(np.ones_like(y))
    layer.weight.grad *= 1.01
    broken = layer.weight.grad.copy()

    def objective() -> np.ndarray:
        with numbadrop.no_grad():
            return layer(x)

    assert_gradient(broken / 1.01, objective, layer.weight.data, rtol=RTOL)  # the right gradient passes
    with pytest.raises(AssertionError, match="differ from central differences"):
        assert_gradient(broken, objective, layer.weight.data, rtol=RTOL)


# --- activations -------------------------------------------------------------
ACTIVATIONS = {
    "ReLU": lambda: nn.ReLU(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.2),
    "Tanh": lambda: nn.Tanh(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "GELU-none": lambda: nn.GELU(),
    "GELU-tanh": lambda: nn.GELU(approximate="tanh"),
    "SELU": lambda: nn.SELU(),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation(name):
    x = away_from_zero(np.random.default_rng(3), (4, 5), high=3.0)
    check_module(ACTIVATIONS[name](), x)


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU"])
def test_inplace_activation(name):
    layer = nn.ReLU(inplace=True) if name == "ReLU" else nn.LeakyReLU(0.2, inplace=True)
    x = away_from_zero(np.random.default_rng(4), (3, 6))
    reference = ACTIVATIONS[name]()
    rng = np.random.default_rng(0)
    upstream = rng.standard_normal(x.shape)
    expected_y = reference(x.copy())
    expected_dx = reference.backward(upstream)
    xin = x.copy()
    y = layer(xin)
    assert y is xin  # really in place
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(layer.backward(upstream), expected_dx)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_far_tails(approximate):
    """GELU's gradient tends to 0 (x -> -inf) and 1 (x -> +inf)."""
    layer = nn.GELU(approximate=approximate)
    x = np.array([[-30.0, -12.0, 12.0, 30.0]])
    layer(x)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), [[0, 0, 1, 1]], atol=1e-12)


# --- structural modules ------------------------------------------------------
def test_flatten_then_linear():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3, dtype=np.float64, rng=5))
    check_module(model, np.random.default_rng(5).standard_normal((2, 3, 2, 2)))


def test_flatten_middle_axes():
    model = nn.Sequential(nn.Flatten(1, 2), nn.Tanh())
    x = np.random.default_rng(6).standard_normal((2, 3, 2, 4))
    assert model(x).shape == (2, 6, 4)
    check_module(model, x)


def test_identity():
    model = nn.Sequential(nn.Identity(), nn.Linear(3, 3, dtype=np.float64, rng=6), nn.Identity())
    check_module(model, np.random.default_rng(6).standard_normal((4, 3)))


def test_sequential_mlp_all_activations():
    model = nn.Sequential(
        nn.Linear(5, 6, dtype=np.float64, rng=10),
        nn.Tanh(),
        nn.Linear(6, 6, dtype=np.float64, rng=11),
        nn.GELU(),
        nn.Linear(6, 6, bias=False, dtype=np.float64, rng=12),
        nn.Sigmoid(),
        nn.Linear(6, 6, dtype=np.float64, rng=13),
        nn.SELU(),
        nn.Linear(6, 4, dtype=np.float64, rng=14),
        nn.GELU("tanh"),
        nn.Linear(4, 2, dtype=np.float64, rng=15),
    )
    check_module(model, np.random.default_rng(7).standard_normal((3, 5)))


def test_nested_sequential():
    inner = nn.Sequential(nn.Linear(4, 4, dtype=np.float64, rng=20), nn.Tanh())
    model = nn.Sequential(inner, nn.Sequential(nn.Linear(4, 2, dtype=np.float64, rng=21)))
    check_module(model, np.random.default_rng(8).standard_normal((3, 4)))


# --- dropout -----------------------------------------------------------------
def _reset(layer: nn.Module, seed: int, offset: int = 0):
    def reset() -> None:
        layer.rng = numbadrop.Generator(seed, offset)

    return reset


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Dropout(0.3),
        lambda: nn.AlphaDropout(0.3),
        lambda: nn.Dropout1d(0.5),
        lambda: nn.FeatureAlphaDropout(0.5),
    ],
    ids=["Dropout", "AlphaDropout", "Dropout1d", "FeatureAlphaDropout"],
)
def test_dropout_layers(make):
    layer = make()
    x = np.random.default_rng(9).standard_normal((3, 4, 5))
    reset = _reset(layer, seed=1234)
    reset()
    y = layer(x)
    assert not np.array_equal(y, x)  # the layer really drops something here
    check_module(layer, x, reset=reset)


@pytest.mark.parametrize("make", [nn.Dropout, nn.AlphaDropout], ids=["Dropout", "AlphaDropout"])
def test_dropout_backward_uses_the_forward_mask_of_an_advancing_generator(make):
    """With ``rng=int`` the layer's offsets advance per forward; backward must use that forward's."""
    layer = make(0.5, rng=77)
    x = np.random.default_rng(10).standard_normal((6, 7))
    layer(x)  # offset 0, discarded
    upstream = np.random.default_rng(11).standard_normal(x.shape)
    y = layer(x)  # offset 1
    dx = layer.backward(upstream)
    probe = make(0.5)
    probe.rng = numbadrop.Generator(77, 1)
    np.testing.assert_array_equal(y, probe(x))
    reset = _reset(probe, 77, 1)

    def objective() -> np.ndarray:
        reset()
        with numbadrop.no_grad():
            return probe(x) * upstream

    assert_gradient(dx, objective, x, rtol=RTOL)


def test_mlp_with_dropout():
    model = nn.Sequential(
        nn.Linear(6, 8, dtype=np.float64, rng=30),
        nn.ReLU(),
        nn.Dropout(0.4),
        nn.Linear(8, 8, dtype=np.float64, rng=31),
        nn.ReLU(),
        nn.Dropout(0.4),
        nn.Linear(8, 3, dtype=np.float64, rng=32),
    )
    d1, d2 = model[2], model[5]

    def reset() -> None:
        d1.rng = numbadrop.Generator(5, 0)
        d2.rng = numbadrop.Generator(5, 1)

    check_module(model, np.random.default_rng(12).standard_normal((4, 6)), reset=reset)


@pytest.mark.parametrize(
    "pair",
    [
        (nn.Tanh, nn.Dropout),
        (nn.Sigmoid, nn.Dropout),
        (nn.ReLU, nn.AlphaDropout),
        (nn.Tanh, nn.AlphaDropout),
    ],
    ids=lambda pair: f"{pair[0].__name__}-{pair[1].__name__}",
)
def test_activation_followed_by_inplace_dropout(pair):
    """An in-place dropout overwrites the activation's output; its backward must not depend on it."""
    act, drop = pair
    layer = drop(0.5, inplace=True)
    model = nn.Sequential(nn.Linear(5, 6, dtype=np.float64, rng=40), act(), layer)
    x = np.random.default_rng(13).standard_normal((4, 5))
    check_module(model, x, reset=_reset(layer, 99))


# --- losses ------------------------------------------------------------------
def check_loss(loss_fn, output: np.ndarray, target: np.ndarray, scale: float = 1.0) -> None:
    loss_fn(output, target)
    grad = loss_fn.backward(scale)
    assert grad.shape == output.shape
    # The loss is one number computed from ``output``: its rounding error scales with ``output``'s size.
    size = abs(scale) * float(np.abs(output).sum())
    assert_gradient(grad, lambda: scale * loss_fn(output, target), output, rtol=RTOL, scale=size)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy(reduction, label_smoothing):
    rng = np.random.default_rng(14)
    logits = 3 * rng.standard_normal((5, 4))
    target = np.array([0, 3, 1, 1, 2])
    check_loss(nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing), logits, target)


def test_cross_entropy_large_logits_and_scaled_backward():
    rng = np.random.default_rng(15)
    logits = 200 * rng.standard_normal((3, 5))  # exp() would overflow without the shift
    logits[:, 0] = 0.5
    target = np.array([0, 0, 4])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    assert np.isfinite(loss_fn(logits, target))
    check_loss(loss_fn, logits, target, scale=2.5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse(reduction):
    rng = np.random.default_rng(16)
    output, target = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    check_loss(nn.MSELoss(reduction=reduction), output, target)
    check_loss(nn.MSELoss(reduction=reduction), output, target, scale=-0.5)


def test_model_and_loss_end_to_end():
    """Gradient of the scalar loss through a model, chained by hand: loss.backward() -> model.backward()."""
    model = nn.Sequential(
        nn.Linear(4, 5, dtype=np.float64, rng=50), nn.LeakyReLU(), nn.Linear(5, 3, dtype=np.float64, rng=51)
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    x = np.random.default_rng(17).standard_normal((6, 4))
    target = np.array([0, 1, 2, 2, 1, 0])
    loss_fn(model(x), target)
    dx = model.backward(loss_fn.backward())

    def objective() -> float:
        with numbadrop.no_grad():
            return loss_fn(model(x), target)

    with numbadrop.no_grad():
        size = float(np.abs(model(x)).sum())  # the logits the loss is computed from
    assert_gradient(dx, objective, x, rtol=RTOL, scale=size, err_msg="input gradient")
    for name, param in model.named_parameters():
        assert_gradient(param.grad, objective, param.data, rtol=RTOL, scale=size, err_msg=name)
