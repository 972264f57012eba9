"""Graph autodiff: what PyTorch users write in ``forward``, against torch autograd and finite differences.

Every comparison runs in float64 with the same weights on both sides; where a
forward calls dropout, numbadrop's mask is injected into the torch twin.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from autograd_programs import WIDTH, Program, binary_ops, keep_mask, unary_ops
from finite_differences import assert_gradient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbadrop as nd
from numbadrop import autograd, nn, optim

try:
    import torch
except ImportError:  # the finite-difference checks below still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (finite-difference twins still run)")
RTOL = 1e-10


def data(shape=(3, WIDTH), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def twin_linear(layer):
    twin = torch.nn.Linear(layer.in_features, layer.out_features).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight.data))
        twin.bias.copy_(torch.from_numpy(layer.bias.data))
    return twin


def assert_close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), rtol=RTOL, atol=1e-12, err_msg=what)


# --- the idioms of the issue, one by one ------------------------------------------------
class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=0)

    def forward(self, x):
        return x + self.fc(x)


class Scaled(Residual):
    def forward(self, x):
        return self.fc(x) / 3.0


class FunctionalDropout(Residual):
    def forward(self, x):
        return nd.dropout(self.fc(x), 0.5, training=self.training, rng=3)


class Product(Residual):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc(x) * self.act(self.fc(x))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(WIDTH, 2, dtype=np.float64, rng=1)
        self.b = nn.Linear(WIDTH, 3, dtype=np.float64, rng=2)

    def forward(self, x):
        return np.concatenate([self.a(x), self.b(x)], axis=1)


def torch_twin(model):
    """The same forward in torch, with ``model``'s weights."""
    if isinstance(model, Concat):
        a, b = twin_linear(model.a), twin_linear(model.b)
        return lambda x: torch.cat([a(x), b(x)], dim=1), [(model.a, a), (model.b, b)]
    fc = twin_linear(model.fc)
    layers = [(model.fc, fc)]
    if type(model) is Residual:
        return lambda x: x + fc(x), layers
    if isinstance(model, Scaled):
        return lambda x: fc(x) / 3.0, layers
    if isinstance(model, FunctionalDropout):
        mask = torch.from_numpy(keep_mask((3, WIDTH), 0.5, 3))
        return lambda x: fc(x) * mask / 0.5, layers
    return lambda x: fc(x) * torch.relu(fc(x)), layers


IDIOMS = [Residual, Scaled, FunctionalDropout, Product, Concat]


@needs_torch
@pytest.mark.parametrize("cls", IDIOMS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("style", ["model.backward", "loss.backward"])
def test_idiom_matches_torch(cls, style):
    model = cls()
    x = data()
    upstream = data((3, 5 if cls is Concat else WIDTH), seed=1)
    y = model(x)
    if style == "model.backward":
        dx = model.backward(upstream)
    else:
        (y * upstream).sum().backward()
    forward, layers = torch_twin(model)
    xt = torch.tensor(x, requires_grad=True)
    forward(xt).backward(torch.from_numpy(upstream))
    if style == "model.backward":
        assert_close(dx, xt.grad, "input gradient")
    for ours, theirs in layers:
        assert_close(ours.weight.grad, theirs.weight.grad, "weight gradient")
        assert_close(ours.bias.grad, theirs.bias.grad, "bias gradient")


@pytest.mark.parametrize("cls", IDIOMS, ids=lambda c: c.__name__)
def test_idiom_matches_finite_differences(cls):
    model = cls()
    x = data()
    upstream = data((3, 5 if cls is Concat else WIDTH), seed=1)
    model(x)
    dx = model.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in model.named_parameters()}

    def objective():
        with nd.no_grad():
            return model(x) * upstream

    assert_gradient(dx, objective, x, rtol=1e-6, err_msg="input gradient")
    for name, param in model.named_parameters():
        assert_gradient(analytic[name], objective, param.data, rtol=1e-6, err_msg=name)


def test_functional_dropout_drops_the_gradient_of_dropped_units():
    model = FunctionalDropout()
    y = model(data())
    grad = model.backward(np.ones_like(y))
    keep = keep_mask((3, WIDTH), 0.5, 3)
    fc_grad = np.where(keep, 2.0, 0.0)  # d y / d fc(x)
    np.testing.assert_allclose(grad, fc_grad @ model.fc.weight.data, rtol=1e-12)
    np.testing.assert_allclose(model.fc.bias.grad, fc_grad.sum(axis=0), rtol=1e-12)


# --- PyTorch-style losses --------------------------------------------------------------
@needs_torch
def test_loss_backward_trains_like_torch():
    model = nn.Sequential(nn.Linear(6, 8, dtype=np.float64, rng=0), nn.ReLU(), nn.Linear(8, 3, dtype=np.float64, rng=1))
    twin = torch.nn.Sequential(twin_linear(model[0]), torch.nn.ReLU(), twin_linear(model[2]))
    x, target = data((5, 6)), np.array([0, 2, 1, 2, 0])
    opt = optim.SGD(model.parameters(), lr=0.1)
    topt = torch.optim.SGD(twin.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), target)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(target))
        tloss.backward()
        topt.step()
        assert float(loss) == pytest.approx(tloss.item(), rel=1e-12)
    assert_close(model[0].weight.data, twin[0].weight, "weights after 3 steps")


def test_loss_value_reads_like_a_number():
    loss = nn.MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    assert isinstance(loss, autograd.Tensor) and loss.shape == ()
    assert float(loss) == 5.0 and loss.item() == 5.0 and f"{loss:.2f}" == "5.00"
    assert loss > 4 and not loss < 4 and bool(loss == 5.0)
    with nd.no_grad():
        plain = nn.MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    assert plain.item() == 5.0 and not plain.requires_grad
    with pytest.raises(RuntimeError, match="no_grad"):
        plain.backward()


@needs_torch
def test_combined_losses_and_two_forwards_before_one_backward():
    model = Residual()
    fc = twin_linear(model.fc)
    x1, x2 = data(seed=3), data(seed=4)
    l1 = nn.MSELoss()(model(x1), np.zeros((3, WIDTH)))
    l2 = (model(x2) ** 2).mean()
    (l1 + 0.1 * l2).backward()
    t1, t2 = torch.from_numpy(x1), torch.from_numpy(x2)
    (
        torch.nn.functional.mse_loss(t1 + fc(t1), torch.zeros(3, WIDTH, dtype=torch.float64))
        + 0.1 * ((t2 + fc(t2)) ** 2).mean()
    ).backward()
    assert_close(model.fc.weight.grad, fc.weight.grad, "weight")
    assert_close(model.fc.bias.grad, fc.bias.grad, "bias")


@needs_torch
def test_detach_stops_the_gradient_like_torch():
    model = Residual()
    fc = twin_linear(model.fc)
    x = data()
    h = model(x)
    ((h * h.detach()).sum() + h.sum()).backward()
    xt = torch.from_numpy(x)
    ht = xt + fc(xt)
    ((ht * ht.detach()).sum() + ht.sum()).backward()
    assert_close(model.fc.weight.grad, fc.weight.grad, "weight")


@needs_torch
def test_weight_penalty_outside_forward_and_custom_parameters():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=5)
            self.gate = nn.Parameter(np.linspace(0.5, 1.5, WIDTH))
            self.w = nn.Parameter(data((2, WIDTH), seed=9))

        def forward(self, x):
            return (np.tanh(self.fc(x)) * self.gate) @ self.w.T

    model = Gated()
    x = data()
    loss = (model(x) ** 2).sum() + 1e-2 * (model.fc.weight**2).sum()
    loss.backward()
    fc = twin_linear(model.fc)
    gate = torch.tensor(model.gate.data, requires_grad=True)
    w = torch.tensor(model.w.data, requires_grad=True)
    ((torch.tanh(fc(torch.from_numpy(x))) * gate) @ w.T).pow(2).sum().add(1e-2 * (fc.weight**2).sum()).backward()
    assert_close(model.fc.weight.grad, fc.weight.grad, "weight with penalty")
    assert_close(model.gate.grad, gate.grad, "gate")
    assert_close(model.w.grad, w.grad, "w")


class CountingWeight(np.ndarray):
    """Weight data that counts ``grad @ weight``: the input-gradient product of ``Linear``."""

    target = None
    input_grad_products = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul and inputs[1] is CountingWeight.target:
            CountingWeight.input_grad_products += 1
        plain = [i.view(np.ndarray) if isinstance(i, CountingWeight) else i for i in inputs]
        return getattr(ufunc, method)(*plain, **kwargs)


def test_loss_backward_skips_the_input_gradient():
    """Point 7: nothing needs the gradient of the model's input, so the first Linear does not compute it."""
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64, rng=0), nn.ReLU(), nn.Linear(4, 2, dtype=np.float64, rng=1))
    first = model[0].weight.data.view(CountingWeight)
    CountingWeight.target, CountingWeight.input_grad_products = first, 0
    model[0].weight.data = first
    x = data((3, 5))
    (model(x) ** 2).sum().backward()
    assert CountingWeight.input_grad_products == 0
    assert model[0].weight.grad is not None
    y = model(x)
    model.backward(np.ones_like(y))  # asks for the input gradient: now it is computed
    assert CountingWeight.input_grad_products == 1


def test_backward_reaching_no_parameter_raises():
    model = Residual().eval()
    out = model(data())
    loss = nn.MSELoss()(out, np.zeros_like(out))
    with pytest.raises(RuntimeError, match="reaches no parameter"):
        loss.backward()


def test_backward_twice_raises_unless_retained():
    model = Residual()
    loss = (model(data()) ** 2).sum()
    loss.backward(retain_graph=True)
    first = model.fc.weight.grad.copy()
    loss.backward()
    np.testing.assert_allclose(model.fc.weight.grad, 2 * first, rtol=1e-12)
    with pytest.raises(RuntimeError, match="already ran"):
        loss.backward()


# --- never silent ------------------------------------------------------------------------
UNSUPPORTED = {
    "np.percentile": lambda h: np.percentile(h, 50),
    "np.convolve": lambda h: np.convolve(h[0], h[1]),
    "np.median": lambda h: np.median(h),
    "np.linalg.eig": lambda h: np.linalg.eig(h[:, :2] @ h[:, :2].T),
    "np.multiply.accumulate": lambda h: np.multiply.accumulate(h),
    "np.frexp": lambda h: np.frexp(h),
    "ndarray.sort": lambda h: h.sort(),
    "ndarray.fill": lambda h: h.fill(0),
    "ndarray.partition": lambda h: h.partition(1),
    "ndarray.put": lambda h: h.put(0, 1.0),
    "np.copyto": lambda h: np.copyto(h, 0.0),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_operation_raises_with_its_name(name):
    h = Residual()(data())
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        UNSUPPORTED[name](h)
    with nd.no_grad():  # the same call is fine when nothing is recorded
        try:
            UNSUPPORTED[name](h)
        except TypeError as exc:  # pragma: no cover - a failure message, not a pass
            pytest.fail(f"{name} raised under no_grad: {exc}")


def test_operations_without_gradient_return_plain_arrays():
    h = Residual()(data())
    for result in (h > 0, np.isnan(h), h.argmax(axis=1), np.round(h), np.floor(h)):
        assert type(result) is not autograd.Tensor
    assert np.allclose(h, h.detach())


def test_writing_a_recorded_value_into_a_plain_array_raises():
    h = Residual()(data())
    out = np.empty_like(h.detach())
    with pytest.raises(TypeError, match="out="):
        np.add(h, 1, out=out)


@needs_torch
def test_in_place_arithmetic_is_recorded_like_torch():
    model = Residual()
    fc = twin_linear(model.fc)
    x = data()
    h = model(x)
    h *= 2
    h[h < 0] = 0.5
    h += np.ones(WIDTH)
    (h**2).sum().backward()
    xt = torch.from_numpy(x)
    ht = xt + fc(xt)
    ht = ht * 2
    ht = torch.where(ht < 0, torch.tensor(0.5, dtype=torch.float64), ht)
    ht = ht + 1
    (ht**2).sum().backward()
    assert_close(model.fc.weight.grad, fc.weight.grad, "weight")


def test_in_place_change_of_a_saved_value_raises_at_backward():
    fc1 = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=0)
    fc2 = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=1)
    h = fc1(data())
    y = fc2(h)  # fc2's backward reads h
    h *= 2
    with pytest.raises(RuntimeError, match="modified in place"):
        (y.sum() + h.sum()).backward()
    assert fc1.weight.grad is None and fc2.weight.grad is None  # nothing half-applied


def test_value_changed_through_another_view_raises_when_used():
    h = Residual()(data())
    v = h.T
    h *= 2
    with pytest.raises(RuntimeError, match="modified in place"):
        (v * 3).sum()


def test_documented_in_place_layers_keep_working():
    model = nn.Sequential(
        nn.Linear(6, 5, dtype=np.float64, rng=0), nn.ReLU(inplace=True), nn.Dropout(0.3, inplace=True, rng=4),
        nn.Linear(5, 2, dtype=np.float64, rng=1),
    )  # fmt: skip
    reference = nn.Sequential(
        nn.Linear(6, 5, dtype=np.float64, rng=0), nn.ReLU(), nn.Dropout(0.3, rng=4),
        nn.Linear(5, 2, dtype=np.float64, rng=1),
    )  # fmt: skip
    x = data((4, 6))
    for m in (model, reference):
        (m(x) ** 2).sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


# --- nothing kept alive without need -------------------------------------------------------
def _alive_after(model, mode):
    refs = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=0)

        def forward(self, x):
            h = np.tanh(self.fc(x)) * 2
            refs.append(weakref.ref(h))
            return self.fc(h) + x

    probe = Probe()
    if mode == "eval":
        probe.eval()
        out = probe(data())
    elif mode == "no_grad":
        with nd.no_grad():
            out = probe(data())
    else:
        out = probe(data())
    gc.collect()
    return refs[0]() is not None, out


@pytest.mark.parametrize("mode", ["eval", "no_grad"])
def test_eval_and_no_grad_keep_nothing_alive(mode):
    alive, out = _alive_after(None, mode)
    assert not alive
    assert type(out) is np.ndarray


def test_training_keeps_what_backward_needs():
    alive, out = _alive_after(None, "train")
    assert alive  # positive control for the test above
    out.sum().backward()


# --- custom primitives -----------------------------------------------------------------------
def test_custom_primitive_with_two_inputs():
    @autograd.primitive
    def weighted(x, w):
        return x * w, lambda g: (g * w, (g * x).sum(axis=0))

    layer = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=0)
    w = nn.Parameter(np.arange(1.0, WIDTH + 1))
    x = data()
    weighted(layer(x), w).sum().backward()
    h = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(w.grad, h.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, np.full(WIDTH, 3.0) * w.data, rtol=1e-12)


# --- every operation of the tables, alone -----------------------------------------------------
def assert_program_matches_torch(program, seed, x_seed, upstream_seed):
    """Forward values, input and parameter gradients of ``program`` against its torch twin."""
    model = program.numbadrop_model(seed)
    x = data((3, WIDTH), x_seed)
    forward, layers = program.torch_forward(model)
    xt = torch.tensor(x, requires_grad=True)
    out_t = forward(xt)
    upstream = data(tuple(out_t.shape), upstream_seed)
    out_t.backward(torch.from_numpy(upstream))
    y = model(x)
    np.testing.assert_allclose(np.asarray(y), out_t.detach().numpy(), rtol=RTOL, atol=1e-12)
    assert_close(model.backward(upstream), xt.grad, f"input gradient of {program.steps}")
    for ours, theirs in zip(model.layers, layers, strict=True):
        if theirs.weight.grad is None:  # a layer the output does not depend on
            assert ours.weight.grad is None or not ours.weight.grad.any()
            continue
        assert_close(ours.weight.grad, theirs.weight.grad, f"weight gradient of {program.steps}")
        assert_close(ours.bias.grad, theirs.bias.grad, f"bias gradient of {program.steps}")


@needs_torch
@pytest.mark.parametrize("name", [*unary_ops(), *binary_ops()])
def test_each_operation_matches_torch(name):
    if name in unary_ops():
        program = Program([("layer", (0, 0)), (name, (1,)), ("layer", (2, 1))])
    else:
        program = Program([("layer", (0, 0)), ("layer", (0, 1)), (name, (1, 2)), ("layer", (3, 0))])
    assert_program_matches_torch(program, 3, 5, 6)


# --- random programs ------------------------------------------------------------------------------
def programs(max_steps: int = 6):
    names = [*unary_ops(), *binary_ops()]
    unary = set(unary_ops())

    @st.composite
    def build(draw):
        steps = []
        n_values = 1
        for _ in range(draw(st.integers(1, max_steps))):
            kind = draw(st.sampled_from(["layer", "op", "op"]))
            if kind == "layer":
                steps.append(("layer", (draw(st.integers(0, n_values - 1)), draw(st.integers(0, 1)))))
            else:
                name = draw(st.sampled_from(names))
                arity = 1 if name in unary else 2
                steps.append((name, tuple(draw(st.integers(0, n_values - 1)) for _ in range(arity))))
            n_values += 1
        steps.append(("layer", (n_values - 1, draw(st.integers(0, 1)))))
        return Program(steps)

    return build()


@needs_torch
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(), seed=st.integers(0, 2**16))
def test_random_programs_match_torch(program, seed):
    assert_program_matches_torch(program, seed, seed, seed + 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(max_steps=4), seed=st.integers(0, 2**16))
def test_random_programs_match_finite_differences(program, seed):
    """The same random programs without torch: central differences of ``sum(upstream * forward)``."""
    model = program.numbadrop_model(seed)
    x = data((3, WIDTH), seed)
    y = model(x)
    upstream = data(y.shape, seed + 1)
    dx = model.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in model.named_parameters() if p.grad is not None}

    def objective():
        with nd.no_grad():
            return model(x) * upstream

    assert_gradient(dx, objective, x, rtol=1e-5, err_msg=str(program.steps))
    for name, param in model.named_parameters():
        got = analytic.get(name, np.zeros_like(param.data))
        assert_gradient(got, objective, param.data, rtol=1e-5, err_msg=f"{name} of {program.steps}")


@pytest.mark.parametrize(
    "call",
    [
        lambda h: nd.dropout(h, 0.3, rng=1),
        lambda h: nd.dropout(h, 0.5, rng=2, broadcast_dims=1),
        lambda h: nd.dropout1d(h, 0.5, rng=3),
        lambda h: nd.dropout2d(h[..., None], 0.5, rng=4)[..., 0],
        lambda h: nd.dropout3d(h[..., None, None], 0.5, rng=5)[..., 0, 0],
        lambda h: nd.alpha_dropout(h, 0.3, training=True, rng=6),
        lambda h: nd.feature_alpha_dropout(h, 0.4, training=True, rng=7),
        lambda h: nd.dropout(h, 1.0, rng=8),
        lambda h: nd.dropout(h, 0.5, training=False),
    ],
    ids=["dropout", "broadcast", "1d", "2d", "3d", "alpha", "feature_alpha", "p=1", "eval"],
)
def test_functional_family_in_forward_matches_finite_differences(call):
    fc = nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=0)
    x = data((3, WIDTH, WIDTH), 2)[:, 0, :].reshape(3, 1, WIDTH).repeat(2, axis=1)  # (N, C=2, L=WIDTH)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x):
            return call(self.fc(x)) * 1.5

    net = Net()
    upstream = data((3, 2, WIDTH), 3)
    net(x)
    dx = net.backward(upstream)

    def objective():
        with nd.no_grad():
            return net(x) * upstream

    assert_gradient(dx, objective, x, rtol=1e-6, err_msg="input gradient")
    grad = fc.weight.grad.copy()
    assert_gradient(grad, objective, fc.weight.data, rtol=1e-6, err_msg="weight gradient")
