"""The fused optimizer kernels give the bits of the whole-array NumPy updates (their reference)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from numbadrop import optim
from numbadrop.nn.parameter import Parameter

SGD_OPTIONS = [
    {"momentum": m, "dampening": d, "nesterov": n, "weight_decay": wd, "maximize": mx}
    for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.01], [False, True])
    if not (n and (m == 0 or d != 0))
]
ADAM_OPTIONS = [
    {"betas": (b1, 0.99), "weight_decay": wd, "amsgrad": ams, "maximize": mx}
    for ams, wd, mx, b1 in itertools.product([False, True], [0.0, 0.1], [False, True], [0.9, 0.3])
]


def trajectory(cls, options, dtype, fused, steps=4, layout="C"):
    data = np.random.default_rng(99).standard_normal((9, 31)).astype(dtype)
    param = Parameter(np.asfortranarray(data) if layout == "F" else data)
    opt = cls([param], lr=0.05, **options)
    if not fused:
        opt._update = opt._update_numpy
    for step in range(steps):
        grad = np.random.default_rng(step).standard_normal((9, 31)).astype(dtype)
        grad[0, :3] = [0.0, -0.0, np.float32(1e-30)]
        param.grad = grad
        opt.step()
    return param.data, opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd_kernel_matches_numpy_bits(options, dtype):
    fused, _ = trajectory(optim.SGD, options, dtype, True)
    reference, _ = trajectory(optim.SGD, options, dtype, False)
    np.testing.assert_array_equal(fused.view(np.uint8), reference.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
def test_adam_kernel_matches_numpy_bits(cls, options, dtype):
    fused, opt_fused = trajectory(cls, options, dtype, True)
    reference, opt_ref = trajectory(cls, options, dtype, False)
    np.testing.assert_array_equal(fused.view(np.uint8), reference.view(np.uint8))
    (state_fused,), (state_ref,) = opt_fused.state.values(), opt_ref.state.values()
    for key in state_ref:
        np.testing.assert_array_equal(np.asarray(state_fused[key]), np.asarray(state_ref[key]), err_msg=key)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_layouts_the_kernels_do_not_take_use_numpy(cls, monkeypatch):
    from numbadrop.kernels.cpu import optim as _optim_kernels

    def refuse(*args):
        raise AssertionError("the kernel must not see this layout")

    monkeypatch.setattr(_optim_kernels, "sgd", refuse)
    monkeypatch.setattr(_optim_kernels, "adam", refuse)
    options = {"momentum": 0.9} if cls is optim.SGD else {}
    for layout, dtype in (("F", np.float32), ("C", np.float16)):
        with np.errstate(all="ignore"):  # Adam's eps underflows in float16: the same infinities either way
            fused, _ = trajectory(cls, options, dtype, True, layout=layout)
            monkeypatch.undo()
            reference, _ = trajectory(cls, options, dtype, False, layout=layout)
        np.testing.assert_array_equal(
            np.ascontiguousarray(fused).view(np.uint8), np.ascontiguousarray(reference).view(np.uint8)
        )
        monkeypatch.setattr(_optim_kernels, "sgd", refuse)
        monkeypatch.setattr(_optim_kernels, "adam", refuse)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_kernel_divides_by_zero_as_numpy(cls):
    """eps=0 with a zero gradient: 0/0 in the update gives NaN in both paths (no ZeroDivisionError)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fused, _ = trajectory(cls, {"eps": 0.0}, np.float32, True)
        reference, _ = trajectory(cls, {"eps": 0.0}, np.float32, False)
    assert np.isnan(reference).any()
    np.testing.assert_array_equal(fused.view(np.uint8), reference.view(np.uint8))
