"""``numbadrop.nn`` against torch autograd: layers, losses, and whole MLPs with injected dropout masks.

The dropout masks cannot come from torch's generator, so each test draws
numbadrop's mask with :func:`numbadrop.dropout_mask` at the ``(seed, offset)``
the layer will use and, in torch, multiplies by ``mask / (1 - p)``.
"""

from __future__ import annotations

import numpy as np
import pytest

import numbadrop
from numbadrop import nn, optim

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 2e-5, "atol": 2e-6}}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])

# The seed tutorial's Example 3 (/work/shared/seed/pytorch-dropout-tutorial.txt), verbatim. It is
# compiled twice, once with ``nn = numbadrop.nn`` and once with ``nn = torch.nn``.
SEED_EXAMPLE_3 = """
class DropoutNet(nn.Module):
    def __init__(self, input_dim=784, hidden_dim=256, output_dim=10, dropout_rate=0.5):
        super(DropoutNet, self).__init__()
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.dropout1 = nn.Dropout(p=dropout_rate)
        self.fc2 = nn.Linear(hidden_dim, hidden_dim)
        self.dropout2 = nn.Dropout(p=dropout_rate)
        self.fc3 = nn.Linear(hidden_dim, output_dim)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.fc1(x))
        x = self.dropout1(x)  # First Dropout
        x = self.relu(self.fc2(x))
        x = self.dropout2(x)  # Second Dropout
        x = self.fc3(x)
        return x
"""


def seed_class(lib):
    namespace = {"nn": lib}
    exec(SEED_EXAMPLE_3, namespace)
    return namespace["DropoutNet"]


class MaskedDropout(torch.nn.Module):
    """torch dropout with a given keep-mask: ``x * mask / (1 - p)``."""

    def __init__(self, keep: np.ndarray, p: float):
        super().__init__()
        self.keep = torch.from_numpy(keep)
        self.p = p

    def forward(self, x):
        return x * self.keep.to(x.dtype) / (1 - self.p)


def tensor(a: np.ndarray, grad: bool = False):
    return torch.from_numpy(np.array(a, copy=True)).requires_grad_(grad)


def assert_close(actual, expected, dtype, what=""):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


def copy_into_torch(module: nn.Module, torch_module) -> None:
    torch_module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in module.state_dict().items()})


def compare_params(model: nn.Module, torch_model, dtype, grads=True) -> None:
    torch_params = dict(torch_model.named_parameters())
    assert list(torch_params) == [n for n, _ in model.named_parameters()]
    for name, param in model.named_parameters():
        assert_close(param.data, torch_params[name], dtype, f"{name} data")
        if grads:
            assert_close(param.grad, torch_params[name].grad, dtype, f"{name} grad")


# --- Linear ------------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, bias):
    rng = np.random.default_rng(0)
    layer = nn.Linear(7, 5, bias=bias, dtype=dtype, rng=1)
    tlayer = torch.nn.Linear(7, 5, bias=bias, dtype=TORCH_DTYPE[dtype])
    copy_into_torch(layer, tlayer)
    x = rng.standard_normal((4, 3, 7)).astype(dtype)
    upstream = rng.standard_normal((4, 3, 5)).astype(dtype)
    y = layer(x)
    assert y.dtype == dtype
    dx = layer.backward(upstream)
    xt = tensor(x, grad=True)
    yt = tlayer(xt)
    yt.backward(tensor(upstream))
    assert_close(y, yt, dtype, "y")
    assert_close(dx, xt.grad, dtype, "dx")
    compare_params(layer, tlayer, dtype)


def test_linear_init_distribution_like_torch():
    """U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, as torch.nn.Linear draws them."""
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    for param in (layer.weight.data, layer.bias.data):
        assert param.min() >= -bound and param.max() <= bound
        assert param.min() < -0.95 * bound and param.max() > 0.95 * bound
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.01 * bound


# --- activations -------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", lambda lib: lib.ReLU()),
    ("LeakyReLU", lambda lib: lib.LeakyReLU(0.1)),
    ("Tanh", lambda lib: lib.Tanh()),
    ("Sigmoid", lambda lib: lib.Sigmoid()),
    ("GELU", lambda lib: lib.GELU()),
    ("GELU-tanh", lambda lib: lib.GELU(approximate="tanh")),
    ("SELU", lambda lib: lib.SELU()),
]


@DTYPES
@pytest.mark.parametrize("make", [m for _, m in ACTIVATIONS], ids=[n for n, _ in ACTIVATIONS])
def test_activation(make, dtype):
    rng = np.random.default_rng(2)
    x = np.concatenate([3 * rng.standard_normal(60), [-80.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 80.0]])
    x = x.reshape(1, -1).astype(dtype)
    upstream = rng.standard_normal(x.shape).astype(dtype)
    layer = make(nn)
    y = layer(x)
    assert y.dtype == dtype
    dx = layer.backward(upstream)
    xt = tensor(x, grad=True)
    yt = make(torch.nn)(xt)
    yt.backward(tensor(upstream))
    assert_close(y, yt, dtype, "y")
    assert_close(dx, xt.grad, dtype, "dx")


# --- losses ------------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy(dtype, reduction, label_smoothing):
    rng = np.random.default_rng(3)
    logits = (4 * rng.standard_normal((16, 10))).astype(dtype)
    target = rng.integers(0, 10, 16)
    loss_fn = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    loss = loss_fn(logits, target)
    grad = loss_fn.backward()
    assert grad.dtype == dtype
    lt = tensor(logits, grad=True)
    tloss = F.cross_entropy(lt, torch.from_numpy(target), reduction=reduction, label_smoothing=label_smoothing)
    tloss.backward()
    assert_close(loss, tloss, dtype, "loss")
    assert_close(grad, lt.grad, dtype, "grad")


@DTYPES
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse(dtype, reduction):
    rng = np.random.default_rng(4)
    output, target = (rng.standard_normal((2, 8, 3)).astype(dtype) for _ in range(2))
    loss_fn = nn.MSELoss(reduction=reduction)
    loss = loss_fn(output, target)
    grad = loss_fn.backward()
    ot = tensor(output, grad=True)
    tloss = F.mse_loss(ot, tensor(target), reduction=reduction)
    tloss.backward()
    assert_close(loss, tloss, dtype, "loss")
    assert_close(grad, ot.grad, dtype, "grad")


# --- dropout -----------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_layer_equals_injected_mask(dtype, p):
    layer = nn.Dropout(p, rng=21)
    x = np.random.default_rng(5).standard_normal((9, 33)).astype(dtype)
    upstream = np.random.default_rng(6).standard_normal(x.shape).astype(dtype)
    layer(x)  # offset 0
    y = layer(x)  # offset 1
    dx = layer.backward(upstream)
    keep = numbadrop.dropout_mask(x.shape, p, rng=numbadrop.Generator(21, 1))
    assert keep.any() and not keep.all()
    xt = tensor(x, grad=True)
    yt = MaskedDropout(keep, p)(xt)
    yt.backward(tensor(upstream))
    assert_close(y, yt, dtype, "y")
    assert_close(dx, xt.grad, dtype, "dx")


# --- whole MLPs ----------------------------------------------------------------
def test_seed_dropout_net_784_256_256_10_float32_with_sgd_step():
    """The seed's DropoutNet at its default size: logits, loss, all grads, then one SGD step."""
    numbadrop.manual_seed(0)
    model = seed_class(nn)()
    tmodel = seed_class(torch.nn)()
    copy_into_torch(model, tmodel)
    rng = np.random.default_rng(7)
    x = rng.random((32, 784), dtype=np.float32)
    target = rng.integers(0, 10, 32)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)

    eval_logits = model.eval()(x)  # draws no mask
    model.train()
    numbadrop.manual_seed(1234)  # dropout1 draws offset 0, dropout2 offset 1
    logits = model(x)
    loss = loss_fn(logits, target)
    dx = model.backward(loss_fn.backward())

    masks = numbadrop.Generator(1234)
    tmodel.dropout1 = MaskedDropout(numbadrop.dropout_mask((32, 256), 0.5, rng=masks), 0.5)
    tmodel.dropout2 = MaskedDropout(numbadrop.dropout_mask((32, 256), 0.5, rng=masks), 0.5)
    xt = tensor(x, grad=True)
    tlogits = tmodel(xt)
    tloss = F.cross_entropy(tlogits, torch.from_numpy(target))
    tloss.backward()

    assert not np.allclose(logits, eval_logits, atol=1e-3)  # the masks matter
    assert_close(logits, tlogits, np.float32, "logits")
    assert_close(loss, tloss, np.float32, "loss")
    assert_close(dx, xt.grad, np.float32, "dx")
    compare_params(model, tmodel, np.float32)

    opt.step()
    topt.step()
    compare_params(model, tmodel, np.float32, grads=False)


def mlp(dtype, p):
    return nn.Sequential(
        nn.Linear(64, 48, dtype=dtype, rng=1),
        nn.ReLU(),
        nn.Dropout(p, rng=11),
        nn.Linear(48, 48, dtype=dtype, rng=2),
        nn.Tanh(),
        nn.Dropout(p, rng=12),
        nn.Linear(48, 10, dtype=dtype, rng=3),
    )


def torch_mlp(dtype):
    t = TORCH_DTYPE[dtype]
    return torch.nn.Sequential(
        torch.nn.Linear(64, 48, dtype=t),
        torch.nn.ReLU(),
        torch.nn.Identity(),  # replaced by the step's MaskedDropout
        torch.nn.Linear(48, 48, dtype=t),
        torch.nn.Tanh(),
        torch.nn.Identity(),
        torch.nn.Linear(48, 10, dtype=t),
    )


@DTYPES
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_mlp_three_training_steps(dtype, optimizer):
    """Each Dropout has its own int seed, so step k uses offset k; three steps with an optimizer."""
    p = 0.3
    model, tmodel = mlp(dtype, p), torch_mlp(dtype)
    copy_into_torch(model, tmodel)
    if optimizer == "SGD":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3, foreach=False)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-2)
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2, foreach=False)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    rng = np.random.default_rng(8)
    for step in range(3):
        x = rng.standard_normal((16, 64)).astype(dtype)
        target = rng.integers(0, 10, 16)
        opt.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, target)
        dx = model.backward(loss_fn.backward())

        tmodel[2] = MaskedDropout(numbadrop.dropout_mask((16, 48), p, rng=numbadrop.Generator(11, step)), p)
        tmodel[5] = MaskedDropout(numbadrop.dropout_mask((16, 48), p, rng=numbadrop.Generator(12, step)), p)
        topt.zero_grad()
        xt = tensor(x, grad=True)
        tlogits = tmodel(xt)
        tloss = F.cross_entropy(tlogits, torch.from_numpy(target), label_smoothing=0.1)
        tloss.backward()

        assert_close(logits, tlogits, dtype, f"step {step} logits")
        assert_close(loss, tloss, dtype, f"step {step} loss")
        assert_close(dx, xt.grad, dtype, f"step {step} dx")
        compare_params(model, tmodel, dtype)
        opt.step()
        topt.step()
    compare_params(model, tmodel, dtype, grads=False)


def test_mlp_eval_matches_torch_without_masks():
    model, tmodel = mlp(np.float64, 0.3), torch_mlp(np.float64)
    copy_into_torch(model, tmodel)
    x = np.random.default_rng(9).standard_normal((5, 64))
    model.eval()
    with torch.no_grad():
        assert_close(model(x), tmodel.eval()(torch.from_numpy(x)), np.float64)
