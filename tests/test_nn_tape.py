"""The autodiff tape: what a forward records, how backward replays it, and what it keeps alive."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest
from finite_differences import assert_gradient

import numbadrop
from numbadrop import nn
from numbadrop.nn.tape import Tape, active_tape, grad_enabled


class Probe(nn.Module):
    """Linear -> Tanh -> Linear that keeps a weak reference to its hidden activation."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8, dtype=np.float64, rng=1)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(8, 3, dtype=np.float64, rng=2)
        self.hidden_ref = None

    def forward(self, x):
        h = self.act(self.fc1(x))
        self.hidden_ref = weakref.ref(h)  # fc2's backward needs h: the tape holds it in training mode
        return self.fc2(h)


class Twice(nn.Module):
    """One layer applied twice in a forward: ``fc(tanh(fc(x)))``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5, dtype=np.float64, rng=3)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.fc(self.act(self.fc(x)))


def data(shape=(6, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters()}


# --- recording ---------------------------------------------------------------
def test_training_forward_records_one_closure_per_primitive():
    model = Probe()
    model(data())
    assert isinstance(model._tape, Tape)
    assert len(model._tape) == 3  # fc1, act, fc2
    assert active_tape() is None  # the recording context is closed after the forward


def test_submodules_do_not_keep_tapes_of_their_own():
    model = Probe()
    model(data())
    assert all(m._tape is None for m in (model.fc1, model.act, model.fc2))
    with pytest.raises(RuntimeError):
        model.fc1.backward(np.ones((6, 8)))


def test_backward_returns_input_gradient_and_empties_the_tape():
    model = Probe()
    x = data()
    y = model(x)
    tape = model._tape
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape
    assert len(tape) == 0
    # the chain rule by hand, from the layers' own weights
    h = np.tanh(x @ model.fc1.weight.data.T + model.fc1.bias.data)
    dh = np.ones_like(y) @ model.fc2.weight.data
    np.testing.assert_allclose(dx, (dh * (1 - h * h)) @ model.fc1.weight.data, rtol=1e-12)
    np.testing.assert_allclose(model.fc2.weight.grad, np.ones_like(y).T @ h, rtol=1e-12)
    np.testing.assert_allclose(model.fc2.bias.grad, np.full(3, len(x)), rtol=1e-12)


def test_closures_pop_in_reverse_order():
    order = []
    tape = Tape()
    for name in "abc":
        tape.record(lambda g, name=name: (order.append(name), g + 1)[1])
    assert tape.backward(np.zeros(2)).tolist() == [3, 3]
    assert order == ["c", "b", "a"]
    assert len(tape) == 0


def test_two_backwards_accumulate_without_zero_grad():
    model = Probe()
    x = data()
    upstream = np.random.default_rng(1).standard_normal((6, 3))
    model(x)
    model.backward(upstream)
    single = grads(model)
    model.zero_grad()
    for _ in range(2):
        model(x)
        model.backward(upstream)
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.grad, 2 * single[name], rtol=1e-12, err_msg=name)
    model.zero_grad()
    model(x)
    model.backward(upstream)
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.grad, single[name], rtol=1e-12, err_msg=name)


def test_accumulation_adds_into_the_existing_array():
    model = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x = data((4, 3))
    model(x)
    model.backward(np.ones((4, 2)))
    first = model.weight.grad
    snapshot = first.copy()
    model(2 * x)
    model.backward(np.ones((4, 2)))
    assert model.weight.grad is first  # += in place, like torch's .grad
    np.testing.assert_allclose(first, 3 * snapshot, rtol=1e-12)


def test_layer_used_twice_in_one_forward():
    model = Twice()
    x = data((3, 5), seed=2)
    upstream = np.random.default_rng(3).standard_normal((3, 5))
    model(x)
    assert len(model._tape) == 3
    dx = model.backward(upstream)

    def objective():
        with numbadrop.no_grad():
            return model(x) * upstream

    assert_gradient(dx, objective, x, rtol=1e-6, err_msg="input gradient")
    assert_gradient(model.fc.weight.grad, objective, model.fc.weight.data, rtol=1e-6, err_msg="weight")
    assert_gradient(model.fc.bias.grad, objective, model.fc.bias.data, rtol=1e-6, err_msg="bias")


def test_new_forward_replaces_the_previous_tape():
    model = Probe()
    x1, x2 = data(seed=4), data(seed=5)
    upstream = np.ones((6, 3))
    model(x1)
    model(x2)
    dx = model.backward(upstream)
    reference = Probe()
    reference(x2)
    np.testing.assert_allclose(dx, reference.backward(upstream), rtol=1e-12)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-12, err_msg=name)
    with pytest.raises(RuntimeError):
        model.backward(upstream)  # one backward per forward


# --- nothing recorded, nothing kept --------------------------------------------
def _assert_nothing_recorded(model, y):
    assert model._tape is None
    with pytest.raises(RuntimeError, match="training-mode forward"):
        model.backward(np.ones_like(y))
    assert all(p.grad is None for p in model.parameters())


def test_eval_records_nothing():
    model = Probe().eval()
    _assert_nothing_recorded(model, model(data()))


def test_no_grad_records_nothing():
    model = Probe()
    with numbadrop.no_grad():
        assert not grad_enabled()
        y = model(data())
    assert grad_enabled()
    assert model.training
    _assert_nothing_recorded(model, y)


def test_no_grad_as_decorator_and_nested():
    model = Probe()

    @numbadrop.no_grad()
    def predict(x):
        return model(x)

    _assert_nothing_recorded(model, predict(data()))
    with numbadrop.no_grad():
        with numbadrop.no_grad():
            pass
        assert not grad_enabled()  # the inner block restores the outer state, not "enabled"
    assert grad_enabled()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError), numbadrop.no_grad():
        1 / 0  # noqa: B018
    assert grad_enabled()
    model = Probe()
    model(data())
    assert model._tape is not None


def test_eval_forward_discards_an_earlier_training_tape():
    model = Probe()
    model(data())
    model.eval()
    y = model(data())
    _assert_nothing_recorded(model, y)


def _hidden_alive_after_forward(model):
    y = model(data((64, 4)))
    gc.collect()
    return model.hidden_ref() is not None, y


def test_training_tape_keeps_the_activation_alive_until_backward():
    model = Probe()
    alive, y = _hidden_alive_after_forward(model)
    assert alive  # positive control: the check below is able to see a kept activation
    model.backward(np.ones_like(y))
    gc.collect()
    assert model.hidden_ref() is None


def test_eval_keeps_no_activation_alive():
    model = Probe().eval()
    alive, _ = _hidden_alive_after_forward(model)
    assert not alive


def test_no_grad_keeps_no_activation_alive():
    model = Probe()
    with numbadrop.no_grad():
        alive, _ = _hidden_alive_after_forward(model)
    assert not alive


def test_eval_keeps_no_reference_to_the_input():
    model = Probe().eval()
    x = data((16, 4))
    before = sys.getrefcount(x)
    model(x)
    assert sys.getrefcount(x) == before
    model.train()
    model(x)
    assert sys.getrefcount(x) > before  # fc1's closure holds x until backward


# --- errors ------------------------------------------------------------------
def test_backward_without_forward_raises():
    with pytest.raises(RuntimeError):
        Probe().backward(np.ones((6, 3)))


def test_backward_twice_raises():
    model = Probe()
    y = model(data())
    model.backward(np.ones_like(y))
    with pytest.raises(RuntimeError):
        model.backward(np.ones_like(y))


@pytest.mark.parametrize("shape", [(6, 4), (3, 6), (6,), (1, 6, 3)])
def test_wrong_gradient_shape_raises_value_error_and_keeps_the_tape(shape):
    model = Probe()
    x = data()
    upstream = np.random.default_rng(6).standard_normal((6, 3))
    model(x)
    with pytest.raises(ValueError, match="shape"):
        model.backward(np.ones(shape))
    assert all(p.grad is None for p in model.parameters())  # nothing was half-applied
    dx = model.backward(upstream)  # the recorded forward is still usable
    reference = Probe()
    reference(x)
    np.testing.assert_allclose(dx, reference.backward(upstream), rtol=1e-12)


def test_broadcastable_gradient_is_rejected_not_broadcast():
    model = nn.Linear(3, 2, dtype=np.float64, rng=0)
    model(data((4, 3)))
    with pytest.raises(ValueError):
        model.backward(np.ones((1, 2)))


def test_reshape_in_forward_is_recorded():
    """A forward that reshapes a layer's result: the graph records the reshape (it broke the old chain tape)."""

    class Reshaping(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 6, dtype=np.float64, rng=0)

        def forward(self, x):
            return self.fc(x).reshape(-1, 3)

    model = Reshaping()
    x = data((2, 4))
    upstream = np.random.default_rng(7).standard_normal((4, 3))
    model(x)
    dx = model.backward(upstream)
    np.testing.assert_allclose(dx, upstream.reshape(2, 6) @ model.fc.weight.data, rtol=1e-12)
    np.testing.assert_allclose(model.fc.weight.grad, upstream.reshape(2, 6).T @ x, rtol=1e-12)


def test_primitive_gradient_of_the_wrong_shape_raises():
    """A custom primitive whose backward returns a gradient of the wrong shape is named in the error."""

    class Broken(nn.Module):
        @numbadrop.nn.tape.primitive
        def forward(self, x):
            return x * 2, lambda grad: grad[:, :1]

    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64, rng=0), Broken())
    y = model(data((2, 4)))
    with pytest.raises(ValueError, match="Broken backward"):
        model.backward(np.ones_like(y))
