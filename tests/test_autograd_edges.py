"""Edge cases of the graph found by trying what PyTorch users write: each is exact (checked against torch
or by hand) or raises with a message that says what to do."""

from __future__ import annotations

import numpy as np
import pytest

import numbadrop as nd
from numbadrop import autograd, nn, optim
from numbadrop.autograd import tensor

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
A = np.array([0.5, -1.0, 2.0])


def leaf(values=A):
    return tensor(np.array(values, dtype=np.float64), requires_grad=True)


def tleaf(values=A):
    return torch.tensor(np.array(values, dtype=np.float64), requires_grad=True)


# --- a backward that would read overwritten values raises -------------------------------
@pytest.mark.parametrize(
    "name, step",
    [
        ("np.exp", lambda x: np.exp(x)),
        ("np.tanh", lambda x: np.tanh(x)),
        ("np.sqrt", lambda x: np.sqrt(x * x + 1)),
        ("np.maximum.reduce", lambda x: (x * np.ones((2, 1))).max(axis=1)),
        ("norm", lambda x: np.linalg.norm(x * np.ones((2, 1)), axis=1)),
    ],
)
def test_overwriting_a_saved_output_raises(name, step):
    y = step(leaf())
    y *= 2.0
    with pytest.raises(RuntimeError, match=name.replace(".", r"\.")):
        y.sum().backward()


def test_in_place_dropout_of_a_saved_output_raises():
    y = np.exp(leaf())
    nd.dropout(y, 0.5, inplace=True, rng=0)
    with pytest.raises(RuntimeError, match=r"np\.exp"):
        y.sum().backward()


def test_a_sum_does_not_keep_its_input():
    """The softmax idiom fails only because exp needs its output, and the message names exp."""
    e = np.exp(leaf())
    total = e.sum()
    e /= total
    with pytest.raises(RuntimeError, match=r"np\.exp"):
        e.sum().backward()


def test_astype_without_copy_shares_the_version():
    h = leaf() * 1.0
    y = h.astype(np.float64, copy=False)
    z = y * y
    h *= 3
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()


def test_optimizer_step_between_forward_and_backward_raises():
    w = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    x = leaf()
    y = (x * w).sum()
    w.grad = np.ones(3)
    optim.SGD([w], lr=1.0).step()
    with pytest.raises(RuntimeError, match="optimizer"):
        y.backward()


def test_linear_weights_changed_before_backward_raise():
    fc = nn.Linear(3, 2, dtype=np.float64, rng=0)
    loss = fc(np.ones((1, 3))).sum()
    fc.weight.data = fc.weight.data * 2
    with pytest.raises(RuntimeError, match="Linear"):
        loss.backward()


def test_detach_is_read_only():
    h = leaf() * 1.0
    with pytest.raises(ValueError, match="read-only"):
        h.detach()[0] = 100.0
    np.testing.assert_array_equal(h.detach().copy(), A)


# --- indexing and in-place writes ------------------------------------------------------------
@needs_torch
def test_setitem_value_with_a_leading_unit_axis():
    x, v = leaf(np.ones((2, 3))), leaf(np.zeros((1, 3)))
    h = x * 1.0
    h[0] = v
    (h * np.arange(6.0).reshape(2, 3)).sum().backward()
    np.testing.assert_array_equal(v.grad, [[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [3, 4, 5]])


@needs_torch
@pytest.mark.parametrize("where", ["row", "column"])
def test_augmented_assignment_to_an_index_matches_torch(where):
    key = 0 if where == "row" else (slice(None), 1)
    x, xt = leaf(np.arange(6.0).reshape(2, 3)), tleaf(np.arange(6.0).reshape(2, 3))
    h, ht = x * 1.0, xt * 1.0
    h[key] *= 3.0
    h[key] += 1.0
    ht[key] *= 3.0
    ht[key] += 1.0
    (h * h).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_changing_a_view_without_storing_it_back_makes_the_base_unusable():
    h = leaf() * 1.0
    view = h[1:]
    view *= 2.0
    with pytest.raises(RuntimeError, match="modified in place"):
        h.sum()


def test_ufunc_at_on_a_recorded_value_raises():
    h = leaf() * 1.0
    with pytest.raises(TypeError, match=r"np\.add\.at"):
        np.add.at(h, [0, 0], 1.0)


@needs_torch
def test_zeros_like_buffer_records_the_writes():
    x, xt = leaf(), tleaf()
    buf = np.zeros_like(x)
    buf[1:] = x[:2] * 2
    buf[0] = x[2]
    (buf * buf).sum().backward()
    buft = torch.zeros_like(xt)
    buft[1:] = xt[:2] * 2
    buft[0] = xt[2]
    (buft * buft).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_copying_a_recorded_value_into_a_plain_array_raises():
    with pytest.raises(TypeError, match=r"np\.copyto"):
        np.copyto(np.zeros(3), leaf() * 2)


def test_in_place_on_a_leaf_raises():
    x = leaf()
    with pytest.raises(RuntimeError, match="requires_grad"):
        x *= 2


@needs_torch
def test_top_level_in_place_layer_on_a_recorded_value():
    fc = nn.Linear(3, 3, dtype=np.float64, rng=0)
    h = fc(np.ones((1, 3)))
    nn.ReLU(inplace=True)(h)  # h itself now holds the ReLU, as in torch
    (h * h).sum().backward()
    tfc = torch.nn.Linear(3, 3).double()
    with torch.no_grad():
        tfc.weight.copy_(torch.from_numpy(fc.weight.data))
        tfc.bias.copy_(torch.from_numpy(fc.bias.data))
    ht = tfc(torch.ones(1, 3, dtype=torch.float64))
    torch.relu_(ht)
    (ht * ht).sum().backward()
    np.testing.assert_allclose(fc.weight.grad, tfc.weight.grad.numpy(), rtol=1e-12)


# --- parameters ---------------------------------------------------------------------------------
@needs_torch
def test_dropconnect_on_a_parameter_matches_torch():
    w = nn.Parameter(np.linspace(-1, 1, 6).reshape(2, 3))
    x = np.arange(3.0)
    (x @ nd.dropout(w, 0.5, rng=4).T).sum().backward()
    wt = torch.tensor(w.data, requires_grad=True)
    keep = torch.from_numpy(nd.dropout_mask((2, 3), 0.5, rng=4).astype(np.float64))
    (torch.from_numpy(x) @ (wt * keep / 0.5).T).sum().backward()
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-12)


def test_manual_sgd_under_no_grad_updates_in_place():
    model = nn.Linear(3, 2, dtype=np.float64, rng=0)
    before = model.weight.data.copy()
    (model(np.ones((1, 3))) ** 2).sum().backward()
    with nd.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    np.testing.assert_allclose(model.weight.data, before - 0.1 * model.weight.grad, rtol=1e-12)
    assert [name for name, _ in model.named_parameters()] == ["weight", "bias"]


def test_in_place_parameter_update_while_recording_raises():
    w = nn.Parameter(np.ones(3))
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1.0


def test_parameter_reads_like_an_array():
    w = nn.Parameter(np.array([1.0, -2.0, 3.0]))
    assert (w > 0).tolist() == [True, False, True] and w.size == 3 and float(w.max()) == 3.0
    np.where(w > 0, w, 0).sum().backward()
    np.testing.assert_array_equal(w.grad, [1.0, 0.0, 1.0])
    assert {w: 1}[w] == 1  # still a dictionary key (optimizer state)


def test_eval_mode_call_passes_the_gradient_and_freezes_its_parameters():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3, dtype=np.float64, rng=1)
            self.w = nn.Parameter(np.full(3, 2.0))

        def forward(self, h):
            return self.fc(h) * self.w

    student = nn.Linear(3, 3, dtype=np.float64, rng=0)
    teacher = Frozen().eval()
    teacher(student(np.ones((2, 3)))).sum().backward()
    assert teacher.fc.weight.grad is None and teacher.w.grad is None
    expected = np.full((2, 3), 2.0) @ teacher.fc.weight.data  # d out / d student output
    np.testing.assert_allclose(student.bias.grad, expected.sum(axis=0), rtol=1e-12)


# --- custom primitives and module calls ------------------------------------------------------------
def test_primitive_refuses_recorded_keyword_arrays_and_two_outputs():
    @autograd.primitive
    def scale(x, w=None):
        return x * w, lambda g: g * w

    @autograd.primitive
    def two(x):
        return (x, x), lambda g: g

    with pytest.raises(TypeError, match="positionally"):
        scale(leaf(), w=leaf())
    with pytest.raises(TypeError, match="one array"):
        two(leaf())


def test_keyword_input_of_a_module_call():
    fc = nn.Linear(3, 2, dtype=np.float64, rng=0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x=None):
            return self.fc(x)

    net = Net()
    y = net(x=np.ones((1, 3)))
    np.testing.assert_allclose(net.backward(np.ones_like(y)), np.ones((1, 2)) @ fc.weight.data, rtol=1e-12)


@needs_torch
def test_linear_weight_dropout_matches_torch():
    fc = nn.Linear(4, 3, dtype=np.float64, rng=0, weight_dropout=0.4, dropout_rng=nd.Generator(6))
    x = np.random.default_rng(1).standard_normal((5, 4))
    masks = [nd.dropout_mask((3, 4), 0.4, rng=nd.Generator(6, k)).astype(np.float64) for k in range(2)]
    loss = (fc(x) ** 2).sum() + fc(x * 2).sum()  # two forwards, two masks
    loss.backward()
    w = torch.tensor(fc.weight.data, requires_grad=True)
    b = torch.tensor(fc.bias.data, requires_grad=True)
    xt = torch.from_numpy(x)
    layer = [lambda inp, m=m: torch.nn.functional.linear(inp, w * torch.from_numpy(m) / 0.6, b) for m in masks]
    ((layer[0](xt) ** 2).sum() + layer[1](xt * 2).sum()).backward()
    np.testing.assert_allclose(fc.weight.grad, w.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(fc.bias.grad, b.grad.numpy(), rtol=1e-12)
    fc.eval()
    np.testing.assert_allclose(fc(x), x @ fc.weight.data.T + fc.bias.data, rtol=1e-15)  # no DropConnect in eval


def test_linear_weight_dropout_input_gradient():
    fc = nn.Linear(4, 3, dtype=np.float64, rng=0, weight_dropout=0.5, dropout_rng=3)
    x = np.random.default_rng(1).standard_normal((2, 4))
    y = fc(x)
    dx = fc.backward(np.ones_like(y))
    w = nd.dropout(fc.weight.data, 0.5, rng=nd.Generator(3, 0))
    np.testing.assert_allclose(dx, np.ones((2, 3)) @ w, rtol=1e-15)
    with pytest.raises(ValueError, match="weight_dropout"):
        nn.Linear(4, 3, weight_dropout=1.5)


@needs_torch
def test_layers_on_torch_tensors_keep_their_backward():
    """A layer called on another array kind (a torch CPU tensor) records a chain: layer.backward works."""
    x = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    on_torch, on_numpy = nn.Dropout(0.4, rng=3), nn.Dropout(0.4, rng=3)
    y = on_torch(torch.from_numpy(x))
    assert isinstance(y, torch.Tensor)
    np.testing.assert_array_equal(y.numpy(), on_numpy(x))
    g = np.random.default_rng(1).standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_array_equal(on_torch.backward(torch.from_numpy(g)).numpy(), on_numpy.backward(g))
