"""Drawing of the autodiff graph of a residual block: forward records nodes, backward runs them in reverse."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

NODES = {
    "x": (1.0, 2.0, "h (recorded)", "0.45", ""),
    "fc": (3.2, 3.2, "Linear", "#4C72B0", "keeps h, W"),
    "relu": (5.4, 3.2, "ReLU", "#55A868", "keeps h' > 0"),
    "drop": (7.6, 3.2, "Dropout(0.1)", "#C44E52", "keeps (seed, offset):\nno mask"),
    "add": (9.6, 2.0, "add  (+)", "#8172B2", "keeps nothing"),
    "loss": (11.8, 2.0, "loss", "0.2", ""),
}
EDGES = [("x", "fc"), ("fc", "relu"), ("relu", "drop"), ("drop", "add"), ("x", "add"), ("add", "loss")]


def box(ax, x, y, text, color, note):
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.85, y - 0.36),
            1.7,
            0.72,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=color,
            alpha=0.18,
            edgecolor=color,
            linewidth=1.6,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=10)
    if note:
        ax.text(x, y - 0.62, note, ha="center", va="top", fontsize=8, color="0.3")


def arrow(ax, start, end, color, ls="-", rad=0.0):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=13,
            color=color,
            linestyle=ls,
            linewidth=1.5,
            shrinkA=24,
            shrinkB=24,
            connectionstyle=f"arc3,rad={rad}",
        )
    )


def draw():
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.4))
    for ax, title, color, ls, backward in (
        (top, "forward: each operation on a recorded value records a node", "0.25", "-", False),
        (bottom, "loss.backward(): nodes run in reverse; the two gradients of h add up", "#C44E52", "--", True),
    ):
        ax.set_xlim(0, 12.8)
        ax.set_ylim(0.6, 4.1)
        ax.axis("off")
        ax.set_title(title, fontsize=11, loc="left")
        for x, y, text, col, note in NODES.values():
            box(ax, x, y, text, col, note if not backward else "")
        for a, b in EDGES:
            (xa, ya, *_), (xb, yb, *_) = NODES[a], NODES[b]
            if backward:
                arrow(ax, (xb, yb), (xa, ya), color, ls)
            else:
                arrow(ax, (xa, ya), (xb, yb), color, ls)
    bottom.text(1.0, 1.05, "grad = g(skip) + g(Linear)", ha="center", fontsize=9, color="#C44E52")
    bottom.text(7.6, 2.45, "mask regenerated\nfrom (seed, offset)", ha="center", fontsize=8, color="0.3")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
else:
    draw()
