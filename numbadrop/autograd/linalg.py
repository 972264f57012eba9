"""Products and ``np.linalg``: ``einsum`` (every product is one), ``dot``, ``tensordot``, ``inner``, ``outer``,
``kron``, ``vdot``, and ``inv``, ``solve``, ``det``, ``slogdet``, ``pinv``, ``cholesky``, ``eigh``, ``svd``,
``qr``, ``norm``.

Functions of a symmetric matrix (``cholesky``, ``eigh``) read one triangle of
their argument, as NumPy does: the gradient lies in that triangle.
Multi-output functions record one node per output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.ops import apply, value
from numbadrop.autograd.reductions import no_out
from numbadrop.autograd.registry import defun

try:  # NumPy's own parser of einsum's subscripts (ellipses become letters)
    from numpy._core.einsumfunc import _parse_einsum_input
except ImportError:  # pragma: no cover  (NumPy < 2)
    from numpy.core.einsumfunc import _parse_einsum_input

__all__ = ["einsum"]

_T = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731


def _einsum_grad(g: np.ndarray, inputs: list[str], output: str, values: tuple, i: int) -> np.ndarray:
    """Gradient of ``einsum(inputs -> output)`` for operand ``i``: an einsum of ``g`` and the other operands."""
    mine = inputs[i]
    sizes = {c: n for c, n in zip(mine, values[i].shape, strict=True)}
    unique = "".join(dict.fromkeys(mine))
    elsewhere = set(output).union(*(s for j, s in enumerate(inputs) if j != i))
    present = "".join(c for c in unique if c in elsewhere)
    others = [values[j] for j in range(len(values)) if j != i]
    spec = ",".join([output, *(s for j, s in enumerate(inputs) if j != i)]) + "->" + present
    grad = np.einsum(spec, g, *others)
    grad = np.reshape(grad, tuple(grad.shape[present.index(c)] if c in present else 1 for c in unique))
    grad = np.broadcast_to(grad, tuple(max(sizes[c], grad.shape[k]) for k, c in enumerate(unique)))
    for k, c in enumerate(unique):  # a size-1 axis that broadcast against the others
        if sizes[c] == 1 and grad.shape[k] != 1:
            grad = np.sum(grad, axis=k, keepdims=True)
    if unique == mine:
        return grad
    out = np.zeros(values[i].shape, np.result_type(g, values[i]))  # repeated letters: a diagonal
    grid = np.indices(grad.shape, sparse=True)
    out[tuple(grid[unique.index(c)] for c in mine)] = grad
    return out


def einsum(*operands: Any, out: Any = None, optimize: Any = False, **kwargs: Any) -> Any:
    """Recorded ``np.einsum``: any subscripts, implicit or explicit output, ellipses, ``optimize=``."""
    no_out("np.einsum", out)
    plain = [value(o) if isinstance(o, np.ndarray) or hasattr(o, "__autograd_leaf__") else o for o in operands]
    ins, output, _ = _parse_einsum_input(tuple(plain))
    inputs = ins.split(",")
    if isinstance(operands[0], str):
        recorded = list(operands[1:])
    else:  # the interleaved form einsum(a, [0, 1], b, [1, 2], [0, 2])
        recorded = list(operands[0 : 2 * len(inputs) : 2])
    spec = f"{ins}->{output}"

    def vjp(g, y, *vals):
        return tuple(_einsum_grad(g, inputs, output, vals, i) for i in range(len(vals)))

    return apply("np.einsum", lambda *v: np.einsum(spec, *v, optimize=optimize, **kwargs), recorded, vjp)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _tensordot(a, b, axes=2):
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        ax_a, ax_b = (list(x) if isinstance(x, (list, tuple)) else [x] for x in axes)
    ax_a, ax_b = [int(i) % na for i in ax_a], [int(i) % nb for i in ax_b]
    sa = list(_LETTERS[:na])
    sb = list(_LETTERS[na : na + nb])
    for i, j in zip(ax_a, ax_b, strict=True):
        sb[j] = sa[i]
    rest = [c for k, c in enumerate(sa) if k not in ax_a] + [c for k, c in enumerate(sb) if k not in ax_b]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(rest)}", a, b)


def _dot(a, b, out=None):
    no_out("np.dot", out)
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na <= 2 and nb <= 2:
        return np.matmul(a, b)
    return _tensordot(a, b, ([na - 1], [max(nb - 2, 0)]))


def _inner(a, b):
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    return _tensordot(a, b, ([na - 1], [nb - 1]))


def _outer(a, b, out=None):
    no_out("np.outer", out)
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def _vdot(a, b, /):
    return np.sum(np.multiply(np.ravel(a), np.ravel(b)))


def _kron(a, b):
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    n = max(na, nb)
    sa = (1,) * (n - na) + np.shape(value(a))
    sb = (1,) * (n - nb) + np.shape(value(b))
    ea = np.reshape(a, tuple(x for s in sa for x in (s, 1)))
    eb = np.reshape(b, tuple(x for s in sb for x in (1, s)))
    return np.reshape(ea * eb, tuple(p * q for p, q in zip(sa, sb, strict=True)))


# --- np.linalg -----------------------------------------------------------------------
def _inv(a):
    return apply("np.linalg.inv", np.linalg.inv, (a,), lambda g, y, x: (-_T(y) @ g @ _T(y),), reads_output=True)


def _solve(a, b):
    vector = np.ndim(value(b)) == 1

    def vjp(g, y, a_, b_):
        gb = np.linalg.solve(_T(a_), g)
        ga = -(gb[..., :, None] * y[..., None, :]) if vector else -gb @ _T(y)
        return ga, gb

    return apply("np.linalg.solve", np.linalg.solve, (a, b), vjp, reads_output=True)


def _det(a):
    def vjp(g, y, x):
        return ((g * y)[..., None, None] * _T(np.linalg.inv(x)),)

    return apply("np.linalg.det", np.linalg.det, (a,), vjp, reads_output=True)


def _slogdet(a):
    sign = np.linalg.slogdet(value(a))[0]

    def vjp(g, y, x):
        return (np.asarray(g)[..., None, None] * _T(np.linalg.inv(x)),)

    recorded = apply("np.linalg.slogdet", lambda x: np.linalg.slogdet(x)[1], (a,), vjp)
    return type(np.linalg.slogdet(np.eye(1)))(sign, recorded)


def _pinv(a, rcond=None, hermitian=False, *, rtol=None):
    def f(x):
        kwargs = {"hermitian": hermitian}
        if rcond is not None:
            kwargs["rcond"] = rcond
        if rtol is not None:
            kwargs["rtol"] = rtol
        return np.linalg.pinv(x, **kwargs)

    def vjp(g, p, x):
        eye_m, eye_n = np.eye(x.shape[-2]), np.eye(x.shape[-1])
        return (-_T(p) @ g @ _T(p) + (eye_m - x @ p) @ _T(g) @ p @ _T(p) + _T(p) @ p @ _T(g) @ (eye_n - p @ x),)

    return apply("np.linalg.pinv", f, (a,), vjp, reads_output=True)


def _triangle(s: np.ndarray, upper: bool) -> np.ndarray:
    """A symmetric gradient folded onto the triangle NumPy reads (off-diagonal entries count twice)."""
    s = (s + _T(s)) / 2
    tri = np.triu if upper else np.tril
    return tri(2 * s) - s * np.eye(s.shape[-1])


def _cholesky(a, /, *, upper=False):
    """``L`` (or ``L^T`` with ``upper=True``, which reads the upper triangle)."""

    def vjp(g, y, x):
        low, gl = (_T(y), _T(g)) if upper else (y, g)
        phi = np.tril(_T(low) @ gl)
        phi = phi - 0.5 * phi * np.eye(phi.shape[-1])
        inv = np.linalg.inv(low)
        return (_triangle(_T(inv) @ phi @ inv, upper),)

    f = (lambda x: np.linalg.cholesky(x, upper=True)) if upper else np.linalg.cholesky
    return apply("np.linalg.cholesky", f, (a,), vjp, reads_output=True)


def _eigh(a, UPLO="L"):
    upper = UPLO.upper() == "U"

    def back(gw, gv, x):
        w, v = np.linalg.eigh(x, UPLO=UPLO)
        inner = np.zeros(v.shape, np.result_type(v, 1.0))
        if gw is not None:
            inner = inner + gw[..., None] * np.eye(w.shape[-1])
        if gv is not None:
            diff = w[..., None, :] - w[..., :, None]
            with np.errstate(divide="ignore"):
                f = np.where(np.eye(w.shape[-1], dtype=bool), 0.0, 1.0 / np.where(diff == 0, np.inf, diff))
            inner = inner + f * (_T(v) @ gv)
        return (_triangle(v @ inner @ _T(v), upper),)

    w = apply("np.linalg.eigh", lambda x: np.linalg.eigh(x, UPLO=UPLO)[0], (a,), lambda g, y, x: back(g, None, x))
    v = apply("np.linalg.eigh", lambda x: np.linalg.eigh(x, UPLO=UPLO)[1], (a,), lambda g, y, x: back(None, g, x))
    return type(np.linalg.eigh(np.eye(1)))(w, v)


def _svd_back(x: np.ndarray, gu: Any, gs: Any, gvh: Any) -> np.ndarray:
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    v, m, n = _T(vh), x.shape[-2], x.shape[-1]
    k = s.shape[-1]
    eye = np.eye(k)
    s2 = s[..., None, :] ** 2 - s[..., :, None] ** 2
    f = np.where(eye.astype(bool), 0.0, 1.0 / np.where(s2 == 0, np.inf, s2))
    smat = s[..., None, :] * eye
    inner = np.zeros((*x.shape[:-2], k, k))
    out = np.zeros(x.shape)
    if gs is not None:
        inner = inner + gs[..., None, :] * eye
    if gu is not None:
        inner = inner + (f * (_T(u) @ gu - _T(gu) @ u)) @ smat
        if m > k:
            out = out + (np.eye(m) - u @ _T(u)) @ gu / s[..., None, :] @ vh
    if gvh is not None:
        gv = _T(gvh)
        inner = inner + smat @ (f * (_T(v) @ gv - _T(gv) @ v))
        if n > k:
            out = out + (u / s[..., None, :]) @ _T(gv) @ (np.eye(n) - v @ vh)
    return out + u @ inner @ vh


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    x = value(a)
    if full_matrices and compute_uv and x.shape[-1] != x.shape[-2]:
        raise TypeError(
            "np.linalg.svd(full_matrices=True) of a recorded non-square matrix is not differentiated (the extra "
            "singular vectors are not unique): pass full_matrices=False"
        )
    if hermitian:
        raise TypeError("np.linalg.svd(hermitian=True) of a recorded value is not differentiated: use eigh")
    name = "np.linalg.svd"
    s = apply(name, lambda v: np.linalg.svd(v, compute_uv=False), (a,), lambda g, y, v: (_svd_back(v, None, g, None),))
    if not compute_uv:
        return s
    u = apply(name, lambda v: np.linalg.svd(v, False)[0], (a,), lambda g, y, v: (_svd_back(v, g, None, None),))
    vh = apply(name, lambda v: np.linalg.svd(v, False)[2], (a,), lambda g, y, v: (_svd_back(v, None, None, g),))
    return type(np.linalg.svd(np.eye(1)))(u, s, vh)


def _qr_back(x: np.ndarray, gq: Any, gr: Any) -> np.ndarray:
    q, r = np.linalg.qr(x)
    gq = np.zeros_like(q) if gq is None else gq
    gr = np.zeros_like(r) if gr is None else gr
    m = r @ _T(gr) - _T(gq) @ q
    low = np.tril(m, -1)
    sym = low + _T(low) + m * np.eye(m.shape[-1])
    return _T(np.linalg.solve(r, _T(gq + q @ sym)))


def _qr(a, mode="reduced"):
    x = value(a)
    if mode not in ("reduced", "r") or x.shape[-2] < x.shape[-1]:
        raise TypeError(
            f"np.linalg.qr(mode={mode!r}) of a recorded {x.shape} matrix is not differentiated: mode 'reduced' or 'r' "
            "of a matrix with at least as many rows as columns is"
        )
    name = "np.linalg.qr"
    r = apply(name, lambda v: np.linalg.qr(v)[1], (a,), lambda g, y, v: (_qr_back(v, None, g),))
    if mode == "r":
        return r
    q = apply(name, lambda v: np.linalg.qr(v)[0], (a,), lambda g, y, v: (_qr_back(v, g, None),))
    return type(np.linalg.qr(np.eye(1)))(q, r)


def _norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm`` for every ``ord`` and ``axis`` NumPy takes, from recorded operations."""
    nd = np.ndim(value(x))
    if axis is None:
        if ord is None or (ord == "fro" and nd == 2) or (ord == 2 and nd == 1):
            y = _two(np.ravel(x), 0, False)
            return np.reshape(y, (1,) * nd) if keepdims else y
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(int(a) % nd for a in axes)
    if len(axes) == 1:
        (ax,) = axes
        a = np.abs(x)
        if ord is None or ord == 2:
            return _two(x, ax, keepdims)
        if ord == np.inf:
            return np.max(a, axis=ax, keepdims=keepdims)
        if ord == -np.inf:
            return np.min(a, axis=ax, keepdims=keepdims)
        if ord == 0:
            return np.sum(np.asarray(value(x)) != 0, axis=ax, keepdims=keepdims).astype(np.result_type(value(x), 1.0))
        if isinstance(ord, str):
            raise ValueError(f"Invalid norm order {ord!r} for vectors")
        if ord == 1:
            return np.sum(a, axis=ax, keepdims=keepdims)
        return np.sum(a**ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)
    if len(axes) != 2:
        raise ValueError("Improper number of dimensions to norm.")
    row, col = axes
    if ord is None or ord == "fro":
        return _two(x, axes, keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        inside, outside = (row, col) if ord in (1, -1) else (col, row)
        sums = np.sum(np.abs(x), axis=inside, keepdims=True)
        pick = np.max if ord > 0 else np.min
        y = pick(sums, axis=outside, keepdims=True)
        return y if keepdims else np.squeeze(y, axis=axes)
    if ord in (2, -2, "nuc"):
        moved = np.moveaxis(x, axes, (nd - 2, nd - 1))
        s = _svd(moved, compute_uv=False)
        y = np.sum(s, axis=-1) if ord == "nuc" else (np.max if ord == 2 else np.min)(s, axis=-1)
        return np.expand_dims(y, axes) if keepdims else y
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


def _two(x: Any, axis: Any, keepdims: bool) -> Any:
    """The Euclidean / Frobenius norm; gradient 0 at the zero vector, as in torch."""

    def vjp(g, y, v):
        norm = y if keepdims else np.expand_dims(y, axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(norm == 0, 0.0, v / norm)
        return ((g if keepdims else np.expand_dims(g, axis)) * share,)

    f = lambda v: np.sqrt(np.sum(v * v, axis=axis, keepdims=keepdims))  # noqa: E731
    return apply("np.linalg.norm", f, (x,), vjp, reads_output=True)


for _func, _impl, _notes in (
    (np.linalg.norm, _norm, "every ord and axis; gradient 0 at the zero vector; ties of max/min shared"),
    (np.einsum, einsum, "any subscripts, implicit/explicit output, ellipses, repeated letters, optimize="),
    (np.dot, _dot, "N-d operands"), (np.tensordot, _tensordot, ""), (np.inner, _inner, ""),
    (np.outer, _outer, ""), (np.vdot, _vdot, ""), (np.kron, _kron, ""),
    (np.linalg.inv, _inv, ""), (np.linalg.solve, _solve, ""), (np.linalg.det, _det, ""),
    (np.linalg.slogdet, _slogdet, "the sign is a constant"),
    (np.linalg.pinv, _pinv, "exact where the rank does not change"),
    (np.linalg.cholesky, _cholesky, "the gradient lies in the triangle NumPy reads"),
    (np.linalg.eigh, _eigh, "distinct eigenvalues; the gradient lies in the triangle UPLO names"),
    (np.linalg.svd, _svd, "distinct singular values; full_matrices=True only for square matrices"),
    (np.linalg.qr, _qr, "modes 'reduced' and 'r', at least as many rows as columns"),
):  # fmt: skip
    defun(_func, _impl, _notes)
