"""Odd arguments at every public function and layer: success, or an error naming the argument.

hypothesis throws NumPy subclasses, byte orders, bfloat16, 0-d and empty
arrays, non-arrays, odd ``p``, ``rng``, ``broadcast_dims``, flags and devices
at the dropout family (DropBlock and the Gaussian functions too), ``dropout_mask``,
``DropoutState.backward`` and the
layers. Each call must either succeed (and then match the plain NumPy call on
the same values, bit for bit) or raise TypeError/ValueError whose message
names one of the arguments (RuntimeError for a layer's backward without a
forward). Anything else escaping (IndexError, a Numba typing error from inside
a kernel, ...) fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import numbadrop as nd  # noqa: E402
from numbadrop import nn  # noqa: E402

# Derandomized by the default profile of conftest.py, not here, so that --hypothesis-profile=random reseeds it.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

FORWARDS = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]
LAYERS = [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout]
LAYERS += [nn.GaussianDropout, nn.GaussianNoise]
NAMES = ("x", "p", "training", "inplace", "rng", "seed", "offset", "broadcast_dims", "return_state", "shape")
NAMES += ("device", "grad", "dropout", "mode", "stddev", "block_size", "eps")

try:
    import ml_dtypes

    BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BFLOAT16 = np.dtype(np.float32)  # a stand-in, so that the draws do not depend on what is installed
# The same list with or without ml_dtypes: hypothesis then draws the same examples on every machine.
FLOATS = ["float16", "float32", "float64", ">f4", ">f8", "bfloat16"]


@st.composite
def float_arrays(draw):
    ndim = draw(st.integers(0, 5))
    shape = tuple(draw(st.integers(0, 4)) for _ in range(ndim))
    name = draw(st.sampled_from(FLOATS))
    dtype = BFLOAT16 if name == "bfloat16" else np.dtype(name)
    values = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape)
    x = values.astype(np.float32).astype(dtype)
    kind = draw(st.sampled_from(["plain", "masked", "matrix", "readonly", "view", "subclass"]))
    if kind == "masked":
        x = np.ma.MaskedArray(x, mask=np.random.default_rng(0).random(shape) < 0.3)
    elif kind == "matrix" and ndim == 2:
        x = np.asmatrix(x)
    elif kind == "readonly":
        x.flags.writeable = False
    elif kind == "view" and ndim:
        x = x[..., ::-1]
    elif kind == "subclass":
        x = x.view(Sub)
    return x


class Sub(np.ndarray):
    """Some user's ndarray subclass."""


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.just(np.float32(0.5)),
    st.just(np.bool_(True)),
    st.just(object()),
    st.just([1, 2]),
    st.just((0, -1)),
)
arrays = st.one_of(
    float_arrays(),
    st.builds(
        lambda n, dt: np.ones((2, n), dt), st.integers(0, 3), st.sampled_from(["int32", "bool", "complex64", "O"])
    ),
    st.just([[1.0, 2.0], [3.0]]),
    st.lists(st.floats(-10, 10), max_size=5),
    odd_values,
)
ps = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0, 1, 0.0, 1.0, 0.5]), odd_values)
rngs = st.one_of(st.integers(-5, 2**64 + 5), st.just(nd.Generator(3)), st.just(np.random.default_rng(1)), odd_values)
flags = st.one_of(st.booleans(), st.just(np.bool_(False)), odd_values)
axes = st.one_of(st.integers(-6, 6), st.lists(st.integers(-6, 6), max_size=3).map(tuple), odd_values)
devices = st.one_of(st.sampled_from([None, "cpu", "CPU", "tpu", "cuda:x", -1]), odd_values)


def check_error(exc: BaseException, allowed=(TypeError, ValueError)) -> None:
    if not isinstance(exc, allowed):
        raise exc
    message = str(exc)
    assert any(name in message for name in NAMES), f"{type(exc).__name__} names no argument: {message}"


def wants_state(return_state) -> bool:
    """Whether the library returns ``(y, state)``: ``return_state`` is a true ``bool`` or ``numpy.bool_``.

    (Any other value, even a truthy one, must have raised a TypeError naming it.)
    """
    return isinstance(return_state, (bool, np.bool_)) and bool(return_state)


def native(a) -> np.ndarray:
    """A plain, native-order copy of ``a``'s values."""
    a = np.array(a, copy=True)
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.kind == "f" else a


def bits(a) -> np.ndarray:
    return native(a).reshape(-1).view(np.uint8)


# Valid values of each argument; a call replaces one or two of them with odd ones,
# so that most calls get past the checks of the others and reach the kernels.
VALID = {
    "x": float_arrays(),
    "p": st.one_of(st.floats(0, 1), st.sampled_from([0, 1, 0.5, np.float32(0.25)])),
    "training": st.one_of(st.just(True), st.booleans(), st.just(np.bool_(True))),
    "inplace": st.booleans(),
    "rng": st.one_of(st.integers(0, 2**64 - 1), st.builds(nd.Generator, st.integers(0, 9), st.integers(0, 9))),
    "bcast": st.one_of(st.just(()), st.integers(-1, 0), st.just((0,))),
    "return_state": st.booleans(),
}
ODD = {
    "x": arrays,
    "p": ps,
    "training": flags,
    "inplace": flags,
    "rng": rngs,
    "bcast": axes,
    "return_state": flags,
}


@settings(SETTINGS, max_examples=300)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
@given(fn=st.sampled_from(FORWARDS), data=st.data())
def test_forwards_and_backward(fn, data):
    odd = data.draw(st.sets(st.sampled_from(sorted(ODD)), max_size=2))
    args = {name: data.draw((ODD if name in odd else VALID)[name], label=name) for name in VALID}
    kwargs = {"rng": args["rng"], "return_state": args["return_state"]}
    if fn == "dropout":
        kwargs["broadcast_dims"] = args["bcast"]
    x = args["x"]
    plain = np.array(x, copy=True) if isinstance(x, np.ndarray) else None
    try:
        out = getattr(nd, fn)(x, args["p"], args["training"], args["inplace"], **kwargs)
    except Exception as exc:  # the point: only named TypeError/ValueError may escape
        check_error(exc)
        return
    y, state = out if wants_state(args["return_state"]) else (out, None)
    assert isinstance(y, np.ndarray) and y.shape == np.shape(x)
    if isinstance(x, np.ma.MaskedArray):
        assert isinstance(y, np.ma.MaskedArray)
    if plain is not None and isinstance(kwargs["rng"], int) and not isinstance(x, np.ma.MaskedArray):
        # the same values as a plain native array give the same bits
        want = getattr(nd, fn)(native(plain), args["p"], args["training"], False, **{**kwargs, "return_state": False})
        assert np.array_equal(bits(y), bits(want))
    if state is None:
        return
    grad = data.draw(st.sampled_from(["same", "ones", "odd"]))
    grad = {"same": np.asarray(y), "ones": np.ones(y.shape, y.dtype), "odd": data.draw(arrays)}[grad]
    try:
        dx = state.backward(grad)
    except Exception as exc:
        check_error(exc)
        return
    assert np.shape(dx) == y.shape


@SETTINGS
@given(
    shape=st.one_of(st.integers(-2, 6), st.lists(st.integers(-1, 4), max_size=4).map(tuple), odd_values),
    p=ps,
    rng=rngs,
    bcast=axes,
    device=devices,
)
def test_dropout_mask(shape, p, rng, bcast, device):
    try:
        keep = nd.dropout_mask(shape, p, rng=rng, broadcast_dims=bcast, device=device)
    except Exception as exc:
        check_error(exc)
        return
    assert keep.dtype == np.bool_


@SETTINGS
@given(
    layer=st.sampled_from(LAYERS),
    p=ps,
    inplace=flags,
    rng=rngs,
    x=arrays,
    train=st.booleans(),
    backward_first=st.booleans(),
)
def test_layers(layer, p, inplace, rng, x, train, backward_first):
    try:
        module = layer(p, inplace, rng=rng)
    except Exception as exc:
        check_error(exc)
        return
    module.train(train)
    if backward_first:
        try:
            module.backward(np.ones((2, 3), np.float32))
        except Exception as exc:
            check_error(exc, (TypeError, ValueError, RuntimeError))
    try:
        y = module(x)
        module.backward(np.ones_like(np.asarray(y)))
    except Exception as exc:
        check_error(exc, (TypeError, ValueError, RuntimeError))


# The rest of the family: DropBlock (a block size) and the Gaussian functions (a rate or stddev).
OTHERS = {
    "gaussian_dropout": lambda x, a, b, *flags, **kw: nd.gaussian_dropout(x, a, *flags, **kw),
    "gaussian_noise": lambda x, a, b, *flags, **kw: nd.gaussian_noise(x, a, *flags, **kw),
    "drop_block2d": nd.drop_block2d,
    "drop_block3d": nd.drop_block3d,
}
block_sizes = st.one_of(st.sampled_from([1, 3, 2, 0, -1, 5, 3.0, np.int64(3)]), odd_values)


@settings(SETTINGS, max_examples=200)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
@given(fn=st.sampled_from(sorted(OTHERS)), data=st.data())
def test_other_family_members(fn, data):
    odd = data.draw(st.sets(st.sampled_from(sorted(ODD)), max_size=2))
    args = {name: data.draw((ODD if name in odd else VALID)[name], label=name) for name in VALID}
    x = args["x"]
    if "x" not in odd and fn.startswith("drop_block") and data.draw(st.booleans()):
        flat = np.asarray(x).reshape(-1)  # a plain array: np.matrix stays 2-D under reshape
        x = flat[:0].reshape(0, 1, 1, 1) if x.size == 0 else np.broadcast_to(flat[:1], (2, 2, 5, 5))
        x = np.array(x)  # a valid 4-D input, so that the call reaches the kernels
    block = data.draw(block_sizes, label="block_size")
    try:
        out = OTHERS[fn](
            x, args["p"], block, args["training"], args["inplace"], rng=args["rng"], return_state=args["return_state"]
        )
    except Exception as exc:  # only named TypeError/ValueError may escape
        check_error(exc)
        return
    y, state = out if wants_state(args["return_state"]) else (out, None)
    assert y.shape == np.shape(x)
    if state is not None:
        try:
            dx = state.backward(np.ones(y.shape, y.dtype))
        except Exception as exc:
            check_error(exc)
            return
        assert np.shape(dx) == y.shape


@SETTINGS
@given(layer=st.sampled_from([nn.DropBlock2d, nn.DropBlock3d]), p=ps, block=block_sizes, rng=rngs, x=arrays)
def test_dropblock_layers(layer, p, block, rng, x):
    try:
        module = layer(p, block, rng=rng)
        y = module(x)
        module.backward(np.ones_like(np.asarray(y)))
    except Exception as exc:
        check_error(exc, (TypeError, ValueError, RuntimeError))


# --- containers and other array kinds (xarray, pandas, JAX, array-API): the same kind back -------


def _wrap_kind(kind: str, x: np.ndarray):
    """``x`` (a plain native float array) in the container ``kind``, or None where it cannot hold it."""
    if kind == "xarray" and (xr := _optional("xarray")):
        return xr.DataArray(x, dims=[f"d{i}" for i in range(x.ndim)], attrs={"a": 1}, name="v")
    if kind == "pandas" and (pd := _optional("pandas")) and x.ndim in (1, 2) and x.dtype != np.float16:
        return pd.Series(x, name="v") if x.ndim == 1 else pd.DataFrame(x)
    if kind == "jax" and (jnp := _optional("jax.numpy")) and x.dtype in (np.float32, np.float16):
        return jnp.asarray(x)
    if kind == "array_api_strict" and (xp := _optional("array_api_strict")) and x.dtype != np.float16:
        return xp.asarray(x)
    return None


def _optional(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


@settings(SETTINGS, max_examples=80)
@given(
    fn=st.sampled_from(FORWARDS),
    kind=st.sampled_from(["xarray", "pandas", "jax", "array_api_strict"]),
    data=st.data(),
)
def test_container_kinds(fn, kind, data):
    base = native(data.draw(float_arrays(), label="x"))
    if base.dtype.kind != "f":
        return
    x = _wrap_kind(kind, base)
    if x is None:
        return
    odd = data.draw(st.sets(st.sampled_from(["p", "training", "inplace", "rng"]), max_size=1))
    args = {name: data.draw((ODD if name in odd else VALID)[name], label=name) for name in ("p", "training", "rng")}
    inplace = data.draw(ODD["inplace"] if "inplace" in odd else VALID["inplace"], label="inplace")
    try:
        y, state = getattr(nd, fn)(x, args["p"], args["training"], inplace, rng=args["rng"], return_state=True)
    except Exception as exc:  # only named TypeError/ValueError may escape
        check_error(exc)
        return
    assert type(y) is type(x)
    want = getattr(nd, fn)(base, args["p"], args["training"], False, rng=args["rng"], return_state=False)
    if isinstance(args["rng"], int):
        assert np.array_equal(bits(np.asarray(y)), bits(want))
    dx = state.backward(x)
    assert type(dx) is type(x) and np.shape(dx) == np.shape(x)
