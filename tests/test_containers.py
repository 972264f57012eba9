"""Containers come back as themselves: xarray, pandas, JAX and array-API arrays, with the NumPy call's bits."""

from __future__ import annotations

import subprocess
import sys

import naive
import numpy as np
import pytest

import numbadrop as nd


def data(shape, dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = np.nan
    return x


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


#: ``name -> f(x)`` for every function of the family on a 4-D input, and the backward of each state kind.
FAMILY = {
    "dropout": lambda x: nd.dropout(x, 0.4, rng=1),
    "dropout2d": lambda x: nd.dropout2d(x, 0.5, rng=2),
    "alpha": lambda x: nd.alpha_dropout(x, 0.3, True, rng=3),
    "feature_alpha": lambda x: nd.feature_alpha_dropout(x, 0.3, True, rng=4),
    "depth": lambda x: nd.stochastic_depth(x, 0.5, rng=5),
    "gaussian": lambda x: nd.gaussian_dropout(x, 0.3, rng=6),
    "noise": lambda x: nd.gaussian_noise(x, 0.3, rng=7),
    "drop_block2d": lambda x: nd.drop_block2d(x, 0.3, 3, rng=8),
}
X4 = data((2, 3, 5, 6))


def _states():
    return {
        "dropout": nd.dropout(X4, 0.4, rng=1, return_state=True)[1],
        "alpha": nd.alpha_dropout(X4, 0.3, True, rng=3, return_state=True)[1],
        "gaussian": nd.gaussian_dropout(X4, 0.3, rng=6, return_state=True)[1],
        "drop_block2d": nd.drop_block2d(X4, 0.3, 3, rng=8, return_state=True)[1],
    }


# --- xarray --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xr():
    return pytest.importorskip("xarray")


def labelled(xr, values):
    return xr.DataArray(
        values,
        dims=("n", "c", "lat", "lon"),
        coords={"lat": np.linspace(-10, 10, values.shape[2]), "lon": np.arange(values.shape[3]), "c": list("abc")},
        attrs={"units": "K", "source": "test"},
        name="t2m",
    )


def assert_labels(y, x):
    assert type(y) is type(x)
    assert y.dims == x.dims and y.name == x.name and y.attrs == x.attrs
    assert all(y.coords[k].equals(x.coords[k]) for k in x.coords) and set(y.coords) == set(x.coords)


def test_xarray_every_function_keeps_labels_and_bits(xr):
    a = labelled(xr, X4)
    for name, f in FAMILY.items():
        y = f(a)
        assert_labels(y, a)
        assert same_bits(y.values, f(X4)), name
    assert same_bits(FAMILY["dropout"](a).values, naive.dropout(X4, 0.4, 1))
    for name, state in _states().items():
        g = state.backward(a)
        assert_labels(g, a)
        assert same_bits(g.values, state.backward(X4)), name


def test_xarray_dask_backed_stays_lazy_and_bit_identical(xr):
    pytest.importorskip("dask.array")
    a = labelled(xr, X4).chunk({"n": 1, "lat": 2})
    for name in ("dropout", "dropout2d", "alpha", "depth", "gaussian", "drop_block2d"):
        y = FAMILY[name](a)
        assert_labels(y, a)
        assert type(y.data).__module__.startswith("dask"), name  # still a graph, nothing computed
        assert same_bits(y.values, FAMILY[name](X4)), name
    g = _states()["dropout"].backward(a)
    assert type(g.data).__module__.startswith("dask") and same_bits(g.values, _states()["dropout"].backward(X4))
    with pytest.raises(ValueError, match="dask arrays"):
        nd.dropout(a, 0.5, rng=0, inplace=True)


def test_xarray_inplace_and_out(xr):
    a = labelled(xr, X4.copy())
    assert nd.dropout(a, 0.4, rng=1, inplace=True) is a
    assert same_bits(a.values, FAMILY["dropout"](X4))
    out = labelled(xr, np.empty_like(X4))
    assert nd.dropout(labelled(xr, X4), 0.4, rng=1, out=out) is out and same_bits(out.values, FAMILY["dropout"](X4))
    with pytest.raises(TypeError, match="out must be an array of the same kind"):
        nd.dropout(labelled(xr, X4), 0.4, rng=1, out=np.empty_like(X4))
    frozen = labelled(xr, X4.copy())
    frozen.values.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nd.dropout(frozen, 0.5, rng=0, inplace=True)


def test_xarray_refusals(xr):
    with pytest.raises(TypeError, match=r"x is an xarray\.Dataset: .* per variable"):
        nd.dropout(xr.Dataset({"v": labelled(xr, X4)}), 0.5)
    with pytest.raises(TypeError, match="x must have dtype float16, float32 or float64, got dtype int64"):
        nd.dropout(xr.DataArray(np.arange(4)), 0.5)


# --- pandas --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pd():
    return pytest.importorskip("pandas")


def test_pandas_series_and_dataframe_keep_labels_and_bits(pd):
    values = data((6, 4), np.float64)
    df = pd.DataFrame(values, index=pd.Index(list("uvwxyz"), name="row"), columns=["a", "b", "c", "d"])
    s = pd.Series(values[:, 0].copy(), index=df.index, name="temp")
    for x, v in ((df, values), (s, values[:, 0])):
        for f in (
            lambda a: nd.dropout(a, 0.4, rng=1),
            lambda a: nd.alpha_dropout(a, 0.3, True, rng=2),
            lambda a: nd.gaussian_noise(a, 0.3, rng=3),
        ):
            y = f(x)
            assert type(y) is type(x) and y.index.equals(x.index)
            assert y.columns.equals(x.columns) if isinstance(x, pd.DataFrame) else y.name == x.name
            assert same_bits(y.to_numpy(), f(np.ascontiguousarray(v)))
        y, state = nd.dropout(x, 0.4, rng=1, return_state=True)
        g = state.backward(x)
        assert type(g) is type(x) and g.index.equals(x.index) and same_bits(g.to_numpy(), y.to_numpy())
    y = nd.dropout(df, 0.4, rng=1, broadcast_dims=0)  # one decision per column
    assert same_bits(y.to_numpy(), naive.dropout(values, 0.4, 1, 0, (0,)))


def test_pandas_inplace_and_out(pd):
    values = data((5, 3), np.float32)
    df = pd.DataFrame(values.copy(), columns=["a", "b", "c"])
    assert nd.dropout(df, 0.5, rng=4, inplace=True) is df
    assert same_bits(df.to_numpy(), nd.dropout(values, 0.5, rng=4))
    out = pd.DataFrame(np.zeros_like(values), columns=["a", "b", "c"])
    assert nd.dropout(pd.DataFrame(values), 0.5, rng=4, out=out) is out
    assert same_bits(out.to_numpy(), nd.dropout(values, 0.5, rng=4))


def test_pandas_object_and_mixed_columns_raise_naming_the_column(pd):
    with pytest.raises(TypeError, match=r"x has column 'name' of dtype (object|str)"):
        nd.dropout(pd.DataFrame({"v": [1.0, 2.0], "name": ["a", "b"]}), 0.5)
    with pytest.raises(TypeError, match=r"x has column 'n' of dtype int64"):
        nd.dropout(pd.DataFrame({"v": [1.0, 2.0], "n": [1, 2]}), 0.5)
    with pytest.raises(TypeError, match=r"mixed column dtypes: column 'b' is float32, the first is float64"):
        nd.dropout(pd.DataFrame({"a": np.ones(2), "b": np.ones(2, np.float32)}), 0.5)
    with pytest.raises(TypeError, match=r"x has column 'f' of dtype Float64"):
        nd.dropout(pd.Series([1.0, None], dtype="Float64", name="f"), 0.5)


# --- JAX and array-API namespaces ------------------------------------------------------------


def test_jax_arrays_come_back_as_jax_arrays():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.asarray(X4)
    for name, f in FAMILY.items():
        y = f(x)
        assert isinstance(y, jax.Array) and same_bits(np.asarray(y), f(X4)), name
    for name, state in _states().items():
        g = state.backward(x)
        assert isinstance(g, jax.Array) and same_bits(np.asarray(g), state.backward(X4)), name


def test_jax_refusals():
    jax = pytest.importorskip("jax")
    x = jax.numpy.asarray(X4)
    with pytest.raises(TypeError, match=r"cannot be written in place \(JAX arrays are immutable\)"):
        nd.dropout(x, 0.5, rng=0, inplace=True)
    with pytest.raises(TypeError, match="cannot be written in place"):
        nd.dropout(x, 0.5, rng=0, out=jax.numpy.zeros_like(x))
    with pytest.raises(TypeError, match="cannot be written in place"):
        _states()["dropout"].backward(x, inplace=True)
    for transform in (jax.jit, jax.grad, jax.vmap):

        def f(t, summed=transform is jax.grad):
            return nd.dropout(t, 0.5, rng=0).sum() if summed else nd.dropout(t, 0.5, rng=0)

        with pytest.raises(TypeError, match=r"x is a JAX tracer .* outside jax\.jit, jax\.grad and jax\.vmap"):
            transform(f)(x)


def test_array_api_strict_arrays_come_back_and_write_in_place():
    xp = pytest.importorskip("array_api_strict")
    x = xp.asarray(X4)
    for name, f in FAMILY.items():
        y = f(x)
        assert type(y) is type(x) and same_bits(np.from_dlpack(y), f(X4)), name
    z = xp.asarray(X4.copy())
    assert nd.dropout(z, 0.4, rng=1, inplace=True) is z and same_bits(np.from_dlpack(z), FAMILY["dropout"](X4))
    out = xp.zeros(X4.shape, dtype=xp.float32)
    assert nd.dropout(x, 0.4, rng=1, out=out) is out and same_bits(np.from_dlpack(out), FAMILY["dropout"](X4))


# --- laziness ---------------------------------------------------------------------------------


def test_containers_are_imported_only_when_their_first_array_arrives():
    code = (
        "import sys, numpy as np, numbadrop as nd\n"
        "nd.dropout(np.ones(8, np.float32), 0.5, rng=0)\n"
        "nd.dropout([1.0, 2.0], 0.5, rng=0)\n"
        "names = ('xarray', 'pandas', 'jax', 'array_api_strict', 'numbadrop.backends.xarray',\n"
        "         'numbadrop.backends.pandas', 'numbadrop.backends.array_api')\n"
        "print([n for n in names if n in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
