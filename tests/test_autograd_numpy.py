"""The graph across NumPy: HIPS autograd's NumPy gradient cases, the issue's regressions, the registry.

Every case of :mod:`autograd_numpy_cases` is compared with central finite
differences in float64; every refused case raises ``TypeError`` naming the
function before any ``.grad`` is written. Random programs composed from the
registry are compared with torch where it is installed (and with finite
differences always). A last test runs every case with the registry
instrumented and fails if some rule was never exercised, and another fails
if the committed table of the documentation differs from the registry's.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from autograd_numpy_cases import CASES, REFUSED, check_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbadrop import autograd
from numbadrop.autograd import registry
from numbadrop.autograd.table import render

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (finite-difference twins still run)")


def t(a, requires_grad=True):
    return autograd.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("f", "args"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hips_case_matches_finite_differences(f, args):
    check_case(f, args)


@pytest.mark.parametrize(("f", "args", "name"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_case_names_the_function_and_writes_no_grad(f, args, name):
    leaves = [t(a) for a in args]
    with pytest.raises(TypeError, match=name.replace(".", r"\.").replace("(", r"\(")):
        f(*leaves)
    assert all(leaf.grad is None for leaf in leaves)
    with autograd.no_grad():  # the same call on plain values is NumPy's
        try:
            f(*[np.array(a) for a in args])
        except TypeError as exc:  # pragma: no cover - a failure message
            if "recorded" in str(exc):
                pytest.fail(f"raised under no_grad: {exc}")


# --- the silently wrong gradients and unclear crashes, one each --------------------------------
def test_std_over_a_length_one_axis_has_gradient_zero():
    x = t([[1.0, 2, 3]])
    (x.std(0) + x.mean(0)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((1, 3)))


@pytest.mark.parametrize("order", ["A", "K", "F"])
def test_ravel_of_a_transposed_input_in_any_order(order):
    a = np.arange(6.0).reshape(2, 3)
    x = t(a)
    weights = np.arange(1.0, 7.0)
    (np.ravel(x.T, order=order) * weights).sum().backward()
    expected = np.zeros(6)
    np.put(expected, np.ravel(np.arange(6).reshape(2, 3).T, order=order), weights)  # where each weight lands
    np.testing.assert_array_equal(x.grad, expected.reshape(2, 3))


def test_clip_with_bounds_inverted_gives_a_max_its_gradient():
    x, lo, hi = t([0.0, 1.0, 2.0]), t(1.5), t(0.5)
    np.testing.assert_array_equal(np.clip(x, lo, hi), [0.5, 0.5, 0.5])
    np.clip(x, lo, hi).sum().backward()
    assert (x.grad.tolist(), float(lo.grad), float(hi.grad)) == ([0.0, 0.0, 0.0], 0.0, 3.0)


def test_duplicate_fancy_indices_keep_the_last_write():
    x, z = t([1.0, 2.0, 3.0]), t([10.0, 20.0])
    y = x * 1
    y[[0, 0]] = z
    assert y[0] == 20.0
    y.sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])
    x = t([1.0, 2.0, 3.0])
    y = x * 1
    y[[0, 0]] += 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_unique_is_the_selection_it_is():
    x = t([3.0, 1.0, 3.0, 2.0])
    (np.unique(x) * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [50.0, 1.0, 50.0, 10.0])  # the two 3s share their value's gradient


def test_histogram_edges_follow_min_and_max_and_weighted_counts_their_weights():
    x = t([0.0, 1.0, 4.0])
    edges = np.histogram(x, bins=4)[1]
    np.testing.assert_array_equal(edges, [0.0, 1.0, 2.0, 3.0, 4.0])
    edges.sum().backward()
    np.testing.assert_allclose(x.grad, [2.5, 0.0, 2.5])
    w = t([1.0, 2.0, 3.0])
    counts = np.histogram(np.array([0.1, 0.9, 0.95]), bins=2, range=(0, 1), weights=w)[0]
    (counts * np.array([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(w.grad, [1.0, 10.0, 10.0])


def test_full_like_keeps_a_recorded_fill_value():
    s, x = t(2.0), t([1.0, 2.0, 3.0])
    (np.full_like(x, s) * x).sum().backward()
    assert float(s.grad) == 6.0 and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_writing_through_a_view_of_a_buffer_raises():
    x = t(np.ones((2, 3)))
    out = np.zeros_like(x)
    with pytest.raises(TypeError, match="view of an array that is not recorded"):
        out[0][:] = 2 * x[0]
    out[1] = 2 * x[1]  # through one index: recorded
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [2, 2, 2]])


def test_flat_index_is_recorded():
    x = t([1.0, 2.0, 3.0])
    (x * x.flat[1]).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 8.0, 2.0])


@pytest.mark.parametrize(
    "join",
    [np.concatenate, np.stack, np.vstack, lambda a: np.r_[tuple(a)]],
    ids=["concatenate", "stack", "vstack", "r_"],
)
def test_a_join_of_one_array(join):
    x = t([1.0, 2.0])
    (join([x]) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_keyword_forms():
    x = t(np.arange(6.0).reshape(2, 3))
    y = np.moveaxis(x, source=0, destination=1)
    a, b = np.atleast_1d(t(1.0), x)
    (y.sum() + a.sum() * b.sum() + np.cumsum(a=x, axis=1).sum()).backward()
    np.testing.assert_allclose(x.grad, 1.0 + 1.0 + np.array([[3, 2, 1], [3, 2, 1]]))


def test_messages_name_the_function():
    x = t(np.eye(2) + 1)
    with pytest.raises(TypeError, match=r"np\.linalg\.eig "):
        np.linalg.eig(x)
    with pytest.raises(TypeError, match=r"ndarray\.fill"):
        x.fill(0)
    assert x.cumsum().grad_fn == "np.cumsum" and x.mT.grad_fn == "np.swapaxes" and x.view().grad_fn == "view"
    assert np.ndarray.sum(x).grad_fn == "np.add.reduce"


def test_in_place_through_a_view_of_a_leaf_raises():
    x = t([1.0, 2.0, 3.0])
    v = x[0:2]
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        v *= 2
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    with autograd.no_grad():
        v *= 2  # allowed where nothing is recorded, as in torch
    np.testing.assert_array_equal(x, [2.0, 4.0, 3.0])


def test_every_ndarray_method_is_classified():
    from numbadrop.autograd.tensor import METHODS

    public = {n for n in dir(np.ndarray) if not n.startswith("_") and callable(getattr(np.ndarray, n, None))}
    properties = {"T", "mT", "real", "imag", "flat"}
    assert public - set(METHODS) - {"__array_namespace__"} == set()
    assert properties <= set(METHODS)


# --- random programs from the registry, against torch and finite differences -----------------------------
def _spd(x):
    return x[:, :3] @ x[:, :3].T + 3 * np.eye(3)


W = np.linspace(-1.0, 1.0, 16).reshape(4, 4)
#: (name, numpy block, torch block): each maps a (3, 4) array to a (3, 4) array.
BLOCKS = [
    ("exp_tanh", lambda x: np.exp(np.tanh(x)), lambda x: torch.exp(torch.tanh(x))),
    ("sin_cos", lambda x: np.sin(x) * np.cos(x), lambda x: torch.sin(x) * torch.cos(x)),
    ("log1p_square", lambda x: np.log1p(x * x), lambda x: torch.log1p(x * x)),
    ("arctan_sinh", lambda x: np.arctan(np.sinh(x / 4)), lambda x: torch.atan(torch.sinh(x / 4))),
    ("centre", lambda x: x - x.mean(0, keepdims=True), lambda x: x - x.mean(0, keepdim=True)),
    ("scale_std", lambda x: x / (1 + np.std(x, axis=1, keepdims=True)),
     lambda x: x / (1 + torch.std(x, dim=1, keepdim=True, unbiased=False))),
    ("max_gate", lambda x: x * np.max(x, axis=1, keepdims=True), lambda x: x * torch.amax(x, dim=1, keepdim=True)),
    ("cumsum", lambda x: np.cumsum(x, axis=1) * 0.3, lambda x: torch.cumsum(x, 1) * 0.3),
    ("cumprod", lambda x: np.cumprod(x, axis=0), lambda x: torch.cumprod(x, 0)),
    ("prod_gate", lambda x: x * np.prod(np.tanh(x), axis=0), lambda x: x * torch.prod(torch.tanh(x), 0)),
    ("sort", lambda x: np.sort(x, axis=1), lambda x: torch.sort(x, 1).values),
    ("flip_roll", lambda x: np.roll(np.flip(x, 0), 1, axis=1), lambda x: torch.roll(torch.flip(x, (0,)), 1, 1)),
    ("einsum", lambda x: np.einsum("ij,jk->ik", x, W), lambda x: torch.einsum("ij,jk->ik", x, torch.from_numpy(W))),
    ("tensordot", lambda x: np.tensordot(x, W, axes=1), lambda x: torch.tensordot(x, torch.from_numpy(W), dims=1)),
    ("split_join", lambda x: np.concatenate([x[:, :2] * 2, x[:, 2:]], axis=1),
     lambda x: torch.cat([x[:, :2] * 2, x[:, 2:]], 1)),
    ("pad_crop", lambda x: np.pad(x, 1, mode="reflect")[2:, 1:-1] @ np.ones((4, 4)) / 4 + x,
     lambda x: torch.nn.functional.pad(x[None], (1, 1, 1, 1), mode="reflect")[0][2:, 1:-1] @ torch.ones(4, 4,
     dtype=x.dtype) / 4 + x),
    ("diff", lambda x: np.diff(x, axis=0, prepend=x[:1]), lambda x: torch.diff(x, dim=0, prepend=x[:1])),
    ("inv", lambda x: np.concatenate([np.linalg.inv(_spd(x)), x[:, 3:]], 1),
     lambda x: torch.cat([torch.linalg.inv(x[:, :3] @ x[:, :3].T + 3 * torch.eye(3, dtype=x.dtype)), x[:, 3:]], 1)),
    ("cholesky", lambda x: np.concatenate([np.linalg.cholesky(_spd(x)), x[:, 3:]], 1),
     lambda x: torch.cat([torch.linalg.cholesky(x[:, :3] @ x[:, :3].T + 3 * torch.eye(3, dtype=x.dtype)),
                          x[:, 3:]], 1)),
    ("det", lambda x: x * np.linalg.det(_spd(x)) / 100,
     lambda x: x * torch.linalg.det(x[:, :3] @ x[:, :3].T + 3 * torch.eye(3, dtype=x.dtype)) / 100),
    ("norm", lambda x: x / (1 + np.linalg.norm(x, axis=1, keepdims=True)),
     lambda x: x / (1 + torch.linalg.norm(x, dim=1, keepdim=True))),
    ("logaddexp", lambda x: np.logaddexp(x, 0.5 * x), lambda x: torch.logaddexp(x, 0.5 * x)),
    ("arctan2_hypot", lambda x: np.arctan2(x, 1 + x * x) + np.hypot(x, 1.0),
     lambda x: torch.atan2(x, 1 + x * x) + torch.hypot(x, torch.ones_like(x))),
    ("clip_where", lambda x: np.where(x > 0, np.clip(x, -0.5, 0.5), 0.1 * x),
     lambda x: torch.where(x > 0, torch.clamp(x, -0.5, 0.5), 0.1 * x)),
]  # fmt: skip


def _program(blocks, pick):
    def run(x):
        for i in blocks:
            x = BLOCKS[i][pick](x)
        return x

    return run


PROGRAMS = st.lists(st.integers(0, len(BLOCKS) - 1), min_size=1, max_size=4)
X0 = np.random.default_rng(3).uniform(-1.0, 1.0, (3, 4))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@SETTINGS
@given(PROGRAMS)
def test_random_program_matches_finite_differences(blocks):
    check_case(_program(blocks, 1), (X0,))


@needs_torch
@SETTINGS
@given(PROGRAMS)
def test_random_program_matches_torch(blocks):
    v = np.random.default_rng(len(blocks)).standard_normal((3, 4))
    x = t(X0)
    (_program(blocks, 1)(x) * v).sum().backward()
    xt = torch.tensor(X0, requires_grad=True)
    (_program(blocks, 2)(xt) * torch.from_numpy(v)).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11 * (1 + np.abs(xt.grad.numpy()).max()))


#: Slight changes of an input (its domain is kept) and maps of an output, to compose with any case.
BEFORE = [lambda a: a, lambda a: a * (1 + 0.01 * np.cos(a)), lambda a: a + 0.01 * np.tanh(a)]
AFTER = [lambda y: y, np.tanh, lambda y: np.sin(y) * y, lambda y: np.exp(np.tanh(y))]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@SETTINGS
@given(st.sampled_from(range(len(CASES))), st.sampled_from(range(len(BEFORE))), st.sampled_from(range(len(AFTER))))
def test_any_case_composed_with_other_operations(index, before, after):
    _, f, args = CASES[index]

    def program(*values):
        result = f(*[BEFORE[before](v) for v in values])
        items = result if isinstance(result, (tuple, list)) else (result,)
        return tuple(AFTER[after](r) for r in items if np.asarray(r).dtype.kind == "f")

    check_case(program, args)


def test_every_block_is_drawn_or_listed():
    names = [b[0] for b in BLOCKS]
    assert len(set(names)) == len(names)


# --- the registry: every rule exercised, the documentation's table current ------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_rule_in_the_registry_is_exercised(monkeypatch):
    hits: set = set()

    def counting(key, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            hits.add(key)
            return fn(*args, **kwargs)

        return wrapper

    functions = {f: counting(f, impl) for f, impl in registry.FUNCTIONS.items()}
    ufuncs = {
        u: registry.UfuncRule(tuple(counting(u, v) for v in rule.vjps), rule.keep_inputs, rule.keep_output)
        for u, rule in registry.UFUNCS.items()
    }
    reductions = {u: (counting((u, "reduce"), vjp), reads) for u, (vjp, reads) in registry.REDUCTIONS.items()}
    monkeypatch.setattr(registry, "FUNCTIONS", functions)
    monkeypatch.setattr(registry, "UFUNCS", ufuncs)
    monkeypatch.setattr(registry, "REDUCTIONS", reductions)
    with np.errstate(all="ignore"):
        for _, f, args in CASES:
            check_case(f, args)
        for _, f, args, _ in REFUSED:
            try:
                f(*[t(a) for a in args])
            except TypeError:
                pass
    wanted = set(registry.FUNCTIONS) | set(registry.UFUNCS) | {(u, "reduce") for u in registry.REDUCTIONS}
    missing = sorted(getattr(k, "__name__", None) or f"{k[0].__name__}.reduce" for k in wanted - hits)
    assert not missing, f"rules no case exercises: {missing}"


def test_the_documentation_table_is_the_registry():
    committed = (Path(__file__).parents[1] / "docs" / "autodiff_table.rst").read_text()
    assert committed == render(), "docs/autodiff_table.rst is stale: run python docs/autodiff_table.py"
