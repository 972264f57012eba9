"""A restatement of HIPS autograd's NumPy gradient cases, for numbadrop's graph.

Each case is ``(name, f, args)``: ``f`` takes float64 arrays (every one
differentiated) and returns an array or a tuple of arrays. The cases follow
HIPS autograd's ``tests/test_numpy.py``, ``test_systematic.py``,
``test_scalar_ops.py``, ``test_binary_ops.py`` and ``test_linalg.py``
(restated, not copied: the inputs and the checker are ours).
:func:`check_case` compares ``x.grad`` with central finite differences.
``REFUSED`` lists what raises ``TypeError`` naming the function instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from numbadrop import autograd

R = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return R.standard_normal(shape)


def pos(*shape: int) -> np.ndarray:
    return R.uniform(0.5, 2.0, shape)


def unit(*shape: int) -> np.ndarray:
    return R.uniform(-0.9, 0.9, shape)


def spd(n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    a = R.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def sym(a: Any) -> Any:
    return (a + np.swapaxes(a, -1, -2)) / 2


Case = tuple[str, Callable[..., Any], tuple[np.ndarray, ...]]
CASES: list[Case] = []


def case(name: str, f: Callable[..., Any], *args: np.ndarray) -> None:
    CASES.append((name, f, tuple(np.asarray(a, dtype=np.float64) for a in args)))


# --- test_scalar_ops / test_systematic: elementwise ufuncs ---------------------------------
for _name, _f, _gen in (
    ("abs", np.abs, rand), ("fabs", np.fabs, rand), ("exp", np.exp, rand), ("exp2", np.exp2, rand),
    ("expm1", np.expm1, rand), ("log", np.log, pos), ("log2", np.log2, pos), ("log10", np.log10, pos),
    ("log1p", np.log1p, pos), ("sqrt", np.sqrt, pos), ("square", np.square, rand), ("cbrt", np.cbrt, pos),
    ("reciprocal", np.reciprocal, pos), ("negative", np.negative, rand), ("sin", np.sin, rand),
    ("cos", np.cos, rand), ("tan", np.tan, unit), ("arcsin", np.arcsin, unit), ("arccos", np.arccos, unit),
    ("arctan", np.arctan, rand), ("sinh", np.sinh, rand), ("cosh", np.cosh, rand), ("tanh", np.tanh, rand),
    ("arcsinh", np.arcsinh, rand), ("arccosh", lambda x: np.arccosh(x + 1.5), pos), ("arctanh", np.arctanh, unit),
    ("deg2rad", np.deg2rad, rand), ("rad2deg", np.rad2deg, rand), ("radians", np.radians, rand),
    ("degrees", np.degrees, rand), ("sinc", np.sinc, rand), ("conj", np.conj, rand), ("real", np.real, rand),
    ("positive", np.positive, rand),
):  # fmt: skip
    case(f"{_name}[2x3]", _f, _gen(2, 3))
    case(f"{_name}[scalar]", _f, _gen())
case("sinc[0]", np.sinc, np.array([0.0, 0.5]))

# --- test_binary_ops: broadcasting binary ufuncs ------------------------------------------------
for _name, _f, _ga, _gb in (
    ("add", np.add, rand, rand), ("subtract", np.subtract, rand, rand), ("multiply", np.multiply, rand, rand),
    ("divide", np.divide, rand, pos), ("power", np.power, pos, rand), ("float_power", np.float_power, pos, rand),
    ("maximum", np.maximum, rand, rand), ("minimum", np.minimum, rand, rand), ("fmax", np.fmax, rand, rand),
    ("fmin", np.fmin, rand, rand), ("logaddexp", np.logaddexp, rand, rand), ("logaddexp2", np.logaddexp2, rand, rand),
    ("arctan2", np.arctan2, rand, rand), ("hypot", np.hypot, rand, rand),
    ("mod", lambda a, b: np.mod(a, b), lambda *s: pos(*s) * 3.1, pos), ("fmod", np.fmod, rand, pos),
    ("remainder", np.remainder, lambda *s: pos(*s) * 3.1, pos),
):  # fmt: skip
    case(f"{_name}[2x3,2x3]", _f, _ga(2, 3), _gb(2, 3))
    case(f"{_name}[2x3,3]", _f, _ga(2, 3), _gb(3))
    case(f"{_name}[2x1,1x3]", _f, _ga(2, 1), _gb(1, 3))
    case(f"{_name}[scalar,4]", _f, _ga(), _gb(4))
case("operators", lambda a, b: (a + b) * (a - b) / (b * b + 1) - a**2 + 2.0 ** (a / 3) - abs(b), rand(3, 2), rand(2))
case("rdiv", lambda a: 2.0 / a + 3.0 - a, pos(4))
case("matmul_op", lambda a, b: a @ b, rand(2, 3), rand(3, 4))
case("matmul_batch", np.matmul, rand(2, 2, 3), rand(3, 4))
case("matmul_vec", np.matmul, rand(3), rand(2, 3, 4))

# --- test_numpy: reductions ---------------------------------------------------------------
for _name, _f in (
    ("sum", np.sum), ("mean", np.mean), ("var", np.var), ("std", np.std), ("max", np.max), ("min", np.min),
    ("prod", np.prod), ("amax", np.amax), ("ptp", np.ptp), ("nansum", np.nansum), ("nanmean", np.nanmean),
    ("nanvar", np.nanvar), ("nanstd", np.nanstd), ("nanmax", np.nanmax), ("nanmin", np.nanmin),
    ("nanprod", np.nanprod),
):  # fmt: skip
    case(f"{_name}", _f, rand(3, 4))
    case(f"{_name}[axis=0]", lambda x, _f=_f: _f(x, axis=0), rand(3, 4))
    case(f"{_name}[axis=-1,keepdims]", lambda x, _f=_f: _f(x, axis=-1, keepdims=True), rand(2, 3, 4))
    case(f"{_name}[axis=(0,2)]", lambda x, _f=_f: _f(x, axis=(0, 2)), rand(2, 3, 4))
case("var_ddof", lambda x: np.var(x, axis=1, ddof=1), rand(3, 4))
case("std_ddof", lambda x: np.std(x, ddof=1), rand(3, 4))
case("std_length1", lambda x: np.std(x, 0) + np.mean(x, 0), np.array([[1.0, 2.0, 3.0]]))
case("max_equal_values", lambda x: np.max(x * 0 + 1), rand(3))
case("min_3way_ties", lambda x: np.min(np.concatenate([x, x, x])), rand(3))
case("prod_zero", np.prod, np.array([1.5, 0.0, 2.0, -1.0]))
case("prod_two_zeros", lambda x: np.prod(x, axis=1), np.array([[1.5, 0.0, 2.0, 0.0], [1.0, 2.0, 3.0, 0.5]]))
case("nan_reductions", lambda x: np.nansum(np.where(x > 1, np.nan, x)) + np.nanmean(np.where(x > 1, np.nan, x)),
     rand(3, 4))  # fmt: skip
case("average", lambda x: np.average(x, axis=0), rand(3, 4))
case("average_weights", lambda x, w: np.average(x, axis=1, weights=w), rand(3, 4), pos(4))
case("average_weights_full", lambda x, w: np.average(x, weights=w), rand(3, 4), pos(3, 4))
case("cov", np.cov, rand(3, 5))
case("cov_rowvar", lambda x: np.cov(x, rowvar=False, ddof=0), rand(5, 3))
case("cov_xy", lambda x, y: np.cov(x, y), rand(5), rand(5))
case("cov_aweights", lambda x: np.cov(x, aweights=np.arange(1.0, 6.0)), rand(2, 5))
case("corrcoef", np.corrcoef, rand(3, 6))

# --- test_numpy: scans, sorting, differences -----------------------------------------------------
case("cumsum", np.cumsum, rand(3, 4))
case("cumsum_axis", lambda x: np.cumsum(x, axis=1), rand(3, 4))
case("cumsum_method", lambda x: x.cumsum(axis=0), rand(3, 4))
case("cumprod", lambda x: np.cumprod(x, axis=1), rand(3, 4))
case("cumprod_zeros", np.cumprod, np.array([1.5, 0.0, 2.0, 0.0, 3.0]))
case("nancumsum", np.nancumsum, rand(5))
case("nancumprod", lambda x: np.nancumprod(np.where(x > 1, np.nan, x)), rand(5))
case("amin", lambda x: np.amin(x, axis=0), rand(3, 4))
case("copysign", np.copysign, rand(3), rand(3))
case("diff", np.diff, rand(5))
case("diff_n2_axis0", lambda x: np.diff(x, n=2, axis=0), rand(4, 3))
case("diff_prepend", lambda x: np.diff(x, prepend=0.0, append=x[:1]), rand(5))
case("sort", np.sort, rand(6))
case("sort_axis0", lambda x: np.sort(x, axis=0), rand(4, 3))
case("sort_none", lambda x: np.sort(x, axis=None), rand(3, 3))
case("partition", lambda x: np.partition(x, 3), rand(7))
case("unique", np.unique, np.array([3.0, 1.0, 2.0, 5.0]))
case("unique_dupes", lambda x: np.unique(np.concatenate([x, x[:2]])), np.array([3.0, 1.0, 2.0]))

# --- test_numpy: shapes, joins, indexing -----------------------------------------------------
case("reshape", lambda x: np.reshape(x, (4, 3)), rand(3, 4))
case("reshape_F", lambda x: np.reshape(x, (4, 3), order="F"), rand(3, 4))
case("reshape_A_transposed", lambda x: np.reshape(x.T, -1, order="A"), rand(3, 4))
case("ravel_A_transposed", lambda x: np.ravel(x.T, order="A") * np.arange(12.0), rand(3, 4))
case("ravel_K_transposed", lambda x: np.ravel(x.T, order="K") * np.arange(12.0), rand(3, 4))
case("flatten_F", lambda x: x.flatten("F") * np.arange(12.0), rand(3, 4))
case("transpose", lambda x: np.transpose(x, (2, 0, 1)), rand(2, 3, 4))
case("T_mT", lambda x: x.T * 2 + np.swapaxes(x.mT, 0, 1), rand(2, 2, 2))
case("moveaxis_kw", lambda x: np.moveaxis(x, source=0, destination=1), rand(2, 3, 4))
case("swapaxes", lambda x: np.swapaxes(x, 0, 2), rand(2, 3, 4))
case("squeeze", lambda x: np.squeeze(x, axis=1), rand(3, 1, 2))
case("expand_dims", lambda x: np.expand_dims(x, (0, 2)), rand(3, 2))
case("atleast_1d_two", lambda x, y: np.atleast_1d(x, y)[0] * np.atleast_1d(x, y)[1], rand(), rand(3))
case("atleast_3d", np.atleast_3d, rand(3, 2))
case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), rand(3, 1))
case("concatenate", lambda x, y: np.concatenate([x, y], axis=1), rand(2, 3), rand(2, 2))
case("concatenate_one", lambda x, y: np.concatenate([x]) + y, rand(3), rand(3))
case("concatenate_none", lambda x, y: np.concatenate([x, y], axis=None), rand(2, 2), rand(3))
case("stack", lambda x, y: np.stack([x, y], axis=-1), rand(2, 3), rand(2, 3))
case("stack_one", lambda x: np.stack([x]), rand(3))
case("vstack", lambda x, y: np.vstack([x, y]), rand(3), rand(2, 3))
case("vstack_one", lambda x: np.vstack([x]), rand(3))
case("hstack", lambda x, y: np.hstack((x, y)), rand(3), rand(2))
case("dstack", lambda x, y: np.dstack((x, y)), rand(2, 3), rand(2, 3))
case("column_stack", lambda x, y: np.column_stack((x, y)), rand(3), rand(3, 2))
case("r_", lambda x, y: np.r_[x, y], rand(3), rand(2))
case("r_one", lambda x: np.r_[x], rand(3))
case("split", lambda x: np.split(x, 2, axis=1)[1] * 2 + np.split(x, 2, axis=1)[0], rand(3, 4))
case("array_split", lambda x: np.array_split(x, 3)[2], rand(7))
case("repeat", lambda x: np.repeat(x, 3, axis=0), rand(2, 3))
case("repeat_counts", lambda x: np.repeat(x, [1, 0, 2]), rand(3))
case("repeat_method", lambda x: x.repeat(2), rand(2, 2))
case("tile", lambda x: np.tile(x, (2, 3)), rand(2, 3))
case("roll", lambda x: np.roll(x, 2, axis=1), rand(3, 4))
case("roll_flat", lambda x: np.roll(x, -3), rand(3, 4))
case("flip", lambda x: np.flip(x, axis=0), rand(3, 4))
case("fliplr_flipud", lambda x: np.fliplr(x) + np.flipud(x), rand(3, 3))
case("rot90", lambda x: np.rot90(x, k=3), rand(3, 4))
case("pad_constant", lambda x: np.pad(x, ((1, 2), (0, 1))), rand(3, 2))
case("pad_constant_values", lambda x: np.pad(x, 1, constant_values=2.0), rand(3, 2))
case("pad_edge", lambda x: np.pad(x, 2, mode="edge"), rand(3, 2))
case("pad_reflect", lambda x: np.pad(x, (2, 1), mode="reflect"), rand(4))
case("pad_symmetric_wrap", lambda x: np.pad(x, 2, mode="symmetric") + np.pad(x, 2, mode="wrap"), rand(3))
case("append", lambda x, y: np.append(x, y), rand(2, 2), rand(3))
case("append_axis", lambda x, y: np.append(x, y, axis=0), rand(2, 2), rand(1, 2))
case("take", lambda x: np.take(x, [0, 2, 2], axis=1), rand(2, 3))
case("take_flat", lambda x: np.take(x, [5, 0, 0]), rand(2, 3))
case("take_along_axis", lambda x: np.take_along_axis(x, np.array([[0, 0], [2, 1]]), axis=1), rand(2, 3))
case("compress", lambda x: np.compress([True, False, True], x, axis=1), rand(2, 3))
case("index_ints", lambda x: x[1, 2] + x[[0, 0, 1]].sum(), rand(3, 4))
case("index_slice", lambda x: x[::2, 1:], rand(3, 4))
case("index_bool", lambda x: x[x > 0], rand(3, 4))
case("index_newaxis", lambda x: x[None, :, None, 1], rand(3, 4))
case("index_ellipsis", lambda x: x[..., 0], rand(2, 3, 4))
case("flat", lambda x: x * x.flat[1], rand(3))
case("flat_slice", lambda x: x.flat[1:4], rand(2, 3))
case("diag_make", np.diag, rand(3))
case("diag_offset", lambda x: np.diag(x, k=-1), rand(3))
case("diag_extract", lambda x: np.diag(x, 1), rand(3, 4))
case("diagonal", lambda x: np.diagonal(x, 0, 1, 2), rand(2, 3, 3))
case("trace", np.trace, rand(3, 4))
case("trace_offset", lambda x: np.trace(x, offset=1, axis1=1, axis2=2), rand(2, 3, 3))
case("tril", np.tril, rand(3, 3))
case("triu", lambda x: np.triu(x, k=1), rand(3, 4))
case("where", lambda x, y: np.where(x > 0, x, y), rand(3, 4), rand(4))
case("clip", lambda x: np.clip(x, -0.5, 0.5), rand(3, 4))
case("clip_arrays", lambda x, lo, hi: np.clip(x, lo, hi), rand(6), rand(6) - 0.5, rand(6) + 0.5)
case("clip_inverted", lambda x, lo, hi: np.clip(x, lo, hi), rand(4), np.full(4, 0.7), np.full(4, -0.3))
case("clip_kw", lambda x: np.clip(x, min=0.0), rand(5))
case("full_like", lambda s, x: np.full_like(x, s) * x, rand(), rand(3))
case("linspace", lambda a, b: np.linspace(a, b, 5), rand(), rand())
case("linspace_arrays", lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1), rand(3), rand(3))
case("astype", lambda x: x.astype("f8") * np.astype(x, np.float64), rand(3))
case("copy_view", lambda x: np.copy(x) + x.view(), rand(3))

# --- test_numpy: products -------------------------------------------------------------------
case("dot_2d", np.dot, rand(2, 3), rand(3, 4))
case("dot_vec", np.dot, rand(3), rand(3))
case("dot_3d_2d", np.dot, rand(2, 2, 3), rand(3, 4))
case("dot_3d_3d", np.dot, rand(2, 2, 3), rand(2, 3, 2))
case("dot_2d_1d", np.dot, rand(2, 3), rand(3))
case("dot_scalar", np.dot, rand(), rand(3))
case("dot_method", lambda x, y: x.dot(y), rand(2, 3), rand(3))
case("tensordot_1", lambda a, b: np.tensordot(a, b, axes=1), rand(2, 3), rand(3, 4))
case("tensordot_2", lambda a, b: np.tensordot(a, b), rand(2, 3, 4), rand(3, 4, 2))
case("tensordot_lists", lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])), rand(2, 3, 4), rand(4, 2))
case("tensordot_0", lambda a, b: np.tensordot(a, b, axes=0), rand(2), rand(3))
case("outer", np.outer, rand(3), rand(2, 2))
case("inner", np.inner, rand(2, 3), rand(4, 3))
case("inner_vec", np.inner, rand(3), rand(3))
case("kron", np.kron, rand(2, 3), rand(2, 2))
case("kron_mixed", np.kron, rand(2), rand(2, 3))
case("vdot", np.vdot, rand(2, 3), rand(3, 2))
case("einsum_matmul", lambda a, b: np.einsum("ij,jk->ik", a, b), rand(2, 3), rand(3, 4))
case("einsum_implicit", lambda a, b: np.einsum("ij,jk", a, b), rand(2, 3), rand(3, 4))
case("einsum_sum", lambda a: np.einsum("ijk->", a), rand(2, 3, 4))
case("einsum_transpose", lambda a: np.einsum("ij->ji", a), rand(2, 3))
case("einsum_trace", lambda a: np.einsum("ii", a), rand(3, 3))
case("einsum_diag", lambda a: np.einsum("ii->i", a), rand(3, 3))
case("einsum_three", lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c), rand(2, 3), rand(3, 2), rand(2, 4))
case("einsum_ellipsis", lambda a, b: np.einsum("...ij,...jk->...ik", a, b), rand(2, 2, 3), rand(3, 4))
case("einsum_broadcast", lambda a, b: np.einsum("...ij,...jk", a, b), rand(1, 2, 3), rand(5, 3, 2))
case("einsum_outer", lambda a, b: np.einsum("i,j->ij", a, b), rand(3), rand(2))
case("einsum_free_index", lambda a, b: np.einsum("ij,k->i", a, b), rand(2, 3), rand(4))
case("einsum_optimize", lambda a, b, c: np.einsum("ij,jk,kl", a, b, c, optimize=True), rand(2, 3), rand(3, 3),
     rand(3, 2))  # fmt: skip
case("einsum_interleaved", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), rand(2, 3), rand(3, 2))

# --- test_linalg --------------------------------------------------------------------------
case("inv", np.linalg.inv, spd(3))
case("inv_batch", np.linalg.inv, spd(3, (2,)))
case("solve", np.linalg.solve, spd(3), rand(3))
case("solve_matrix", np.linalg.solve, spd(3), rand(3, 2))
case("solve_batch", np.linalg.solve, spd(3, (2,)), rand(2, 3, 2))
case("det", np.linalg.det, rand(3, 3))
case("det_batch", np.linalg.det, rand(2, 3, 3))
case("slogdet", lambda a: np.linalg.slogdet(a)[1], rand(3, 3))
case("slogdet_batch", lambda a: np.linalg.slogdet(a).logabsdet, rand(2, 3, 3))
case("pinv_tall", np.linalg.pinv, rand(4, 3))
case("pinv_wide", np.linalg.pinv, rand(2, 3))
case("pinv_square", np.linalg.pinv, spd(3))
case("cholesky", np.linalg.cholesky, spd(3))
case("cholesky_sym", lambda a: np.linalg.cholesky(sym(a) + 4 * np.eye(3)), rand(3, 3))
case("cholesky_batch_upper", lambda a: np.linalg.cholesky(a, upper=True), spd(3, (2,)))
case("eigh_values", lambda a: np.linalg.eigh(a)[0], spd(3))
case("eigh_vectors", lambda a: np.abs(np.linalg.eigh(a)[1]), spd(3))
case("eigh_sym_U", lambda a: np.linalg.eigh(sym(a), UPLO="U").eigenvalues, rand(3, 3))
case("eigh_projector", lambda a: np.linalg.eigh(a)[1][:, -1:] @ np.linalg.eigh(a)[1][:, -1:].T, spd(3))
case("svd_values", lambda a: np.linalg.svd(a, compute_uv=False), rand(3, 4))
case("svd_tall", lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[0]), rand(4, 3))
case("svd_wide_vh", lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[2]), rand(2, 4))
case("svd_reconstruct", lambda a: (lambda u, s, vh: (u * s) @ vh)(*np.linalg.svd(a, full_matrices=False)), rand(3, 2))
case("svd_batch", lambda a: np.linalg.svd(a, full_matrices=False).S, rand(2, 3, 2))
case("qr_r", lambda a: np.abs(np.linalg.qr(a)[1]), rand(4, 3))
case("qr_q", lambda a: np.abs(np.linalg.qr(a).Q), rand(4, 3))
case("qr_square_mode_r", lambda a: np.abs(np.linalg.qr(a, mode="r")), rand(3, 3))
for _ord in (None, 1, 2, 3, 0.5, np.inf, -np.inf, -1):
    case(f"norm_vector[ord={_ord}]", lambda x, _ord=_ord: np.linalg.norm(x, ord=_ord), rand(5))
    case(f"norm_axis1[ord={_ord}]", lambda x, _ord=_ord: np.linalg.norm(x, ord=_ord, axis=1), rand(3, 4))
for _ord in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
    case(f"norm_matrix[ord={_ord}]", lambda x, _ord=_ord: np.linalg.norm(x, ord=_ord), rand(3, 4))
    case(f"norm_matrix_axes[ord={_ord}]", lambda x, _ord=_ord: np.linalg.norm(x, _ord, (2, 0), True), rand(3, 2, 4))
case("norm_nd", lambda x: np.linalg.norm(x), rand(2, 3, 2))
case("norm_keepdims", lambda x: np.linalg.norm(x, axis=-1, keepdims=True), rand(2, 3))
case("norm_zero", lambda x: np.linalg.norm(x * 0), rand(3))

# --- test_builtins / idioms -------------------------------------------------------------------
case("ndarray_sum_unbound", lambda x: np.ndarray.sum(x, axis=0), rand(3, 4))
case("methods", lambda x: x.sum(0) + x.mean(1).sum() + x.max() - x.min() + x.prod() + x.var() + x.std(), rand(2, 3))
case("methods_2", lambda x: x.cumprod() + x.ravel() + x.trace() + x.take([1]) + x.clip(-1, 1).ravel(), rand(2, 2))
case("histogram_edges", lambda x: np.histogram(x, bins=4)[1], rand(6))
case("histogram_bin_edges", np.histogram_bin_edges, rand(6))
case("histogram_weights", lambda w: np.histogram(np.arange(6.0), bins=3, weights=w)[0], rand(6))
case("setitem_dupes", lambda x, z: _setitem(x, [0, 0], z), rand(3), rand(2))
case("setitem_dupes_iadd", lambda x: _iadd(x, [0, 0, 2]), rand(3))
case("zeros_like_buffer", lambda x: _buffer(x), rand(2, 3))


def _setitem(x: Any, key: Any, z: Any) -> Any:
    y = x * 1.0
    y[key] = z
    return y


def _iadd(x: Any, key: Any) -> Any:
    y = x * 1.0
    y[key] += x[1]
    return y


def _buffer(x: Any) -> Any:
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        out[i, :] = 2 * x[i]
    return out


#: Cases that must raise ``TypeError`` naming the function (not differentiated), with that name.
REFUSED: list[tuple[str, Callable[..., Any], tuple[np.ndarray, ...], str]] = [
    ("median", np.median, (rand(5),), "np.median"),
    ("percentile", lambda x: np.percentile(x, 30), (rand(5),), "np.percentile"),
    ("eig", np.linalg.eig, (rand(3, 3),), "np.linalg.eig"),
    ("svd_full_wide", lambda a: np.linalg.svd(a)[0], (rand(2, 3),), "np.linalg.svd"),
    ("qr_wide", lambda a: np.linalg.qr(a)[1], (rand(2, 3),), "np.linalg.qr"),
    ("histogram_auto", lambda x: np.histogram(x, bins="auto")[1], (rand(5),), "np.histogram"),
    ("pad_mean", lambda x: np.pad(x, 1, mode="mean"), (rand(3),), "np.pad"),
    ("buffer_view", lambda x: _buffer_view(x), (rand(2, 3),), "view of an array that is not recorded"),
    ("put_along_axis", lambda x: np.put_along_axis(x * 1, np.array([0]), 1.0, 0), (rand(3),), "np.put_along_axis"),
    ("cumsum_out", lambda x: np.cumsum(x, out=np.zeros(3)), (rand(3),), "np.cumsum"),
    ("convolve", lambda x: np.convolve(x, x), (rand(3),), "np.convolve"),
    ("frexp", lambda x: np.frexp(x)[0], (rand(3),), "np.frexp"),
    ("accumulate", lambda x: np.add.accumulate(x), (rand(3),), "np.add.accumulate"),
    ("sort_inplace", lambda x: (x * 1).sort(), (rand(3),), "ndarray.sort"),
    ("flat_set", lambda x: _flat_set(x), (rand(3),), "ndarray.flat"),
    ("sum_where_none", lambda x: np.sum(x, where=None), (rand(3),), "np.sum"),
]


def _buffer_view(x: Any) -> Any:
    out = np.zeros_like(x)
    out[0][:] = 2 * x[0]
    return out


def _flat_set(x: Any) -> Any:
    y = x * 1
    y.flat[0] = 1.0
    return y


def outputs(result: Any) -> list[Any]:
    """The float arrays among what a case returns."""
    items = list(result) if isinstance(result, (tuple, list)) else [result]
    return [r for r in items if np.asarray(r).dtype.kind == "f"]


def check_case(f: Callable[..., Any], args: tuple[np.ndarray, ...], seed: int = 1) -> None:
    """Assert that ``backward`` of ``sum(v * f(*args))`` matches central finite differences in float64.

    The step is scaled per input (``1e-6 * max(1, |x|)``); the tolerance is
    derived from the size of what is differentiated: the sum of ``|v * f|``
    (rounding of the differences) plus the curvature term of the step.
    """
    rng = np.random.default_rng(seed)
    plain = [np.asarray(o, dtype=np.float64) for o in outputs(f(*args))]
    cotangents = [rng.standard_normal(np.shape(o)) for o in plain]

    def loss(*values: np.ndarray) -> float:
        outs = [np.asarray(o, dtype=np.float64) for o in outputs(f(*values))]
        return float(sum(np.sum(v * o) for v, o in zip(cotangents, outs, strict=True)))

    leaves = [autograd.tensor(a, requires_grad=True) for a in args]
    recorded = outputs(f(*leaves))
    total = sum(np.sum(o * v) for o, v in zip(recorded, cotangents, strict=True))
    total.backward()
    scale = 1.0 + sum(float(np.sum(np.abs(v * o))) for v, o in zip(cotangents, plain, strict=True))
    for k, (a, leaf) in enumerate(zip(args, leaves, strict=True)):
        numeric = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            h = 1e-6 * max(1.0, abs(float(a[i])))
            up, down = [x.copy() for x in args], [x.copy() for x in args]
            up[k][i] += h
            down[k][i] -= h
            numeric[i] = (loss(*up) - loss(*down)) / (2 * h)
        got = np.zeros_like(a) if leaf.grad is None else leaf.grad
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-8 * scale, err_msg=f"argument {k}")


# --- compositions: HIPS's remaining functions and NumPy 2's spellings ---------------------------------
case("rollaxis", lambda x: np.rollaxis(x, 2, 1), rand(2, 3, 4))
case("hsplit_vsplit_dsplit", lambda x: np.hsplit(x, 2)[1].sum() + np.vsplit(x, 2)[0].sum() * 2 + np.dsplit(x, 3)[2],
     rand(2, 2, 3))  # fmt: skip
case("cross", np.cross, rand(4, 3), rand(3))
case("cross_axis", lambda a, b: np.cross(a, b, axis=0), rand(3, 2), rand(3, 2))
case("gradient", np.gradient, rand(5))
case("gradient_2d", lambda x: np.gradient(x, 0.5, edge_order=2)[1], rand(4, 5))
case("gradient_axis", lambda x: np.gradient(x, axis=0), rand(4, 3))
case("nan_to_num", lambda x: np.nan_to_num(np.where(x > 1, np.nan, x)), rand(6))
case("select", lambda x, y: np.select([x > 0.5, x < -0.5], [x, y], default=2.0), rand(6), rand(6))
case("real_if_close", np.real_if_close, rand(3))
case("polyval", np.polyval, rand(3), rand(4))
case("ediff1d", lambda x: np.ediff1d(x, to_begin=x[:1], to_end=[3.0]), rand(2, 3))
case("trapezoid", lambda y: np.trapezoid(y, dx=0.5), rand(3, 5))
case("trapezoid_x", lambda y, x: np.trapezoid(y, x, axis=0), rand(5, 2), np.cumsum(pos(5)))
case("cumulative_sum", lambda x: np.cumulative_sum(x, axis=1, include_initial=True), rand(2, 3))
case("cumulative_prod", lambda x: np.cumulative_prod(x), rand(4))
case("matrix_transpose", np.matrix_transpose, rand(2, 3, 4))
case("vecdot", np.vecdot, rand(2, 3), rand(3))
case("matvec", np.matvec, rand(2, 3, 4), rand(4))
case("vecmat", np.vecmat, rand(3), rand(2, 3, 4))
case("ldexp", lambda x: np.ldexp(x, np.array([1, -2, 3])), rand(3))
case("multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), rand(2, 3), rand(3, 4), rand(4))
case("matrix_power", lambda a: np.linalg.matrix_power(a, 3), rand(3, 3))
case("matrix_power_neg", lambda a: np.linalg.matrix_power(a, -2), spd(3))
case("matrix_power_0", lambda a: np.linalg.matrix_power(a, 0) * a, rand(3, 3))
case("eigvalsh", np.linalg.eigvalsh, spd(3))
case("svdvals", np.linalg.svdvals, rand(2, 3, 4))
case("vector_norm", lambda x: np.linalg.vector_norm(x, axis=(0, 2), ord=3, keepdims=True), rand(2, 3, 2))
case("vector_norm_all", lambda x: np.linalg.vector_norm(x), rand(2, 3))
case("matrix_norm", lambda x: np.linalg.matrix_norm(x, ord="nuc"), rand(2, 3, 4))
case("linalg_spellings", lambda a, b: np.linalg.outer(a[0], b[0]).sum() + np.linalg.trace(a @ b.T)
     + np.linalg.diagonal(a @ b.T).sum() + np.linalg.tensordot(a, b, axes=2) + np.linalg.matmul(a, b.T).sum()
     + np.linalg.cross(a, b).sum() + np.linalg.vecdot(a, b).sum() + np.linalg.matrix_transpose(a).sum(),
     rand(2, 3), rand(2, 3))  # fmt: skip
case("keyword_calls", lambda x: np.tile(A=x, reps=(2, 1))[1:3] + np.flip(m=x, axis=0).sum() + np.rot90(m=x).sum()
     + np.repeat(a=x, repeats=2, axis=0)[::2] + np.roll(a=x, shift=1) + np.sum(a=x, axis=0)
     + np.transpose(a=x, axes=(1, 0)).T + np.reshape(x, shape=(2, 2)) + np.squeeze(a=x)
     + np.swapaxes(a=x, axis1=0, axis2=1).T, rand(2, 2))  # fmt: skip
case("unbound_methods", lambda x: np.ndarray.prod(x, axis=0) + np.ndarray.mean(x) + np.ndarray.max(x)
     + np.ndarray.var(x) + np.ndarray.std(x, axis=1), rand(2, 2))  # fmt: skip
case("einsum_batch_diag", lambda a: np.einsum("bii->b", a), rand(2, 3, 3))
case("einsum_repeat_out", lambda a, b: np.einsum("ii,ij->j", a, b), rand(3, 3), rand(3, 2))
case("solve_batch_vec", np.linalg.solve, spd(2, (3,)), rand(3, 2, 1))
case("average_returned", lambda x, w: np.average(x, weights=w, returned=True)[1] * np.average(x, weights=w), rand(3),
     pos(3))  # fmt: skip
case("kron_3d", np.kron, rand(2, 1, 2), rand(2, 2))
case("pinv_batch", np.linalg.pinv, rand(2, 3, 2))
case("prod_axis_tuple", lambda x: np.prod(x, axis=(0, 2)), rand(2, 3, 2))
case("iter_rows", lambda x: sum(r * r for r in x), rand(3, 2))
case("builtins", lambda x: abs(x) + min(x[0], x[1]) + max(x[0], x[1]) ** 2, rand(2))
