"""Central finite differences whose tolerance comes from the size of what they differentiate.

The suite checks analytic gradients against ``(f(x + h) - f(x - h)) / 2h`` in
float64. That estimate has two errors:

- rounding: each ``f`` carries an error of a few ulps of the *terms* it sums
  (``f = sum(upstream * forward)`` of terms near 900 is off by ~1e-13 whatever
  its value), and dividing by ``2h`` magnifies it: ``~ eps * sum|terms| / h``;
- truncation: ``h**2 * f''' / 6``, or worse where ``x +- h`` straddles a kink.

A fixed ``atol`` is right for one size of ``f`` only (issue 22: a gradient of
-1.17e-5 beside outputs near 900 missed ``atol=1e-7`` by 2e-7, its rounding
error). Here every element gets its own bound: the rounding bound from the
largest ``sum|terms|`` seen at its perturbed points, plus the spread between the
estimates at steps ``h`` and ``2h`` (which is 3x the truncation error of the
``h`` estimate and shows any rounding the bound misses). A wrong gradient still
fails: for a smooth ``f`` both terms are orders of magnitude below ``rtol`` times
the gradient (``test_finite_differences.py`` checks that).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

H = 1e-6
#: Rounding error of one evaluation of ``f``, in units of ``eps * sum|terms|``: the
#: terms' own few ulps plus a pairwise sum's; generous, since it divides by ``h``.
NOISE_ULPS = 16
EPS = float(np.finfo(np.float64).eps)


def _evaluate(f: Callable[[], object]) -> tuple[float, float]:
    """``(value, magnitude)``: ``f()`` summed, and the sum of its terms' absolute values."""
    terms = np.asarray(f(), dtype=np.float64)
    return float(terms.sum()), float(np.abs(terms).sum())


def central_difference(
    f: Callable[[], object], arr: np.ndarray, h: float = H, *, scale: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient of ``f()`` with respect to ``arr``, and its error bound per element.

    ``f`` takes no arguments and reads ``arr``, which is perturbed in place (and
    restored). It returns the objective, or better the array of the terms the
    objective sums (``upstream * forward``): their magnitude sets the rounding
    bound. ``scale`` is a floor on that magnitude, for a scalar ``f`` computed
    from larger intermediates (a loss of logits near 200).
    """
    estimate = np.zeros(arr.shape, np.float64)
    bound = np.zeros(arr.shape, np.float64)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        slopes = []
        for step in (h, 2 * h):
            up, down = old + step, old - step
            arr[idx] = up
            f_up, size_up = _evaluate(f)
            arr[idx] = down
            f_down, size_down = _evaluate(f)
            arr[idx] = old
            width = float(up) - float(down)  # the step actually taken, after rounding old +- step
            slopes.append((f_up - f_down) / width)
            if step == h:
                noise = 2 * NOISE_ULPS * EPS * max(size_up, size_down, scale) / width
        estimate[idx] = slopes[0]
        bound[idx] = noise + abs(slopes[0] - slopes[1])
    return estimate, bound


def assert_gradient(
    analytic,
    f: Callable[[], object],
    arr: np.ndarray,
    *,
    rtol: float = 1e-6,
    h: float = H,
    scale: float = 0.0,
    err_msg: str = "",
) -> None:
    """``analytic`` within ``rtol * |estimate| + bound`` of :func:`central_difference`'s estimate, per element."""
    estimate, bound = central_difference(f, arr, h, scale=scale)
    analytic = np.asarray(analytic, np.float64)
    assert analytic.shape == estimate.shape, f"{err_msg}: shape {analytic.shape} != {estimate.shape}"
    error = np.abs(analytic - estimate)
    allowed = rtol * np.abs(estimate) + bound
    bad = ~(error <= allowed)  # NaN fails
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, error / np.maximum(allowed, 1e-300), -1.0)), bad.shape)
        raise AssertionError(
            f"{err_msg}: {int(bad.sum())} of {bad.size} gradient elements differ from central differences; "
            f"worst at {tuple(int(i) for i in worst)}: analytic {analytic[worst]!r}, estimate {estimate[worst]!r}, "
            f"error {error[worst]:.3g} > allowed {allowed[worst]:.3g} (rtol part {rtol * abs(estimate[worst]):.3g}, "
            f"rounding and truncation bound {bound[worst]:.3g})"
        )


def numeric_grad(f: Callable[[], object], arr: np.ndarray, eps: float = H) -> np.ndarray:
    """The plain central-difference estimate at one step, without a bound; prefer :func:`assert_gradient`."""
    grad = np.zeros(arr.shape, np.float64)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        up = _evaluate(f)[0]
        arr[idx] = old - eps
        down = _evaluate(f)[0]
        arr[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad
