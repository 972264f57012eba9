"""The suite's finite-difference checker (finite_differences.py): it passes right gradients, fails wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from autograd_programs import WIDTH, Program
from finite_differences import assert_gradient, central_difference

import numbadrop as nd


def _ninth_power(scale: float, seed: int = 0):
    """``sum(u * (s x)**9)``, its terms and its exact gradient: outputs near 900 for ``scale * |x|`` near 2."""
    rng = np.random.default_rng(seed)
    x = scale * rng.uniform(1.5, 2.1, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
    u = rng.standard_normal((3, 4))
    u[0, 0] = 1e-12  # an element whose gradient is tiny beside the others
    return x, (lambda: u * x**9), 9 * u * x**8


def test_right_gradient_of_large_terms_passes():
    """The issue's failure in miniature: a tiny gradient element beside terms near 900 (the bound scales)."""
    x, terms, grad = _ninth_power(1.0)
    assert np.abs(terms()).max() > 500
    assert_gradient(grad, terms, x, rtol=1e-7)


@pytest.mark.parametrize("factor", [1 + 1e-5, 1 - 1e-5, -1.0])
def test_wrong_gradient_of_large_terms_fails(factor):
    x, terms, grad = _ninth_power(1.0)
    wrong = grad.copy()
    wrong[1, 2] *= factor
    with pytest.raises(AssertionError, match=r"1 of 12 gradient elements differ.*worst at \(1, 2\)"):
        assert_gradient(wrong, terms, x, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_bound_is_far_below_the_gradient_of_a_smooth_function(scale):
    """The derived bound stays orders of magnitude below the gradient, whatever the size of ``f``."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5))
    u = rng.uniform(0.5, 1.5, (4, 5))
    estimate, bound = central_difference(lambda: scale * u * np.tanh(x), x)
    exact = scale * u / np.cosh(x) ** 2
    assert np.all(np.abs(estimate - exact) <= bound)
    assert np.all(bound < 1e-6 * np.abs(exact))  # so rtol=1e-6 checks every element


def test_truncation_error_is_in_the_bound():
    """With a step too large for the curvature, the spread between the ``h`` and ``2h`` estimates covers it."""
    x = np.array([0.3, -1.2, 2.0])
    estimate, bound = central_difference(lambda: np.sin(3 * x), x, h=1e-2)
    exact = 3 * np.cos(3 * x)
    error = np.abs(estimate - exact)
    assert np.all(error > 1e-5)  # the truncation error is visible at this step ...
    assert np.all(error <= bound)  # ... and bounded


def test_random_program_of_issue_22():
    """``pow3, pow3, layer`` at seed 2: outputs near 900 beside a gradient element of -1.17e-5.

    A fixed ``atol=1e-7`` failed there by the rounding error of the central difference (2e-7).
    """
    program = Program([("pow3", (0,)), ("pow3", (1,)), ("layer", (2, 0))])
    model = program.numbadrop_model(2)
    x = np.random.default_rng(2).standard_normal((3, WIDTH))
    y = model(x)
    upstream = np.random.default_rng(3).standard_normal(y.shape)
    dx = model.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in model.named_parameters() if p.grad is not None}

    def objective():
        with nd.no_grad():
            return model(x) * upstream

    assert_gradient(dx, objective, x, rtol=1e-5, err_msg="input gradient")
    for name, param in model.named_parameters():
        assert_gradient(analytic.get(name, np.zeros_like(param.data)), objective, param.data, rtol=1e-5, err_msg=name)
