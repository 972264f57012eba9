"""
Dropout, Dropout2d and DropPath masks, drawn
============================================

The three dropout variants differ only in which axes share one keep/drop decision.
Here is a batch of activations ``(N, C, H, W) = (4, 6, 8, 8)`` -- four samples with six
8x8 feature maps each -- after element dropout (:func:`numbadrop.dropout`), channel
dropout (:func:`numbadrop.dropout2d`) and DropPath, i.e. ``dropout`` with
``broadcast_dims=(1, 2, 3)``, all with ``p = 0.5`` and the same seed.

Each row of a panel is one sample, each tile one channel; yellow is kept (scaled by
``1 / (1 - p) = 2``), dark blue is dropped.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

import numbadrop as nd

N, C, H, W = 4, 6, 8, 8
p, seed = 0.5, 2024
x = np.ones((N, C, H, W), np.float32)

variants = {
    "Dropout (element)\none decision per value": nd.dropout(x, p, rng=seed),
    "Dropout2d (channel)\none decision per (sample, channel)": nd.dropout2d(x, p, rng=seed),
    "DropPath (broadcast_dims=(1, 2, 3))\none decision per sample": nd.dropout(
        x, p, rng=seed, broadcast_dims=(1, 2, 3)
    ),
}


def mosaic(y, gap=2):
    """Lay ``(N, C, H, W)`` out as an image: samples down, channels across."""
    n, c, h, w = y.shape
    img = np.full((n * (h + gap) - gap, c * (w + gap) - gap), np.nan)
    for i in range(n):
        for j in range(c):
            img[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = y[i, j]
    return img


fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
cmap = ListedColormap(["#1d3557", "#f4c542"]).with_extremes(bad="white")  # dropped, kept; gaps white
for ax, (title, y) in zip(axes, variants.items(), strict=True):
    ax.imshow(mosaic(y), cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([(j + 0.5) * (W + 2) - 1.5 for j in range(C)], [f"c{j}" for j in range(C)], fontsize=8)
    ax.set_yticks([(i + 0.5) * (H + 2) - 1.5 for i in range(N)], [f"n{i}" for i in range(N)], fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel(f"kept: {np.count_nonzero(y) / y.size:.0%} of the values")
fig.suptitle(f"p = {p}, rng = {seed}: yellow = kept (x 2), dark blue = dropped", fontsize=11)
fig.tight_layout()

# %%
# The channel mask is the element mask of the *mask shape*
# ---------------------------------------------------------
# Under the :doc:`mask contract <../contract>`, a mask is drawn over the input shape
# with every broadcast axis set to 1. ``dropout2d`` of an ``(N, C, H, W)`` input
# therefore makes the same decisions as element dropout of an ``(N, C)`` input with
# the same seed, and DropPath the same as element dropout of an ``(N,)`` input:

channel = nd.dropout2d(x, p, rng=seed)[:, :, 0, 0] != 0
print(
    "Dropout2d decisions == element mask of shape (N, C):",
    np.array_equal(channel, nd.dropout_mask((N, C), p, rng=seed)),
)
droppath = nd.dropout(x, p, rng=seed, broadcast_dims=(1, 2, 3))[:, 0, 0, 0] != 0
print("DropPath decisions  == element mask of shape (N,):  ", np.array_equal(droppath, nd.dropout_mask(N, p, rng=seed)))

# %%
# Locked dropout and channels-last
# --------------------------------
# ``broadcast_dims`` expresses the other structured variants the same way. For a
# sequence ``(batch, time, features)``, ``broadcast_dims=1`` drops the same features
# at every time step (locked, or variational, dropout); for channels-last images
# ``(N, H, W, C)``, ``broadcast_dims=(1, 2)`` drops whole channels.

seq = np.ones((1, 24, 16), np.float32)  # one sequence: 24 steps x 16 features
nhwc = np.ones((N, H, W, C), np.float32)  # the batch above, channels last
panels = {
    "Dropout on (batch, time, features)": nd.dropout(seq, p, rng=seed)[0],
    "locked: broadcast_dims=1": nd.dropout(seq, p, rng=seed, broadcast_dims=1)[0],
    "channels-last (N, H, W, C), broadcast_dims=(1, 2)\n(drawn as above: samples down, channels across)": mosaic(
        np.moveaxis(nd.dropout(nhwc, p, rng=seed, broadcast_dims=(1, 2)), 3, 1)
    ),
}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for ax, (title, y), aspect in zip(axes, panels.items(), ("auto", "auto", "equal"), strict=True):
    ax.imshow(y, cmap=cmap, vmin=0, vmax=2, interpolation="nearest", aspect=aspect)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
axes[0].set(xlabel="feature", ylabel="time step")
axes[1].set(xlabel="feature", ylabel="time step")
fig.tight_layout()
plt.show()
