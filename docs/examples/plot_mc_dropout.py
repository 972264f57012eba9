"""
MC-dropout uncertainty on digits
================================

Monte Carlo dropout keeps dropout **on** at prediction time and averages ``T``
stochastic forward passes; the spread of the passes estimates how unsure the network
is. :func:`numbadrop.nn.mc_dropout` puts a model in eval mode while leaving its dropout
layers sampling (and records nothing for backward).

We train the tutorial's ``DropoutNet`` with ``p = 0.5`` on scikit-learn's digits, then
draw ``T = 50`` predictions for each test image. Each pass uses new masks from the
layers' generators, so the whole experiment is reproducible from one seed.
"""

import matplotlib.pyplot as plt
import numpy as np

from numbadrop import nn
from numbadrop.examples.train_mlp import load_digits, train

x_train, x_test, y_train, y_test = data = load_digits(seed=0)
model, history = train(0.5, data, epochs=15, batch_size=64, lr=1e-3, seed=0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


T = 50
with nn.mc_dropout(model):
    probs = np.stack([softmax(model(x_test)) for _ in range(T)])  # (T, 450, 10)
mean = probs.mean(axis=0)
entropy = -(mean * np.log(np.clip(mean, 1e-12, None))).sum(axis=1)  # predictive entropy, nats
pred = mean.argmax(axis=1)
correct = pred == y_test

model.eval()
deterministic = model(x_test).argmax(axis=1)
print(f"eval-mode accuracy:           {np.mean(deterministic == y_test):.2%}")
print(f"MC-dropout accuracy (T={T}):  {np.mean(correct):.2%}")
print(f"mean entropy, correct: {entropy[correct].mean():.3f} nats;  wrong: {entropy[~correct].mean():.3f} nats")

# %%
# Uncertain predictions are the wrong ones
# ----------------------------------------
# The predictive entropy of the averaged probabilities separates the correct
# predictions from the wrong ones. Setting aside the most uncertain images raises
# the accuracy on the rest: a network that can say "I am not sure".

order = np.argsort(entropy)
kept_fraction = np.arange(1, len(order) + 1) / len(order)
accuracy_kept = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)

fig, (ax_h, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
bins = np.linspace(0, entropy.max(), 30)
ax_h.hist(entropy[correct], bins=bins, alpha=0.7, label=f"correct ({correct.sum()})", color="tab:blue")
ax_h.hist(entropy[~correct], bins=bins, alpha=0.8, label=f"wrong ({(~correct).sum()})", color="tab:red")
ax_h.set(xlabel="predictive entropy (nats)", ylabel="test images", title="MC-dropout uncertainty", yscale="log")
ax_h.legend()
ax_r.plot(kept_fraction, accuracy_kept, color="tab:blue")
ax_r.set(
    xlabel="fraction of test images kept (most certain first)",
    ylabel="accuracy on the kept images",
    title="Rejecting uncertain predictions",
    ylim=(min(accuracy_kept.min(), 0.95) - 0.005, 1.002),
)
ax_r.grid(alpha=0.3)
fig.tight_layout()

# %%
# The most and least certain test images
# --------------------------------------
# Top row: the eight most certain test digits. Bottom row: the eight most uncertain,
# with the MC mean probability of the predicted class and its spread (standard
# deviation over the ``T`` passes). Titles in red are wrong predictions.

fig, axes = plt.subplots(2, 8, figsize=(12, 3.8))
for row, indices in zip(axes, (order[:8], order[::-1][:8]), strict=True):
    for ax, i in zip(row, indices, strict=True):
        ax.imshow(x_test[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
        k = pred[i]
        ax.set_title(
            f"pred {k} (true {y_test[i]})\np={mean[i, k]:.2f}±{probs[:, i, k].std():.2f}",
            fontsize=8,
            color="tab:red" if k != y_test[i] else "black",
        )
        ax.axis("off")
axes[0, 0].text(-0.5, 0.5, "certain", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
axes[1, 0].text(-0.5, 0.5, "uncertain", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
fig.tight_layout()

# %%
# Uncertainty grows off the data
# ------------------------------
# Blending a digit into noise moves it away from anything seen in training: the
# predictive entropy rises as the noise takes over. :func:`numbadrop.nn.mc_predict`
# gives the mean and standard deviation of the raw outputs (here the logits) when
# that is all you need.

rng = np.random.default_rng(0)
noise = rng.uniform(0, 1, x_test.shape).astype(np.float32)
alphas = np.linspace(0, 1, 6)
mean_entropy = []
for a in alphas:
    blend = ((1 - a) * x_test + a * noise).astype(np.float32)
    with nn.mc_dropout(model):
        p_blend = np.stack([softmax(model(blend)) for _ in range(20)]).mean(axis=0)
    mean_entropy.append(float(-(p_blend * np.log(np.clip(p_blend, 1e-12, None))).sum(axis=1).mean()))

logits_mean, logits_std = nn.mc_predict(model, x_test[:5], n_samples=50)
print("mc_predict on 5 test images: logits mean", logits_mean.shape, "std", logits_std.shape)

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(alphas, mean_entropy, "o-", color="tab:purple")
ax.axhline(np.log(10), color="0.5", ls="--", lw=1, label="uniform over 10 classes")
ax.set(xlabel="noise fraction in the input", ylabel="mean predictive entropy (nats)", title="Inputs off the data")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
