"""The torch autograd path's backward on a GPU array: the CPU's gradient, bit for bit (simulator or GPU).

torch CUDA tensors cannot be made without a CUDA build of torch; what the
``torch.autograd.Function``'s backward does with one is ``state.backward(grad)``
through the tensor's ``__cuda_array_interface__`` (the CUDA backend). Here the
forward is a torch CPU tensor that requires grad, the state is returned by that
recorded call, and its backward runs on a device array: it must equal the
gradient torch's graph computed on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpuarrays import to_gpu, to_host

torch = pytest.importorskip("torch")

import numbadrop as nd  # noqa: E402

CALLS = {
    "dropout": (lambda x, **kw: nd.dropout(x, 0.4, **kw), (6, 10)),
    "dropout2d": (lambda x, **kw: nd.dropout2d(x, 0.4, **kw), (2, 3, 2, 5)),
    "alpha": (lambda x, **kw: nd.alpha_dropout(x, 0.3, True, **kw), (6, 10)),
    "gaussian": (lambda x, **kw: nd.gaussian_dropout(x, 0.3, **kw), (6, 10)),
    "drop_block2d": (lambda x, **kw: nd.drop_block2d(x, 0.3, 3, **kw), (1, 2, 5, 6)),
}


@pytest.mark.parametrize("name", CALLS)
def test_device_backward_of_a_recorded_torch_call_is_the_cpu_gradient(name):
    call, shape = CALLS[name]
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).requires_grad_(True)
    g = rng.standard_normal(shape, dtype=np.float32)
    y, state = call(x, rng=9, return_state=True)
    assert y.grad_fn is not None
    y.backward(torch.from_numpy(g))
    on_device = state.backward(to_gpu(g))
    assert np.array_equal(to_host(on_device), x.grad.numpy())
