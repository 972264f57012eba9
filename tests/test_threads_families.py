"""One lock policy for every kernel family: 8 Python threads mixing all of them never abort, on any threading layer.

Numba's workqueue layer aborts the process (SIGABRT) when two threads enter
parallel regions at once. Every parallel CPU kernel of numbadrop (dropout,
the shared-rows and column walks, Gaussian, DropBlock's count and apply)
runs through :mod:`numbadrop.kernels.cpu._runtime` (``launch`` or
``locked``), which takes one lock there. The serial jitted kernels (the
optimizers', the activations') need none. This test mixes every family,
forward and backward, from 8 threads, and checks each result's bits against
the same call made alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import numba
    import numpy as np
    import numbadrop as nd
    from numbadrop import nn, optim
    from numbadrop._core import tunables

    tunables.SERIAL_CUTOFF = 1 << 16  # the arrays below then run the parallel kernels
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2**17).astype(np.float32)
    img = x.reshape(8, 16, 32, 32)
    vol = x.reshape(4, 8, 16, 16, 16)
    xt = x.reshape(256, 512).T  # the column walk
    cl = x.reshape(8, 32, 32, 16)  # channels last: the shared-rows walk
    try:
        _, state = nd.dropout(x, 0.5, rng=1, return_state=True)  # the first parallel region loads the layer
    except ValueError as exc:  # this layer does not load here
        print("unavailable:", exc)
        sys.exit(0)
    _, bstate = nd.drop_block2d(img, 0.3, 3, rng=1, return_state=True)

    def sgd(i):
        w = nn.Parameter(x[:4096].reshape(64, 64).copy())
        w.grad = np.full((64, 64), 0.01 * i, np.float32)
        optim.SGD([w], lr=0.1, momentum=0.9).step()
        return w.data

    calls = [
        lambda i: nd.dropout(x, 0.5, rng=i),
        lambda i: nd.dropout(xt, 0.5, rng=i),
        lambda i: nd.dropout(cl, 0.5, rng=i, broadcast_dims=(1, 2)),
        lambda i: nd.dropout2d(img, 0.3, rng=i),
        lambda i: nd.alpha_dropout(x[::-2], 0.2, True, rng=i),
        lambda i: nd.stochastic_depth(img, 0.5, rng=i),
        lambda i: nd.dropout_mask(2**17 + 3, 0.5, rng=i),
        lambda i: state.backward(x),
        lambda i: nd.gaussian_dropout(x, 0.5, rng=i),
        lambda i: nd.gaussian_noise(img, 0.5, rng=i),
        lambda i: nd.drop_block2d(img, 0.3, 3, rng=i),
        lambda i: nd.drop_block3d(vol, 0.3, 3, rng=i),
        lambda i: bstate.backward(img),
        lambda i: nn.GELU()(img),
        lambda i: nn.ReLU()(img),
        sgd,
    ]
    jobs = [(c, i) for i in range(3) for c in range(len(calls))]
    serial = [calls[c](i) for c, i in jobs]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(2):
            got = list(pool.map(lambda job: calls[job[0]](job[1]), jobs))
            for (c, i), a, b in zip(jobs, got, serial):
                assert a.strides == b.strides and a.tobytes("A") == b.tobytes("A"), (c, i)
    print("layer:", numba.threading_layer())
    """
)


@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_every_kernel_family_from_8_threads_never_aborts(tmp_path, layer):
    script = tmp_path / "families.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="2")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    if done.stdout.startswith("unavailable"):
        pytest.skip(f"threading layer {layer} does not load here")
    assert done.stdout.strip() == f"layer: {layer}"
