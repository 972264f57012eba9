"""numbadrop.torch: torch.nn.Module drop-ins over the family, with rng= and the mask contract."""

from __future__ import annotations

import subprocess
import sys

import numba
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import numbadrop as nd  # noqa: E402
import numbadrop.torch as ndt  # noqa: E402

#: module -> (constructor taking rng, the function it must match, input shape)
MODULES = {
    "Dropout": (lambda rng: ndt.Dropout(0.4, rng=rng), lambda x, r: nd.dropout(x, 0.4, rng=r), (4, 6)),
    "Dropout1d": (lambda rng: ndt.Dropout1d(0.4, rng=rng), lambda x, r: nd.dropout1d(x, 0.4, rng=r), (2, 5, 3)),
    "Dropout2d": (lambda rng: ndt.Dropout2d(0.4, rng=rng), lambda x, r: nd.dropout2d(x, 0.4, rng=r), (2, 5, 3, 3)),
    "Dropout3d": (
        lambda rng: ndt.Dropout3d(0.4, rng=rng),
        lambda x, r: nd.dropout3d(x, 0.4, rng=r),
        (2, 5, 2, 2, 2),
    ),
    "AlphaDropout": (
        lambda rng: ndt.AlphaDropout(0.3, rng=rng),
        lambda x, r: nd.alpha_dropout(x, 0.3, True, rng=r),
        (4, 6),
    ),
    "FeatureAlphaDropout": (
        lambda rng: ndt.FeatureAlphaDropout(0.3, rng=rng),
        lambda x, r: nd.feature_alpha_dropout(x, 0.3, True, rng=r),
        (2, 5, 3),
    ),
    "DropBlock2d": (
        lambda rng: ndt.DropBlock2d(0.3, 3, rng=rng),
        lambda x, r: nd.drop_block2d(x, 0.3, 3, rng=r),
        (2, 2, 5, 5),
    ),
    "DropBlock3d": (
        lambda rng: ndt.DropBlock3d(0.3, 3, rng=rng),
        lambda x, r: nd.drop_block3d(x, 0.3, 3, rng=r),
        (1, 2, 3, 4, 4),
    ),
    "StochasticDepth": (
        lambda rng: ndt.StochasticDepth(0.5, "row", rng=rng),
        lambda x, r: nd.stochastic_depth(x, 0.5, "row", rng=r),
        (8, 3),
    ),
    "GaussianDropout": (
        lambda rng: ndt.GaussianDropout(0.3, rng=rng),
        lambda x, r: nd.gaussian_dropout(x, 0.3, rng=r),
        (4, 6),
    ),
    "GaussianNoise": (
        lambda rng: ndt.GaussianNoise(0.5, rng=rng),
        lambda x, r: nd.gaussian_noise(x, 0.5, rng=r),
        (4, 6),
    ),
}


def _x(shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32))


@pytest.mark.parametrize("name", MODULES)
def test_train_matches_the_function_and_eval_is_identity(name):
    make, function, shape = MODULES[name]
    module = make(11)
    assert isinstance(module, torch.nn.Module) and module.training
    x = _x(shape).requires_grad_(True)
    y0, y1 = module(x), module(x)  # offsets 0 and 1 of the module's generator
    assert torch.equal(y0, function(x.detach(), nd.Generator(11, 0)))
    assert torch.equal(y1, function(x.detach(), nd.Generator(11, 1)))
    y0.sum().backward()
    assert x.grad is not None
    module.eval()
    assert module(x) is x


@pytest.mark.parametrize("name", MODULES)
def test_same_rng_same_masks_in_sequential_and_state_dict(name):
    make, _, shape = MODULES[name]

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Identity(), make(3))

    a, b = model(), model()
    x = _x(shape)
    assert torch.equal(a(x), b(x))
    c = torch.nn.Sequential(torch.nn.Identity(), make(99))
    c.load_state_dict(a.state_dict())  # the generator's seed and offset travel in state_dict
    assert torch.equal(a(x), c(x))


def test_dropout_masks_do_not_depend_on_thread_count():
    layer = ndt.Dropout(0.5, rng=4)
    x = torch.ones(1 << 21)  # above SERIAL_CUTOFF: the parallel kernel
    threads = numba.get_num_threads()
    y_all = layer(x)
    numba.set_num_threads(1)
    try:
        layer.rng = nd.Generator(4)
        y_one = layer(x)
    finally:
        numba.set_num_threads(threads)
    assert torch.equal(y_all, y_one)


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(ValueError, match="p"):
        ndt.Dropout(1.5)
    with pytest.raises(ValueError, match="block_size"):
        ndt.DropBlock2d(0.1, 2)
    with pytest.raises(ValueError, match="mode"):
        ndt.StochasticDepth(0.1, "col")
    with pytest.raises(TypeError, match="rng"):
        ndt.Dropout(0.1, rng="seed")


def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    eager = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), ndt.Dropout(0.5, rng=2), torch.nn.Linear(8, 3))
    compiled_model = torch.nn.Sequential(*[torch.nn.Linear(6, 8), torch.nn.ReLU(), ndt.Dropout(0.5, rng=2)])
    compiled_model.append(torch.nn.Linear(8, 3))
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model, backend="eager")
    x = _x((5, 6))
    for _ in range(2):
        assert torch.equal(compiled(x), eager(x))


def test_import_without_torch_names_the_package():
    code = "import sys; sys.modules['torch'] = None\ntry:\n import numbadrop.torch\nexcept ImportError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'torch' package" in out
