"""Tests of numbadrop.optim: update rules against torch.optim, state, arguments."""

from __future__ import annotations

import numpy as np
import pytest

from numbadrop.nn.parameter import Parameter
from numbadrop.optim import SGD, Adam, AdamW, Optimizer

OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}
DTYPES = [np.float64, np.float32]
# Tolerance relative to the data's scale. PyTorch's CPU kernels fuse some
# multiply-adds (FMA) and NumPy cannot, so results differ by a few units in the
# last place of the operands; an element that passes near zero (cancellation)
# keeps that absolute error, so elementwise rtol alone is meaningless there.
# Initial values and gradients are O(1), hence atol = rtol * max(1, max|expected|).
RTOL = {np.float64: 1e-12, np.float32: 1e-6}
SHAPES = [(7, 5), (33,), (2, 3, 4), ()]
N_STEPS = 20

CONFIGS = [
    pytest.param("SGD", {"lr": 0.1}, id="sgd-plain"),
    pytest.param("SGD", {"lr": 0.05, "momentum": 0.9}, id="sgd-momentum"),
    pytest.param("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, id="sgd-dampening"),
    pytest.param("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}, id="sgd-nesterov"),
    pytest.param("SGD", {"lr": 0.1, "weight_decay": 0.05}, id="sgd-weight-decay"),
    pytest.param(
        "SGD",
        {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.02, "nesterov": True, "maximize": True},
        id="sgd-nesterov-wd-maximize",
    ),
    pytest.param("SGD", {"lr": 0.1, "maximize": True}, id="sgd-maximize"),
    pytest.param("Adam", {"lr": 0.01}, id="adam"),
    pytest.param("Adam", {"lr": 0.02, "weight_decay": 0.1}, id="adam-weight-decay"),
    pytest.param("Adam", {"lr": 0.02, "amsgrad": True}, id="adam-amsgrad"),
    pytest.param("Adam", {"lr": 0.02, "maximize": True}, id="adam-maximize"),
    pytest.param(
        "Adam",
        {"lr": 0.03, "betas": (0.3, 0.6), "eps": 1e-3, "weight_decay": 0.05, "amsgrad": True},
        id="adam-small-betas-eps-wd-amsgrad",  # 1 - beta1 >= 0.5: lerp's other branch
    ),
    pytest.param("AdamW", {"lr": 0.01}, id="adamw-default-wd"),
    pytest.param("AdamW", {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}, id="adamw-wd-amsgrad"),
    pytest.param("AdamW", {"lr": 0.02, "weight_decay": 0.1, "maximize": True}, id="adamw-maximize"),
]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype: type) -> None:
    assert actual.dtype == dtype
    rtol = RTOL[dtype]
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def make_pair(torch, name, groups_spec, kwargs, dtype, rng):
    """Same random initial values in numbadrop Parameters and torch tensors.

    ``groups_spec`` is a list of (shapes, group options) or None for a flat list.
    """
    spec = groups_spec if groups_spec is not None else [(SHAPES, {})]
    ours, theirs, nd_groups, th_groups = [], [], [], []
    for shapes, options in spec:
        ps, tps = [], []
        for shape in shapes:
            init = np.asarray(rng.standard_normal(shape), dtype=dtype)
            ps.append(Parameter(init.copy()))
            tps.append(torch.nn.Parameter(torch.from_numpy(init.copy())))
        ours += ps
        theirs += tps
        nd_groups.append({"params": ps, **options})
        th_groups.append({"params": tps, **options})
    if groups_spec is None:
        nd_groups, th_groups = ours, theirs
    opt = OPTIMIZERS[name](nd_groups, **kwargs)
    topt = getattr(torch.optim, name)(th_groups, foreach=False, **kwargs)
    return ours, theirs, opt, topt


def set_grads(torch, ours, theirs, rng, dtype, step, skip=lambda i, step: False):
    for i, (p, tp) in enumerate(zip(ours, theirs, strict=True)):
        if skip(i, step):
            p.grad = None
            tp.grad = None
            continue
        g = np.asarray(rng.standard_normal(p.shape) * rng.uniform(0.1, 3.0), dtype=dtype)
        p.grad = g
        tp.grad = torch.from_numpy(g.copy())


def compare(ours, theirs, opt, topt, dtype):
    for p, tp in zip(ours, theirs, strict=True):
        assert_close(p.data, tp.detach().numpy(), dtype)
        tstate = topt.state.get(tp, {})
        state = opt.state.get(p, {})
        assert set(state) == set(tstate)
        for key, value in state.items():
            if key == "step":
                assert value == int(tstate[key].item())
            else:
                assert_close(value, tstate[key].numpy(), dtype)


def skip_some(i: int, step: int) -> bool:
    """Param 1 gets no gradient every 4th step; param 2 none before step 3."""
    return (i == 1 and step % 4 == 2) or (i == 2 and step < 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_matches_torch(torch, name, kwargs, dtype):
    rng = np.random.default_rng(1234)
    ours, theirs, opt, topt = make_pair(torch, name, None, kwargs, dtype, rng)
    data_objects = [p.data for p in ours]
    for step in range(N_STEPS):
        set_grads(torch, ours, theirs, rng, dtype, step, skip_some)
        opt.step()
        topt.step()
        compare(ours, theirs, opt, topt, dtype)
    # updated in place, in the parameter's dtype
    assert all(p.data is d for p, d in zip(ours, data_objects, strict=True))
    assert all(p.data.dtype == dtype for p in ours)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("name", "kwargs", "options"),
    [
        pytest.param("SGD", {"lr": 0.1, "momentum": 0.9}, [{}, {"lr": 0.01, "momentum": 0.5}], id="sgd"),
        pytest.param("Adam", {"lr": 0.01}, [{"lr": 0.05}, {"betas": (0.5, 0.9), "weight_decay": 0.1}], id="adam"),
        pytest.param("AdamW", {"lr": 0.01}, [{}, {"lr": 0.1, "weight_decay": 0.5}], id="adamw"),
    ],
)
def test_param_groups_match_torch(torch, name, kwargs, options, dtype):
    rng = np.random.default_rng(99)
    spec = [([(4, 3), (5,)], options[0]), ([(6,)], options[1])]
    ours, theirs, opt, topt = make_pair(torch, name, spec, kwargs, dtype, rng)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    assert opt.param_groups[1]["lr"] == topt.param_groups[1]["lr"] != opt.param_groups[0]["lr"]
    for step in range(12):
        if step == 6:  # a scheduler-like change of lr takes effect on the next step
            for group, tgroup in zip(opt.param_groups, topt.param_groups, strict=True):
                group["lr"] *= 0.5
                tgroup["lr"] *= 0.5
        set_grads(torch, ours, theirs, rng, dtype, step)
        opt.step()
        topt.step()
        compare(ours, theirs, opt, topt, dtype)


def test_param_groups_use_their_own_lr():
    a, b = Parameter(np.zeros(3)), Parameter(np.zeros(3))
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.25)
    a.grad = np.ones(3)
    b.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(a.data, -0.25)
    np.testing.assert_array_equal(b.data, -0.5)
    assert opt.param_groups[0]["lr"] == 0.25 and opt.param_groups[1]["lr"] == 0.5


def test_add_param_group_fills_defaults_and_rejects_duplicates():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = Adam([a], lr=0.1, betas=(0.8, 0.9))
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert opt.param_groups[1]["lr"] == 0.2
    assert opt.param_groups[1]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="more than once"):
        SGD([a, a])


# --- grad None, zero_grad ------------------------------------------------------
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_grad_none_is_skipped(cls):
    a, b = Parameter(np.arange(3.0)), Parameter(np.arange(4.0))
    before = b.data.copy()
    opt = cls([a, b], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        a.grad = np.ones(3)
        opt.step()
    np.testing.assert_array_equal(b.data, before)  # not even weight decay touched it
    assert b not in opt.state
    assert a in opt.state
    assert not np.array_equal(a.data, np.arange(3.0))


def test_zero_grad_set_to_none_default():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = SGD([a, b])
    a.grad = np.ones(2)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_set_to_none_false_zeros_in_place():
    a, b = Parameter(np.ones(2, np.float32)), Parameter(np.ones(2))
    opt = SGD([a, b])
    a.accumulate(np.full(2, 3.0))
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, 0.0)
    assert b.grad is None  # a missing gradient stays missing


def test_zero_grad_semantics_for_momentum():
    """A zero gradient still steps (momentum carries on); a None gradient does not."""
    p = Parameter(np.zeros(2))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    opt.step()
    opt.zero_grad(set_to_none=False)
    moved_from = p.data.copy()
    opt.step()
    np.testing.assert_allclose(p.data, moved_from - 0.1 * 0.9)
    opt.zero_grad()
    frozen = p.data.copy()
    opt.step()
    np.testing.assert_array_equal(p.data, frozen)


def test_step_closure_and_view_written_through():
    base = np.zeros((2, 3))
    p = Parameter(base.T)  # non-contiguous view: the update must reach ``base``
    opt = SGD([p], lr=1.0)
    p.grad = np.ones((3, 2))
    assert opt.step(lambda: 42.0) == 42.0
    np.testing.assert_array_equal(base, -1.0)


def test_grad_shape_mismatch_raises():
    p = Parameter(np.zeros(3))
    opt = Adam([p])
    p.grad = np.zeros(4)
    with pytest.raises(ValueError, match="shape"):
        opt.step()


# --- state_dict ------------------------------------------------------------------
ROUND_TRIP = [
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, id="sgd"),
    pytest.param(Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}, id="adam"),
    pytest.param(AdamW, {"lr": 0.01, "betas": (0.7, 0.99)}, id="adamw"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("cls", "kwargs"), ROUND_TRIP)
def test_state_dict_round_trip_continues_identically(cls, kwargs, dtype):
    rng = np.random.default_rng(5)
    ps = [Parameter(rng.standard_normal(s).astype(dtype)) for s in [(3, 4), (5,)]]
    extra = Parameter(rng.standard_normal(2).astype(dtype))  # never gets a gradient
    opt = cls([{"params": ps}, {"params": [extra], "lr": 0.5}], **kwargs)
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in ps] for _ in range(10)]
    for step in range(5):
        for p, g in zip(ps, grads[step], strict=True):
            p.grad = g
        opt.step()

    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sorted(sd["state"]) == [0, 1]  # ``extra`` (index 2) has no state
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    for entry in sd["state"].values():
        for key, value in entry.items():
            if key == "step":
                assert value == 5 and isinstance(value, int)
            else:
                assert isinstance(value, np.ndarray) and value.dtype == dtype

    qs = [Parameter(p.data.copy()) for p in ps]
    opt2 = cls([{"params": qs}, {"params": [Parameter(extra.data.copy())]}], lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"] and opt2.param_groups[1]["lr"] == 0.5
    # the loaded state is a copy: scribbling on ``sd`` changes nothing
    for entry in sd["state"].values():
        for key, value in entry.items():
            if key != "step":
                value[...] = np.nan

    for step in range(5, 10):
        for p, q, g in zip(ps, qs, grads[step], strict=True):
            p.grad = g
            q.grad = g.copy()
        opt.step()
        opt2.step()
        for p, q in zip(ps, qs, strict=True):
            np.testing.assert_array_equal(q.data, p.data)
            assert q.data.dtype == dtype
    assert not np.isnan(ps[0].data).any()  # state_dict() returned copies too


def test_state_dict_is_a_snapshot():
    p = Parameter(np.zeros(2))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], 1.0)
    opt.param_groups[0]["lr"] = 1.0
    assert sd["param_groups"][0]["lr"] == 0.1


def test_load_state_dict_rejects_mismatched_layout():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    sd = Adam([a, b]).state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameters"):
        Adam([a]).load_state_dict(sd)
    opt = Adam([a, b])
    a.grad = np.ones(2)
    opt.step()
    with pytest.raises(ValueError, match="shape"):
        Adam([b, a]).load_state_dict(opt.state_dict())


# --- arguments -----------------------------------------------------------------
BAD_ARGS = [
    (SGD, {"lr": -0.1}, r"lr.*-0\.1"),
    (SGD, {"lr": float("nan")}, r"lr.*nan"),
    (SGD, {"momentum": -0.5}, r"momentum.*-0\.5"),
    (SGD, {"weight_decay": -1e-4}, r"weight_decay.*-0\.0001"),
    (SGD, {"nesterov": True}, r"nesterov.*momentum=0"),
    (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, r"nesterov.*dampening=0\.1"),
    (Adam, {"lr": -1e-3}, r"lr.*-0\.001"),
    (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\].*1\.0"),
    (Adam, {"betas": (-0.1, 0.999)}, r"betas\[0\].*-0\.1"),
    (Adam, {"betas": (0.9, 1.0)}, r"betas\[1\].*1\.0"),
    (Adam, {"betas": (0.9,)}, r"betas"),
    (Adam, {"eps": -1e-8}, r"eps.*-1e-08"),
    (Adam, {"weight_decay": -0.1}, r"weight_decay.*-0\.1"),
    (AdamW, {"weight_decay": -0.1}, r"weight_decay.*-0\.1"),
    (AdamW, {"betas": (0.9, 1.5)}, r"betas\[1\].*1\.5"),
    (AdamW, {"eps": -1.0}, r"eps.*-1\.0"),
]


@pytest.mark.parametrize(("cls", "kwargs", "match"), BAD_ARGS)
def test_bad_arguments_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([Parameter(np.zeros(2))], **kwargs)


@pytest.mark.parametrize(("cls", "kwargs", "match"), BAD_ARGS)
def test_bad_group_options_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([{"params": [Parameter(np.zeros(2))], **kwargs}])


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_empty_params_raise(cls):
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([])
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(iter(()))


def test_bad_params_types():
    p = Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="single Parameter"):
        SGD(p)
    with pytest.raises(TypeError, match="set"):
        SGD({p})
    with pytest.raises(TypeError, match="Parameters"):
        SGD([np.zeros(2)])
    with pytest.raises(TypeError, match="lr"):
        SGD([p], lr="0.1")


def test_defaults_match_torch(torch):
    p = Parameter(np.zeros(2))
    tp = torch.nn.Parameter(torch.zeros(2))
    for name in OPTIMIZERS:
        ours = OPTIMIZERS[name]([p]).param_groups[0]
        theirs = getattr(torch.optim, name)([tp]).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert value == theirs[key], (name, key)
    assert isinstance(SGD([p]), Optimizer)
