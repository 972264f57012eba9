"""No silent no-op, no unclear crash: every refusal raises a clear error, every odd input gives NumPy's bits."""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn

NOT_ARRAYS = [[1.0, 2.0], (1.0, 2.0), 1.5, np.float32(2.0), np.float64(3.0)]


def _forwards():
    """Every function of the family that takes ``inplace``, as ``f(x, inplace=...)``."""
    x4 = {"rng": 0}
    return {
        "dropout": lambda x, **k: nd.dropout(x, 0.5, **x4, **k),
        "alpha_dropout": lambda x, **k: nd.alpha_dropout(x, 0.5, True, **x4, **k),
        "gaussian_dropout": lambda x, **k: nd.gaussian_dropout(x, 0.5, **x4, **k),
        "gaussian_noise": lambda x, **k: nd.gaussian_noise(x, 0.5, **x4, **k),
    }


@pytest.mark.parametrize("obj", NOT_ARRAYS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("name", list(_forwards()))
def test_inplace_on_something_that_cannot_be_written_raises(name, obj):
    f = _forwards()[name]
    with pytest.raises(TypeError, match=rf"inplace=True needs an array .* x is a \S*{type(obj).__name__}"):
        f(obj, inplace=True)
    y = f(obj, inplace=False)  # out of place, the same object is fine
    assert isinstance(y, np.ndarray) and y.shape == np.shape(obj)


@pytest.mark.parametrize("obj", NOT_ARRAYS[:2], ids=lambda o: type(o).__name__)
def test_inplace_on_lists_refused_for_channel_dropblock_and_backward(obj):
    with pytest.raises(TypeError, match="inplace=True needs an array"):
        nd.dropout1d([list(obj)], 0.5, inplace=True, rng=0)
    with pytest.raises(TypeError, match="inplace=True needs an array"):
        nd.drop_block2d([[[list(obj), list(obj)]]], 0.5, 1, inplace=True, rng=0)
    _, state = nd.dropout(np.ones(2, np.float32), 0.5, rng=0, return_state=True)
    with pytest.raises(TypeError, match=r"inplace=True needs an array .* grad is a"):
        state.backward(obj, inplace=True)
    assert np.array_equal(state.backward(obj), state.backward(np.asarray(obj)))


def test_inplace_on_read_only_raises_and_leaves_it_alone():
    x = np.ones(8, np.float32)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nd.dropout(x, 0.5, inplace=True, rng=0)
    assert (x == 1).all()


# --- layers -------------------------------------------------------------------------------------


def test_layer_takes_a_list_and_backward_works():
    layer = nn.Dropout(0.5)
    layer.rng = 3
    y = layer([1.0, 2.0, 3.0, 4.0])
    expected = naive.dropout(np.array([1.0, 2.0, 3.0, 4.0]), 0.5, 3)
    assert np.array_equal(y, expected)
    dx = layer.backward(np.ones(4))
    assert np.array_equal(dx, naive.dropout(np.ones(4), 0.5, 3))


def test_layer_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"Dropout\(inplace=True\) cannot write into its input, a list"):
        nn.Dropout(0.5, inplace=True)([1.0, 2.0])
    with pytest.raises(TypeError, match=r"Dropout's input must be an array of floats, got a list"):
        nn.Dropout(0.5)(["a", "b"])
    with pytest.raises(TypeError, match=r"ReLU's input must be an array of floats, got a ragged list"):
        nn.ReLU()([[1.0], [1.0, 2.0]])


def test_linear_0d_raises_and_1d_works_as_torch():
    lin = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"Linear's input must be at least 1-D, \(\.\.\., 3\); got a 0-d array"):
        lin(np.float32(1.0))
    with pytest.raises(ValueError, match=r"Linear's input must be at least 1-D"):
        lin(np.array(1.0, np.float32))
    with pytest.raises(ValueError, match=r"must have last axis 3, got shape \(4,\)"):
        lin(np.ones(4, np.float32))
    x = np.arange(3, dtype=np.float32)
    y = lin(x)
    w, b = lin.weight.data, lin.bias.data
    assert y.shape == (2,) and np.array_equal(y, x @ w.T + b)
    dx = lin.backward(np.ones(2, np.float32))
    assert dx.shape == (3,) and np.array_equal(dx, np.ones(2, np.float32) @ w)
    assert np.array_equal(lin.weight.grad, np.outer(np.ones(2, np.float32), x))


# --- Dask big-endian blocks ---------------------------------------------------------------------


def test_dask_big_endian_blocks_give_numpy_bits():
    da = pytest.importorskip("dask.array")
    data = np.random.default_rng(0).standard_normal((7, 10)).astype(">f4")
    native = data.astype("<f4")
    x = da.from_array(data, chunks=3)
    cases = {
        "dropout": lambda a: nd.dropout(a, 0.5, rng=1),
        "alpha": lambda a: nd.alpha_dropout(a, 0.3, True, rng=2),
        "locked": lambda a: nd.dropout(a, 0.5, rng=3, broadcast_dims=0),
        "depth": lambda a: nd.stochastic_depth(a, 0.5, rng=4),
        "gaussian": lambda a: nd.gaussian_dropout(a, 0.5, rng=5),
    }
    for name, f in cases.items():
        y = f(x)
        assert y.dtype == np.dtype("<f4"), name
        assert np.array_equal(y.compute(), f(native), equal_nan=True), name
    _, state = nd.dropout(native, 0.5, rng=6, return_state=True)
    assert np.array_equal(state.backward(x).compute(), state.backward(native))
    assert np.array_equal(nd.dropout(native, 0.5, rng=1), naive.dropout(native, 0.5, 1))


# --- dropout_mask(device=torch.device) -----------------------------------------------------------


def test_dropout_mask_on_a_torch_device_is_a_tensor():
    torch = pytest.importorskip("torch")
    keep = nd.dropout_mask((3, 5), 0.5, rng=7, device=torch.device("cpu"))
    assert isinstance(keep, torch.Tensor) and keep.device.type == "cpu" and keep.dtype == torch.bool
    assert np.array_equal(keep.numpy(), naive.keep_mask((3, 5), 0.5, 7, 0))
    with pytest.raises(ValueError, match=r"device must be a CPU or CUDA torch\.device"):
        nd.dropout_mask(3, 0.5, rng=0, device=torch.device("meta"))
