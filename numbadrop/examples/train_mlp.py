"""Train an MLP with and without dropout on scikit-learn's bundled digits.

Run ``python -m numbadrop.examples.train_mlp`` (or ``numbadrop-train-mlp``).
It trains the seed tutorial's ``DropoutNet`` shape (64-256-256-10, ReLU,
dropout after each hidden layer) twice, with ``p=0`` and ``p=0.5``, prints the
test accuracy of each, and saves a figure of the per-epoch train/test loss and
accuracy. Needs the ``examples`` extra (scikit-learn, matplotlib, tqdm).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

import numbadrop
from numbadrop import nn, optim


class DropoutNet(nn.Module):
    """The seed tutorial's network: two hidden ReLU layers, each followed by dropout."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 256, output_dim: int = 10, dropout_rate: float = 0.5):
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.dropout1 = nn.Dropout(p=dropout_rate)
        self.fc2 = nn.Linear(hidden_dim, hidden_dim)
        self.dropout2 = nn.Dropout(p=dropout_rate)
        self.fc3 = nn.Linear(hidden_dim, output_dim)
        self.relu = nn.ReLU()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits for a batch ``x`` of shape ``(N, input_dim)``."""
        x = self.relu(self.fc1(x))
        x = self.dropout1(x)
        x = self.relu(self.fc2(x))
        x = self.dropout2(x)
        return self.fc3(x)


@dataclass
class History:
    """Per-epoch metrics of one training run."""

    p: float
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)


def load_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits (8x8 images, 1797 samples) scaled to [0, 1], split 75/25 stratified."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    data = sk_load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.25, random_state=seed, stratify=data.target)


def evaluate(model: nn.Module, loss_fn: nn.CrossEntropyLoss, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Loss and accuracy in eval mode (dropout off, nothing recorded)."""
    model.eval()
    with numbadrop.no_grad():
        logits = model(x)
        loss = float(loss_fn(logits, y))
    return loss, float((logits.argmax(axis=1) == y).mean())


def train(
    p: float,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    progress: object = None,
    bfloat16: bool = False,
) -> tuple[DropoutNet, History]:
    """Train one ``DropoutNet`` with dropout rate ``p``; deterministic for a seed.

    With ``bfloat16`` the images and every activation (the dropout layers'
    inputs included) are ``ml_dtypes.bfloat16``; weights, their gradients and
    Adam's state stay float32 (mixed precision, see :class:`numbadrop.nn.Linear`).
    """
    x_train, x_test, y_train, y_test = data
    if bfloat16:
        import ml_dtypes

        x_train, x_test = x_train.astype(ml_dtypes.bfloat16), x_test.astype(ml_dtypes.bfloat16)
    numbadrop.manual_seed(seed)  # parameter init and dropout masks
    order_rng = np.random.default_rng(seed)
    model = DropoutNet(input_dim=x_train.shape[1], hidden_dim=256, output_dim=10, dropout_rate=p)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    history = History(p)
    for _ in range(epochs):
        model.train()
        order = order_rng.permutation(len(x_train))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
        for loss_list, acc_list, (xs, ys) in (
            (history.train_loss, history.train_acc, (x_train, y_train)),
            (history.test_loss, history.test_acc, (x_test, y_test)),
        ):
            loss, acc = evaluate(model, loss_fn, xs, ys)
            loss_list.append(loss)
            acc_list.append(acc)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(p=p, test_acc=f"{history.test_acc[-1]:.3f}")
    return model, history


def figure(histories: list[History]):
    """A matplotlib figure of train/test loss and accuracy per epoch for each run."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for hist, colour in zip(histories, ("tab:red", "tab:blue", "tab:green", "tab:purple"), strict=False):
        epochs = np.arange(1, len(hist.train_loss) + 1)
        ax_loss.plot(epochs, hist.train_loss, "--", color=colour, label=f"train, p={hist.p}")
        ax_loss.plot(epochs, hist.test_loss, "-", color=colour, label=f"test, p={hist.p}")
        ax_acc.plot(epochs, hist.train_acc, "--", color=colour, label=f"train, p={hist.p}")
        ax_acc.plot(epochs, hist.test_acc, "-", color=colour, label=f"test, p={hist.p}")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0.85, 1.001))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("numbadrop DropoutNet on scikit-learn digits: dropout p=0 vs p=0.5")
    fig.tight_layout()
    return fig


def plot(histories: list[History], path: str) -> None:
    """Save :func:`figure` of ``histories`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(histories)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(argv: list[str] | None = None) -> list[History]:
    """Parse ``argv``, train, print and plot; return the histories."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of init, masks, split and order")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.5], help="dropout rates to compare")
    parser.add_argument("--out", default="train_mlp.png", help="where to save the figure ('' to skip)")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    parser.add_argument(
        "--bfloat16", action="store_true", help="bfloat16 activations, float32 weights (needs ml_dtypes)"
    )
    args = parser.parse_args(argv)
    from tqdm.auto import tqdm

    data = load_digits(args.seed)
    histories = []
    began = time.perf_counter()
    with tqdm(total=args.epochs * len(args.p), desc="training", unit="epoch", disable=args.no_progress) as bar:
        for p in args.p:
            _, hist = train(
                p,
                data,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                seed=args.seed,
                progress=bar,
                bfloat16=args.bfloat16,
            )
            histories.append(hist)
    elapsed = time.perf_counter() - began
    for hist in histories:
        best = max(hist.test_acc)
        print(
            f"p={hist.p}: final test accuracy {hist.test_acc[-1]:.2%} (best {best:.2%}), "
            f"final test loss {hist.test_loss[-1]:.4f}"
        )
    print(f"trained {len(histories)} models x {args.epochs} epochs in {elapsed:.1f} s")
    if args.out:
        plot(histories, args.out)
        print(f"figure saved to {args.out}")
    return histories


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (``numbadrop-train-mlp``)."""
    run(argv)


if __name__ == "__main__":
    main()
