"""``nn.Module``: registration, traversal, modes, state dicts, repr; the seed's DropoutNet; MC dropout."""

from __future__ import annotations

import inspect
import zipfile

import numpy as np
import pytest

import numbadrop
import numbadrop.nn as nn
from numbadrop import optim


# The seed tutorial's Example 3 (/work/shared/seed/pytorch-dropout-tutorial.txt), unchanged
# except for the import above (``import numbadrop.nn as nn`` instead of ``torch.nn``).
class DropoutNet(nn.Module):
    def __init__(self, input_dim=784, hidden_dim=256, output_dim=10, dropout_rate=0.5):
        super(DropoutNet, self).__init__()  # noqa: UP008
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


def torch_twin(cls):
    """The same class source compiled against ``torch.nn`` (skips without torch)."""
    torch = pytest.importorskip("torch")
    namespace = {"nn": torch.nn}
    exec(inspect.getsource(cls), namespace)
    return namespace[cls.__name__]


EXPECTED_NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def small_net(seed=0, **kwargs):
    numbadrop.manual_seed(seed)
    kwargs = {"input_dim": 6, "hidden_dim": 8, "output_dim": 3, **kwargs}
    return DropoutNet(**kwargs)


# --- registration ------------------------------------------------------------
def test_assignment_registers_parameters_and_modules():
    net = small_net()
    assert [name for name, _ in net.named_children()] == ["fc1", "dropout1", "fc2", "dropout2", "fc3", "relu"]
    assert list(net.children()) == [net.fc1, net.dropout1, net.fc2, net.dropout2, net.fc3, net.relu]
    assert [name for name, _ in net.named_parameters()] == EXPECTED_NAMES
    params = list(net.parameters())
    assert params[0] is net.fc1.weight and params[-1] is net.fc3.bias
    assert [p.shape for p in params] == [(8, 6), (8,), (8, 8), (8,), (3, 8), (3,)]


def test_names_and_shapes_match_torch():
    torch_net = torch_twin(DropoutNet)(input_dim=6, hidden_dim=8, output_dim=3)
    net = small_net()
    assert [(n, tuple(p.shape)) for n, p in torch_net.named_parameters()] == [
        (n, p.shape) for n, p in net.named_parameters()
    ]
    assert list(torch_net.state_dict()) == list(net.state_dict())
    assert [type(m).__name__ for m in torch_net.modules()] == [type(m).__name__ for m in net.modules()]
    assert [n for n, _ in torch_net.named_modules()] == [n for n, _ in net.named_modules()]


def test_plain_attributes_are_not_registered():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = np.ones(3)  # an array, not a Parameter
            self.fc = nn.Linear(2, 2)
            self.name = "net"

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias"]
    assert list(net.children()) == [net.fc]


def test_reassignment_and_deletion_unregister():
    net = small_net()
    net.fc3 = nn.Identity()
    assert [n for n, _ in net.named_parameters()] == EXPECTED_NAMES[:4]
    net.fc1.bias = None
    assert "fc1.bias" not in dict(net.named_parameters())
    del net.dropout2
    assert "dropout2" not in dict(net.named_children())
    assert not hasattr(net, "dropout2")
    net.extra = nn.Parameter(np.zeros(2))
    assert next(net.named_parameters())[0] == "extra"  # own parameters first, as in torch


def test_register_parameter_and_add_module():
    net = nn.Module()
    net.register_parameter("w", nn.Parameter(np.zeros((2, 2))))
    net.add_module("head", nn.Linear(2, 1))
    assert [n for n, _ in net.named_parameters()] == ["w", "head.weight", "head.bias"]


def test_assignment_before_super_init_raises():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_shared_module_and_parameter_are_listed_once():
    fc = nn.Linear(3, 3)
    model = nn.Sequential(fc, nn.ReLU(), fc)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert sum(m is fc for m in model.modules()) == 1
    assert len(list(model.modules())) == 3  # Sequential, fc, ReLU


def test_nested_names():
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), nn.Linear(3, 1, bias=False))
    assert [n for n, _ in model.named_parameters()] == ["0.0.weight", "0.0.bias", "1.weight"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "0.0", "0.1", "1"]
    assert [n for n, _ in model.named_parameters(prefix="model")] == [
        "model.0.0.weight",
        "model.0.0.bias",
        "model.1.weight",
    ]
    assert list(model.parameters(recurse=False)) == []


def test_forward_not_defined():
    with pytest.raises(NotImplementedError):
        nn.Module()(np.ones(2))


# --- modes -------------------------------------------------------------------
def test_train_eval_recurse_and_return_self():
    model = nn.Sequential(small_net(), nn.Sequential(nn.Dropout(), nn.ReLU()))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())
    model[1].train()
    assert [m.training for m in model.modules()] == [False] * 8 + [True] * 3


def test_train_rejects_non_bool():
    with pytest.raises(TypeError):
        small_net().train("eval")


# --- gradients ---------------------------------------------------------------
def _backward_once(net, seed=0):
    x = np.random.default_rng(seed).standard_normal((4, 6)).astype(np.float32)
    y = net(x)
    net.backward(np.ones_like(y))


def test_zero_grad():
    net = small_net()
    assert all(p.grad is None for p in net.parameters())
    _backward_once(net)
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    kept = [p.grad for p in net.parameters()]
    net.zero_grad(set_to_none=False)
    assert all(p.grad is g for p, g in zip(net.parameters(), kept, strict=True))
    assert all(not g.any() for g in kept)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- state -------------------------------------------------------------------
def _x(n=5, d=6, seed=1):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _eval_out(net, x):
    net.eval()
    out = net(x)
    net.train()
    return out


def test_state_dict_round_trip_between_models():
    a, b = small_net(seed=1), small_net(seed=2)
    x = _x()
    assert not np.array_equal(_eval_out(a, x), _eval_out(b, x))
    state = a.state_dict()
    assert list(state) == EXPECTED_NAMES
    assert all(state[n] is p.data for n, p in a.named_parameters())  # like torch: no copies
    b.load_state_dict(state)
    np.testing.assert_array_equal(_eval_out(a, x), _eval_out(b, x))
    assert all(pa.data is not pb.data for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_load_state_dict_from_torch_gives_torch_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch_net = torch_twin(DropoutNet)(input_dim=6, hidden_dim=8, output_dim=3).eval()
    net = small_net()
    net.load_state_dict({k: v.numpy() for k, v in torch_net.state_dict().items()})
    x = _x()
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_eval_out(net, x), expected, rtol=1e-5, atol=1e-6)


def test_load_state_dict_strict_keys():
    net = small_net()
    state = {k: v.copy() for k, v in small_net(seed=3).state_dict().items()}
    missing = dict(state)
    del missing["fc2.bias"]
    with pytest.raises(KeyError, match=r"fc2\.bias"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match="bogus"):
        net.load_state_dict({**state, "bogus": np.zeros(1)})
    before = net.fc2.bias.data.copy()
    net.load_state_dict({**missing, "bogus": np.zeros(1)}, strict=False)
    np.testing.assert_array_equal(net.fc1.weight.data, state["fc1.weight"])
    np.testing.assert_array_equal(net.fc2.bias.data, before)


def test_load_state_dict_strict_error_loads_nothing():
    net = small_net()
    before = [p.data.copy() for p in net.parameters()]
    state = {k: v + 1 for k, v in net.state_dict().items() if k != "fc3.bias"}
    with pytest.raises(KeyError):
        net.load_state_dict(state)
    for p, old in zip(net.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, old)


def test_load_state_dict_shape_mismatch():
    net = small_net()
    state = dict(small_net().state_dict())
    state["fc1.weight"] = np.zeros((6, 8), np.float32)  # transposed
    with pytest.raises(ValueError, match=r"fc1\.weight"):
        net.load_state_dict(state)
    with pytest.raises(ValueError):
        net.load_state_dict({"fc3.bias": np.zeros(4)}, strict=False)


def test_load_state_dict_keeps_dtype_and_arrays():
    net = small_net()
    weight = net.fc1.weight.data
    state = {k: v.astype(np.float64) + 0.5 for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    assert net.fc1.weight.data is weight  # copied into, not replaced (optimizers hold these arrays)
    assert weight.dtype == np.float32
    np.testing.assert_array_equal(weight, state["fc1.weight"].astype(np.float32))


def test_save_load_npz_round_trip(tmp_path):
    a, b = small_net(seed=4), small_net(seed=5)
    path = tmp_path / "net.npz"
    a.save(path)
    assert zipfile.is_zipfile(path)
    with np.load(path) as data:
        assert sorted(data.files) == sorted(EXPECTED_NAMES)
        np.testing.assert_array_equal(data["fc2.weight"], a.fc2.weight.data)
    b.load(path)
    x = _x()
    np.testing.assert_array_equal(_eval_out(a, x), _eval_out(b, x))


def test_load_npz_strict(tmp_path):
    path = tmp_path / "part.npz"
    nn.Sequential(nn.Linear(6, 8)).save(path)
    net = small_net()
    with pytest.raises(KeyError):
        net.load(path)
    net.load(path, strict=False)  # "0.weight" matches nothing here
    with pytest.raises(ValueError):
        nn.Sequential(nn.Linear(8, 6)).load(path)


# --- repr --------------------------------------------------------------------
def test_repr_of_basic_layers_is_torchs():
    assert repr(nn.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout(p=0.2, inplace=True)) == "Dropout(p=0.2, inplace=True)"
    assert repr(nn.ReLU()) == "ReLU()"


def build(lib):
    """The same structure from numbadrop.nn or torch.nn (constructor arguments both accept)."""
    return lib.Sequential(
        lib.Flatten(),
        lib.Linear(12, 8),
        lib.ReLU(inplace=True),
        lib.Sequential(lib.LeakyReLU(0.2), lib.Tanh(), lib.Sigmoid(), lib.SELU()),
        lib.GELU(),
        lib.GELU(approximate="tanh"),
        lib.Identity(),
        lib.Dropout(0.3),
        lib.Dropout1d(),
        lib.Dropout2d(0.1),
        lib.Dropout3d(inplace=True),
        lib.AlphaDropout(0.2),
        lib.FeatureAlphaDropout(0.4),
        lib.Linear(8, 2, bias=False),
    )


def test_repr_matches_torch_for_nested_structure():
    torch = pytest.importorskip("torch")
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.Linear(3, 2),
        lambda lib: lib.Dropout(p=0.5, inplace=False),
        lambda lib: lib.CrossEntropyLoss(),
        lambda lib: lib.MSELoss(),
        lambda lib: lib.Flatten(0, 2),
        lambda lib: lib.LeakyReLU(),
    ],
)
def test_repr_matches_torch_single(make):
    torch = pytest.importorskip("torch")
    assert repr(make(nn)) == repr(make(torch.nn))


def test_repr_of_dropout_net_matches_torch():
    torch_net = torch_twin(DropoutNet)()
    assert repr(DropoutNet()) == repr(torch_net)


# --- the seed's DropoutNet trains ----------------------------------------------
def blobs(n=240, d=10, classes=3, seed=0):
    """Gaussian blobs, linearly separable enough for >90% accuracy."""
    rng = np.random.default_rng(seed)
    centers = 2.5 * rng.standard_normal((classes, d))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def eval_loss_acc(model, loss_fn, x, y):
    model.eval()
    with numbadrop.no_grad():
        logits = model(x)
        loss = loss_fn(logits, y)
    model.train()
    return loss, float((logits.argmax(1) == y).mean())


@pytest.mark.parametrize(
    "make_opt",
    [lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), lambda ps: optim.Adam(ps, lr=3e-3)],
    ids=["SGD", "Adam"],
)
def test_dropout_net_loss_falls(make_opt):
    x, y = blobs()
    numbadrop.manual_seed(0)
    model = DropoutNet(input_dim=10, hidden_dim=32, output_dim=3)
    loss_fn = nn.CrossEntropyLoss()
    opt = make_opt(model.parameters())
    loss0, _ = eval_loss_acc(model, loss_fn, x, y)
    batches = np.random.default_rng(1)
    for _ in range(60):
        idx = batches.choice(len(x), 32, replace=False)
        opt.zero_grad()
        loss_fn(model(x[idx]), y[idx])
        model.backward(loss_fn.backward())
        opt.step()
    loss1, acc1 = eval_loss_acc(model, loss_fn, x, y)
    assert loss1 < 0.5 * loss0
    assert acc1 > 0.9


def test_dropout_net_eval_is_deterministic_and_dropout_free():
    model = small_net()
    x = _x(seed=7)
    model.eval()
    first, second = model(x), model(x)
    np.testing.assert_array_equal(first, second)
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = relu(x @ model.fc1.weight.data.T + model.fc1.bias.data)
    h = relu(h @ model.fc2.weight.data.T + model.fc2.bias.data)
    np.testing.assert_allclose(first, h @ model.fc3.weight.data.T + model.fc3.bias.data, rtol=1e-5, atol=1e-6)


def test_dropout_net_training_forwards_differ():
    model = small_net(hidden_dim=32)
    x = _x(seed=8)
    a, b = model(x), model(x)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, _eval_out(model, x))


def test_dropout_net_is_reproducible_under_manual_seed():
    x = _x(seed=9)
    outs = []
    for _ in range(2):
        model = small_net(seed=42, hidden_dim=32)
        outs.append(model(x))
    np.testing.assert_array_equal(*outs)


# --- MC dropout --------------------------------------------------------------
def test_mc_dropout_modes_inside_and_restored():
    model = small_net()
    model.fc2.eval()  # a mixed starting state must come back exactly
    before = [m.training for m in model.modules()]
    with nn.mc_dropout(model) as m:
        assert m is model
        for module in model.modules():
            assert module.training == isinstance(module, nn.Dropout), module
        x = _x(seed=10)
        assert not np.array_equal(model(x), model(x))  # dropout still samples
    assert [m.training for m in model.modules()] == before


def test_mc_dropout_restores_modes_after_an_exception():
    model = small_net().eval()
    with pytest.raises(KeyError), nn.mc_dropout(model):
        raise KeyError("boom")
    assert not any(m.training for m in model.modules())


def test_mc_dropout_records_nothing():
    model = small_net()
    with nn.mc_dropout(model):
        y = model(_x())
    with pytest.raises(RuntimeError):
        model.backward(np.ones_like(y))


def test_mc_predict_std_positive_for_p_positive_and_zero_for_p_zero():
    x = _x(seed=11)
    mean, std = nn.mc_predict(small_net(hidden_dim=32), x, n_samples=20)
    assert mean.shape == std.shape == (5, 3)
    assert (std > 0).all()
    model = small_net(dropout_rate=0.0)
    mean, std = nn.mc_predict(model, x, n_samples=5)
    assert (std == 0).all()
    np.testing.assert_array_equal(mean, _eval_out(model, x))


def test_mc_predict_moments_of_a_linear_model():
    """Dropout on the input of a linear layer: the MC mean tends to the eval output, the std to its formula."""
    p, n = 0.5, 4000
    fc = nn.Linear(8, 2, dtype=np.float64, rng=0)
    model = nn.Sequential(nn.Dropout(p, rng=123), fc)
    x = np.random.default_rng(12).uniform(0.5, 1.5, (1, 8))
    mean, std = nn.mc_predict(model, x, n_samples=n)
    expected_std = np.sqrt((fc.weight.data**2 * x**2).sum(axis=1) * p / (1 - p))
    np.testing.assert_allclose(std[0], expected_std, rtol=0.06)
    eval_out = x @ fc.weight.data.T + fc.bias.data
    assert np.all(np.abs(mean - eval_out) < 5 * expected_std / np.sqrt(n))
    assert model.training and model[0].training


def test_mc_predict_rejects_bad_n_samples():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError):
            nn.mc_predict(small_net(), _x(), n_samples=bad)
