"""
DropBlock, stochastic depth and Gaussian dropout beside Dropout2d
=================================================================

Four regularizers for convolutional and residual networks, on the same batch of
activations ``(N, C, H, W) = (3, 4, 16, 16)`` of ones, each drawn with the same seed:

* :func:`numbadrop.dropout2d` drops whole channels;
* :func:`numbadrop.drop_block2d` drops ``7 x 7`` squares centred on seeds drawn
  on the ``(H - 6, W - 6)`` grid (torchvision's DropBlock), then rescales the batch;
* :func:`numbadrop.stochastic_depth` drops whole samples (a residual branch per sample);
* :func:`numbadrop.gaussian_dropout` multiplies every value by ``1 + sigma * z``
  with ``z`` standard normal (Keras' ``GaussianDropout``), keeping every value.

All four masks are regenerated from ``(seed, offset)`` in the backward pass: nothing
is stored.
"""

import matplotlib.pyplot as plt
import numpy as np

import numbadrop as nd

N, C, H, W = 3, 4, 16, 16
seed = 7
x = np.ones((N, C, H, W), np.float32)

variants = {
    "dropout2d, p = 0.5\nwhole channels": nd.dropout2d(x, 0.5, rng=seed),
    "drop_block2d, p = 0.2, block 7\nsquares, batch rescaled": nd.drop_block2d(x, 0.2, 7, rng=seed),
    "stochastic_depth, p = 0.5\nwhole samples": nd.stochastic_depth(x, 0.5, "row", rng=seed),
    "gaussian_dropout, p = 0.2\nx * (1 + 0.5 z)": nd.gaussian_dropout(x, 0.2, rng=seed),
}


def mosaic(y, gap=2):
    """Lay ``(N, C, H, W)`` out as an image: samples down, channels across."""
    n, c, h, w = y.shape
    img = np.full((n * (h + gap) - gap, c * (w + gap) - gap), np.nan)
    for i in range(n):
        for j in range(c):
            img[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = y[i, j]
    return img


fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
cmap = plt.get_cmap("viridis").with_extremes(bad="white")
for ax, (title, y) in zip(axes, variants.items(), strict=True):
    image = ax.imshow(mosaic(y), cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel(f"{np.mean(y == 0):.0%} zero, mean {y.mean():.2f}", fontsize=9)
fig.colorbar(image, ax=axes, shrink=0.8, label="value (input: all ones)")
fig.suptitle(f"rng = {seed}: samples down, channels across", fontsize=11)

# %%
# The scale of DropBlock is a property of the whole batch
# --------------------------------------------------------
# Element and channel dropout scale kept values by ``1 / (1 - p)``; DropBlock, like
# torchvision, scales by ``numel / kept`` over the batch, so the mean stays 1
# exactly, whatever the blocks covered. The state keeps that scalar for the backward.

y, state = nd.drop_block2d(x, 0.2, 7, rng=seed, return_state=True)
print(f"kept {np.count_nonzero(y)} of {y.size}, scale {state.scale:.4f}, mean {y.mean():.4f}")
grad = state.backward(np.ones_like(x))
print("backward regenerates the same blocks:", bool(np.array_equal(grad, y)))
