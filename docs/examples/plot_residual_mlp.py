"""
A residual MLP trained with ``loss.backward()``
===============================================

A network written the way a PyTorch user writes one: residual blocks
``h = h + Dropout(ReLU(Linear(h)))``, NumPy arithmetic between layers, a loss that
is a recorded value, and ``loss.backward()`` filling every parameter's ``.grad``.
numbadrop records the forward as a graph (the residual sums are branches whose
gradients add up), and its dropout backward regenerates each mask from its
``(seed, offset)`` instead of storing it.

We first check the gradients of the whole network against central finite
differences, then train it on scikit-learn's bundled digits with AdamW.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import numbadrop
from numbadrop import nn, optim
from numbadrop.examples.train_mlp import load_digits


class ResidualMLP(nn.Module):
    """``width`` units, ``blocks`` residual blocks with dropout, a linear head."""

    def __init__(self, n_in, width, n_out, blocks=3, p=0.1, dtype=np.float32):
        super().__init__()
        self.stem = nn.Linear(n_in, width, dtype=dtype)
        self.blocks = nn.Sequential(*[nn.Linear(width, width, dtype=dtype) for _ in range(blocks)])
        self.drops = nn.Sequential(*[nn.Dropout(p) for _ in range(blocks)])
        self.act = nn.ReLU()
        self.head = nn.Linear(width, n_out, dtype=dtype)

    def forward(self, x):
        h = self.act(self.stem(x))
        for fc, drop in zip(self.blocks, self.drops, strict=True):
            h = h + drop(self.act(fc(h)))
        return self.head(h / np.sqrt(len(self.blocks) + 1))


# %%
# Gradient check
# --------------
# In float64, with the dropout masks frozen (each layer's generator is reset before
# every forward), the gradient from ``loss.backward()`` should match central finite
# differences of the loss to about 1e-8.

numbadrop.manual_seed(0)
rng = np.random.default_rng(0)
small = ResidualMLP(5, 6, 3, blocks=2, p=0.3, dtype=np.float64)
xs, ys = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
loss_fn = nn.CrossEntropyLoss()


def reset_masks():
    for seed, drop in enumerate(small.drops):
        drop.rng = numbadrop.Generator(100 + seed)


def loss_value():
    reset_masks()
    with numbadrop.no_grad():
        return float(loss_fn(small(xs), ys))


reset_masks()
loss_fn(small(xs), ys).backward()
worst = 0.0
for param in small.parameters():
    numeric = np.zeros_like(param.data)
    for idx in np.ndindex(param.data.shape):
        old = param.data[idx]
        param.data[idx] = old + 1e-6
        up = loss_value()
        param.data[idx] = old - 1e-6
        numeric[idx] = (up - loss_value()) / 2e-6
        param.data[idx] = old
    worst = max(worst, float(np.max(np.abs(numeric - param.grad))))
n_weights = sum(p.data.size for p in small.parameters())
print(f"largest |backward - finite difference| over {n_weights} weights: {worst:.1e}")

# %%
# Training on digits
# ------------------
# 64 inputs, width 128, three residual blocks with dropout 0.1, AdamW, batches of 64.

x_train, x_test, y_train, y_test = load_digits(seed=0)
numbadrop.manual_seed(0)
model = ResidualMLP(64, 128, 10, blocks=3, p=0.1)
optimizer = optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
order_rng = np.random.default_rng(0)
history = {"loss": [], "test accuracy": []}
began = time.perf_counter()
for _ in range(15):
    model.train()
    losses = []
    order = order_rng.permutation(len(x_train))
    for start in range(0, len(x_train), 64):
        batch = order[start : start + 64]
        optimizer.zero_grad()
        loss = loss_fn(model(x_train[batch]), y_train[batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with numbadrop.no_grad():
        accuracy = float((model(x_test).argmax(axis=1) == y_test).mean())
    history["loss"].append(np.mean(losses))
    history["test accuracy"].append(accuracy)
print(f"15 epochs in {time.perf_counter() - began:.1f} s; final test accuracy {history['test accuracy'][-1]:.2%}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for ax, (name, values) in zip(axes, history.items(), strict=True):
    ax.plot(np.arange(1, len(values) + 1), values, marker="o")
    ax.set(xlabel="epoch", title=name)
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
