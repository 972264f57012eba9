"""The family on torch tensors that require grad: one torch.autograd node per call, no saved mask."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import numbadrop as nd  # noqa: E402
from numbadrop.autograd import tensor as recorded_tensor  # noqa: E402

#: name -> (call(x, **kw), input shape); every public function of the family.
FAMILY = {
    "dropout": (lambda x, **kw: nd.dropout(x, 0.4, **kw), (6, 10)),
    "dropout_broadcast": (lambda x, **kw: nd.dropout(x, 0.4, broadcast_dims=1, **kw), (6, 10)),
    "dropout1d": (lambda x, **kw: nd.dropout1d(x, 0.4, **kw), (2, 5, 6)),
    "dropout2d": (lambda x, **kw: nd.dropout2d(x, 0.4, **kw), (2, 5, 3, 4)),
    "dropout3d": (lambda x, **kw: nd.dropout3d(x, 0.4, **kw), (2, 5, 2, 2, 3)),
    "alpha_dropout": (lambda x, **kw: nd.alpha_dropout(x, 0.3, True, **kw), (6, 10)),
    "feature_alpha_dropout": (lambda x, **kw: nd.feature_alpha_dropout(x, 0.3, True, **kw), (3, 5, 4)),
    "stochastic_depth": (lambda x, **kw: nd.stochastic_depth(x, 0.5, "row", **kw), (8, 3, 2)),
    "drop_block2d": (lambda x, **kw: nd.drop_block2d(x, 0.3, 3, **kw), (2, 2, 6, 6)),
    "drop_block3d": (lambda x, **kw: nd.drop_block3d(x, 0.3, 3, **kw), (1, 2, 4, 4, 4)),
    "gaussian_dropout": (lambda x, **kw: nd.gaussian_dropout(x, 0.3, **kw), (6, 10)),
    "gaussian_noise": (lambda x, **kw: nd.gaussian_noise(x, 0.5, **kw), (6, 10)),
}


def _leaf(shape, dtype=torch.float64, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape)).to(dtype).requires_grad_(True)


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_flows_and_equals_state_backward(name, dtype):
    call, shape = FAMILY[name]
    x = _leaf(shape, dtype)
    y = call(x, rng=7)
    assert y.requires_grad and y.grad_fn is not None
    g = torch.from_numpy(np.random.default_rng(1).standard_normal(shape)).to(dtype)
    (y * g + 3 * x).sum().backward()  # the dropout path next to a plain one: both must arrive
    y_plain, state = call(x.detach(), rng=7, return_state=True)
    assert torch.equal(y.detach(), y_plain)
    assert torch.equal(x.grad, state.backward(g) + 3)


def test_linear_weight_gradient_has_the_dropout_term():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 4, dtype=torch.float64)
    x = torch.randn(8, 5, dtype=torch.float64)
    nd.dropout(lin(x), 0.5, rng=3).pow(2).sum().backward()
    h = lin(x).detach()
    hd, state = nd.dropout(h, 0.5, rng=3, return_state=True)
    expected = state.backward(2 * hd).T @ x
    assert torch.allclose(lin.weight.grad, expected, rtol=0, atol=1e-12)
    assert (lin.weight.grad != (2 * h).T @ x).any()  # the mask is in the gradient


@pytest.mark.parametrize("name", FAMILY)
def test_gradcheck_float64(name):
    call, shape = FAMILY[name]
    x = _leaf(shape)
    assert torch.autograd.gradcheck(lambda t: call(t, rng=5), (x,))


def test_gradgradcheck_dropout():
    x = _leaf((4, 5))
    assert torch.autograd.gradgradcheck(lambda t: nd.dropout(t, 0.3, rng=2) ** 2, (x,))


def _saved_bytes(fn, x) -> int:
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(saved)


@pytest.mark.parametrize("name", FAMILY)
def test_saves_no_tensor_for_backward(name):
    call, shape = FAMILY[name]
    x = _leaf(shape, torch.float32)
    assert _saved_bytes(lambda t: call(t, rng=0), x) == 0


def test_torch_dropout_saves_a_mask_and_numbadrop_does_not():
    x = _leaf((64, 32), torch.float32)
    assert _saved_bytes(lambda t: torch.nn.functional.dropout(t, 0.5), x) >= x.numel()  # one byte per element
    assert _saved_bytes(lambda t: nd.dropout(t, 0.5), x) == 0


def test_eval_mode_and_no_grad_record_nothing():
    x = _leaf((3, 4))
    assert torch.equal(nd.dropout(x, 0.5, training=False), x)
    with torch.no_grad():
        y = nd.dropout(x, 0.5, rng=0)
    assert not y.requires_grad


# --- in place ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dropout", "alpha_dropout", "drop_block2d", "gaussian_dropout"])
def test_inplace_on_a_leaf_that_requires_grad_is_refused(name):
    call, shape = FAMILY[name]
    x = _leaf(shape)
    before = x.detach().clone()
    with pytest.raises(RuntimeError, match=r"a leaf Variable that requires grad is being used in an in-place"):
        call(x, rng=0, inplace=True)
    assert torch.equal(x.detach(), before)


def test_inplace_on_a_leaf_under_no_grad_is_allowed_and_bumps_the_version():
    x = _leaf((4, 4))
    v = x._version
    with torch.no_grad():
        y = nd.dropout(x, 0.5, rng=0, inplace=True)
    assert y is x and x._version > v


@pytest.mark.parametrize("name", ["dropout", "alpha_dropout", "drop_block2d", "gaussian_dropout"])
def test_inplace_on_an_intermediate_records_the_gradient(name):
    call, shape = FAMILY[name]
    a = _leaf(shape)
    b = a * 2
    v = b._version
    y = call(b, rng=4, inplace=True)
    assert y is b and b._version > v
    y.sum().backward()
    _, state = call(a.detach() * 2, rng=4, return_state=True)
    assert torch.equal(a.grad, 2 * state.backward(torch.ones(shape, dtype=torch.float64)))


def test_inplace_on_a_saved_tensor_raises_at_backward():
    a = _leaf((5,))
    b = a * 1
    c = b * b  # saves b
    nd.dropout(b, 0.5, rng=0, inplace=True)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation"):
        c.sum().backward()


def test_inplace_under_no_grad_on_a_saved_tensor_raises_at_backward():
    a = _leaf((5,))
    b = a * 1
    c = b * b
    with torch.no_grad():
        nd.gaussian_noise(b, 0.5, rng=0, inplace=True)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation"):
        c.sum().backward()


def test_out_bumps_the_version_and_is_refused_under_autograd():
    out = torch.empty(4, 4)
    v = out._version
    nd.dropout(torch.ones(4, 4), 0.5, rng=0, out=out)
    assert out._version > v
    with pytest.raises(RuntimeError, match=r"out=.*don't support automatic differentiation"):
        nd.dropout(_leaf((4, 4), torch.float32), 0.5, out=torch.empty(4, 4))
    with pytest.raises(RuntimeError, match=r"leaf Variable"):
        nd.dropout(torch.ones(4, 4), 0.5, out=torch.empty(4, 4, requires_grad=True))


@pytest.mark.parametrize("how", ["inplace", "out"])
def test_overlapping_memory_is_refused(how):
    e = torch.zeros(1, 4).expand(3, 4)
    with pytest.raises(ValueError, match=r"overlap in memory.*strides \(0, 1\)"):
        if how == "inplace":
            nd.dropout(e, 0.5, rng=0, inplace=True)
        else:
            nd.dropout(torch.ones(3, 4), 0.5, rng=0, out=e)
    assert not e.any()
    # a read of an expanded tensor is fine (one mask value per element)
    y = nd.dropout(torch.ones(1, 4).expand(3, 4), 0.5, rng=0)
    assert torch.equal(y, nd.dropout(torch.ones(3, 4), 0.5, rng=0))


# --- refusals ---------------------------------------------------------------------------------


def test_torch_func_transforms_are_refused():
    def f(t):
        return nd.dropout(t, 0.5, rng=0).sum()

    with pytest.raises(TypeError, match=r"numbadrop does not support torch.func"):
        torch.func.grad(f)(torch.ones(3))
    with pytest.raises(TypeError, match=r"numbadrop does not support torch.vmap"):
        torch.vmap(f)(torch.ones(2, 3))


def test_nested_and_bit_views_are_refused():
    with pytest.warns(UserWarning):
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    with pytest.raises(TypeError, match=r"numbadrop does not support nested tensors"):
        nd.dropout(nested, 0.5)
    with pytest.raises(ValueError, match=r"numbadrop does not support tensors with the negative bit"):
        nd.dropout(torch.ones(3, dtype=torch.complex64).conj().imag, 0.5)


def test_mixing_recorded_values_and_torch_tensors_is_refused():
    r = recorded_tensor(np.ones(3, np.float32), requires_grad=True)
    t = torch.ones(3)
    for mix in (lambda: t * r, lambda: np.multiply(r, t), lambda: np.concatenate([r, t])):
        with pytest.raises(TypeError, match=r"numbadrop.autograd values and torch tensors cannot be mixed"):
            mix()


def test_a_numbadrop_model_refuses_torch_tensors_but_its_dropout_takes_them():
    model = nd.nn.Sequential(nd.nn.Linear(3, 2), nd.nn.Dropout(0.5))
    with pytest.raises(TypeError, match=r"numbadrop.nn.Sequential holds NumPy parameters"):
        model(torch.ones(4, 3))
    x = _leaf((4, 3))
    y = nd.nn.Dropout(0.5, rng=1)(x)
    y.sum().backward()
    assert x.grad is not None and set(x.grad.unique().tolist()) <= {0.0, 2.0}
