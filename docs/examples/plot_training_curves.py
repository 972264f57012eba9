"""
Training curves with and without dropout
========================================

The main job of numbadrop's example trainer (``python -m numbadrop.examples.train_mlp``):
the seed tutorial's ``DropoutNet`` -- two hidden ReLU layers of 256 units, each
followed by dropout -- trained with Adam on scikit-learn's bundled 8x8 digits
(1,347 training and 450 test images), once without dropout (``p = 0``) and once with
``p = 0.5``. Both runs use the same seed, so they start from the same weights and see
the batches in the same order.

This page trains for 20 epochs to keep the documentation build short; the command
line default is 40 (``--epochs``).
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from numbadrop.examples.train_mlp import figure, load_digits, train

EPOCHS = 20
data = load_digits(seed=0)
print("train:", data[0].shape, " test:", data[1].shape)

histories = []
began = time.perf_counter()
for p in (0.0, 0.5):
    model, history = train(p, data, epochs=EPOCHS, batch_size=64, lr=1e-3, seed=0)
    histories.append(history)
print(f"trained 2 models x {EPOCHS} epochs in {time.perf_counter() - began:.1f} s")
for h in histories:
    print(
        f"p={h.p}: train loss {h.train_loss[-1]:.4f}, test loss {h.test_loss[-1]:.4f}, "
        f"test accuracy {h.test_acc[-1]:.2%} (best {max(h.test_acc):.2%})"
    )

# %%
# Loss and accuracy per epoch
# ---------------------------
# Dashed: training set, solid: test set, both measured in eval mode after each epoch.

fig = figure(histories)  # the same figure the command-line example saves

# %%
# The generalization gap
# ----------------------
# Without dropout the network fits the training set faster and its training loss
# keeps falling, while the test loss levels off: the gap between the two grows.
# With ``p = 0.5`` the training loss stays higher -- each step trains a random
# half-width sub-network -- and the gap grows more slowly. On a problem this small and
# this short, that does not buy test accuracy (compare the printed numbers above):
# dropout is a regularizer, and it pays where a network overfits for longer.

fig, ax = plt.subplots(figsize=(6, 3.6))
for h, colour in zip(histories, ("tab:red", "tab:blue"), strict=True):
    gap = np.array(h.test_loss) - np.array(h.train_loss)
    ax.plot(np.arange(1, len(gap) + 1), gap, color=colour, label=f"p={h.p}")
ax.set(xlabel="epoch", ylabel="test loss - train loss", title="Generalization gap")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
