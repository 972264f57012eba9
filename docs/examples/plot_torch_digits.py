"""
A torch model with numbadrop's dropout, trained twice to the same bits
======================================================================

:class:`numbadrop.torch.Dropout` is a ``torch.nn.Module``: it goes into a
``torch.nn.Sequential`` like ``torch.nn.Dropout``, and torch's autograd carries the
gradient through it. Its mask is a pure function of ``(seed, offset, shape, p)``: the
module's generator (``rng=0``) gives offsets 0, 1, 2, ... to successive training
forwards, whatever the thread count or device. Two runs from the same seeds therefore
end with bit-identical weights, and nothing is kept in memory for the backward
pass (torch's ``Dropout`` keeps one byte per element).

The data are scikit-learn's bundled 8x8 digits (1,797 images, no download).
"""

import matplotlib.pyplot as plt
import torch

import numbadrop.torch as ndt
from numbadrop.examples.train_mlp import load_digits

x_train, x_test, y_train, y_test = (torch.from_numpy(a) for a in load_digits(seed=0))
x_train, x_test = x_train.float(), x_test.float()
y_train, y_test = y_train.long(), y_test.long()


def train(epochs: int = 8, batch: int = 64):
    """A 64-128-128-10 MLP with two numbadrop dropout layers; returns the model and its test accuracy per epoch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), ndt.Dropout(0.3, rng=0),
        torch.nn.Linear(128, 128), torch.nn.ReLU(), ndt.Dropout(0.3, rng=1),
        torch.nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(0)
    accuracy = []
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accuracy.append((model(x_test).argmax(1) == y_test).float().mean().item())
    return model, accuracy


model_a, acc_a = train()
model_b, acc_b = train()
same = all(torch.equal(a, b) for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True))
print(f"test accuracy after {len(acc_a)} epochs: {acc_a[-1]:.3f}")
print("two runs, bit-identical weights:", same)
assert same

# %%
# The two runs' test accuracy, epoch by epoch: one curve, drawn twice.

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(range(1, len(acc_a) + 1), acc_a, lw=3, label="run 1")
ax.plot(range(1, len(acc_b) + 1), acc_b, "k--", label="run 2")
ax.set(xlabel="epoch", ylabel="test accuracy", title="torch MLP with numbadrop.torch.Dropout")
ax.legend()
fig.tight_layout()
plt.show()
