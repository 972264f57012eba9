"""``cov``, ``corrcoef``, and the selections ``unique`` and ``histogram`` differentiated as what they are.

``np.unique(x)`` is a sorted selection of ``x``'s values: each unique value's
gradient is shared by the elements equal to it. ``np.histogram``'s counts are
piecewise constant in ``a`` (constants) and linear in ``weights``; its edges
(``bins`` an int, no ``range``) are ``linspace(a.min(), a.max(), bins + 1)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.core import source
from numbadrop.autograd.ops import apply, value
from numbadrop.autograd.registry import defun, refuse

__all__: list[str] = []


def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    x = np.atleast_2d(m)
    if not rowvar and np.shape(value(x))[0] != 1:
        x = np.transpose(x)
    if y is not None:
        yy = np.atleast_2d(y)
        if not rowvar and np.shape(value(yy))[0] != 1:
            yy = np.transpose(yy)
        x = np.concatenate((x, yy), axis=0)
    if dtype is not None:
        x = x.astype(dtype)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = np.shape(value(x))[1]
    w = None
    if fweights is not None:
        w = np.asarray(value(fweights), dtype=float)
    if aweights is not None:
        aw = np.asarray(value(aweights), dtype=float)
        w = aw if w is None else w * aw
    if w is None:
        avg = np.mean(x, axis=1, keepdims=True)
        fact = n - ddof
    else:
        v1 = w.sum()
        avg = np.sum(x * w, axis=1, keepdims=True) / v1
        fact = v1 - ddof if aweights is None else v1 - ddof * np.sum(w * aw) / v1
    centred = x - avg
    weighted = centred if w is None else centred * w
    c = (centred @ np.transpose(weighted)) / max(fact, 0)
    return np.squeeze(c)


def _corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = _cov(x, y, rowvar, dtype=dtype)
    if np.ndim(value(c)) == 0:
        return c / c
    d = np.sqrt(np.diagonal(c))
    return np.clip(c / d[:, None] / d[None, :], -1, 1)


def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, equal_nan=True):
    if axis is not None:
        raise TypeError("np.unique(axis=...) of a recorded value is not differentiated: use axis=None")
    plain = np.unique(value(ar), True, True, True, equal_nan=equal_nan)
    _, first, inverse, counts = plain
    inverse = inverse.reshape(-1)

    def vjp(g, y, x):
        return ((g / counts)[inverse].reshape(x.shape),)

    vals = apply("np.unique", lambda x: np.ravel(x)[first], (ar,), vjp)
    extra = [o for o, want in zip(plain[1:], (return_index, return_inverse, return_counts), strict=True) if want]
    if not extra:
        return vals
    return (vals, *extra)


def _edges(a: Any, bins: Any, range: Any, weights: Any) -> Any:
    """The recorded bin edges of ``np.histogram`` / ``np.histogram_bin_edges``."""
    if isinstance(bins, str):
        if source(a)[1] is not None:
            raise TypeError(
                f"np.histogram(bins={bins!r}) of a recorded value is not differentiated (the edges are an "
                "estimator of the data): pass the number of bins or the edges"
            )
        return np.histogram_bin_edges(value(a), bins, range, value(weights))
    if np.ndim(value(bins)) == 1:
        return bins
    if range is not None or np.size(value(a)) == 0:
        return np.histogram_bin_edges(value(a), bins, range)
    n = int(value(bins))
    lo, hi = np.min(a), np.max(a)
    if value(lo) == value(hi):
        lo, hi = lo - 0.5, hi + 0.5
    t = np.linspace(0.0, 1.0, n + 1)
    edges = lo + (hi - lo) * t
    exact = np.histogram_bin_edges(value(a), bins)
    return edges + (exact - value(edges))  # NumPy's own values, rounding included; the gradient of lo, hi


def _histogram(a, bins=10, range=None, density=None, weights=None):
    edges = _edges(a, bins, range, weights)
    e, av = np.asarray(value(edges)), np.asarray(value(a))
    if density and (source(a)[1] is not None or source(edges)[1] is not None):
        raise TypeError("np.histogram(density=True) of a recorded value is not differentiated")
    counts, _ = np.histogram(av, e, weights=None if weights is None else np.asarray(value(weights)), density=density)
    if weights is not None and source(weights)[1] is not None:
        flat = av.reshape(-1)
        which = np.searchsorted(e, flat, side="right") - 1
        which[flat == e[-1]] = len(e) - 2  # the last bin is closed
        inside = (which >= 0) & (which < len(e) - 1)

        def vjp(g, y, w):
            g_w = np.where(inside, np.concatenate([g, [0]])[np.where(inside, which, len(e) - 1)], 0)
            return (g_w.reshape(np.shape(w)),)

        counts = apply("np.histogram", lambda w: counts, (weights,), vjp)
    return counts, edges


def _histogram_bin_edges(a, bins=10, range=None, weights=None):
    return _edges(a, bins, range, weights)


for _func, _impl, _notes in (
    (np.cov, _cov, "fweights/aweights are constants"), (np.corrcoef, _corrcoef, "clipped to [-1, 1] as NumPy"),
    (np.unique, _unique, "the values: equal elements share their value's gradient; axis=None only"),
    (np.histogram, _histogram, "counts are constants of a, linear in weights; edges from a.min()/a.max()"),
    (np.histogram_bin_edges, _histogram_bin_edges, "edges from a.min()/a.max(); bins='auto'... refused"),
):  # fmt: skip
    defun(_func, _impl, _notes)
for _func, _why in (
    (np.histogram2d, "its edges and counts are not differentiated"),
    (np.histogramdd, "its edges and counts are not differentiated"),
    (np.median, "no rule (use np.sort and index it)"),
    (np.percentile, "no rule"), (np.quantile, "no rule"), (np.nanmedian, "no rule"),
):  # fmt: skip
    refuse(_func, _why)
