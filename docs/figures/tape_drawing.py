"""Drawing of the autodiff tape: forward records closures, backward pops them."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

LAYERS = [
    ("fc1", "Linear(64, 256)", "keeps x, W", "#4C72B0"),
    ("relu", "ReLU()", "keeps a1 > 0", "#55A868"),
    ("drop", "Dropout(0.5)", "keeps (seed, offset,\np, shape): no mask", "#C44E52"),
    ("fc2", "Linear(256, 10)", "keeps h1', W", "#4C72B0"),
]
XS = [2.0, 4.6, 7.2, 9.8]


def box(ax, x, y, w, h, text, color, fill=0.18, **kw):
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.12",
        facecolor=color,
        alpha=fill,
        edgecolor=color,
        linewidth=1.6,
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", **kw)


def arrow(ax, start, end, color="0.25", style="-|>", ls="-", rad=0.0, lw=1.5):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=14,
            color=color,
            linestyle=ls,
            linewidth=lw,
            connectionstyle=f"arc3,rad={rad}",
        )
    )


def draw():
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7.4))
    for ax in (top, bottom):
        ax.set_xlim(0, 12.8)
        ax.set_ylim(0, 4.2)
        ax.axis("off")

    # -- forward: each primitive runs and records its closure ----------------------
    top.set_title(
        "model(x) in training mode: each layer computes its output and pushes one backward closure",
        fontsize=11,
        loc="left",
    )
    top.text(0.45, 3.3, "x", ha="center", va="center", fontsize=12, weight="bold")
    arrow(top, (0.65, 3.3), (XS[0] - 0.95, 3.3))
    for x, name in zip([XS[1] - 1.3, XS[2] - 1.3, XS[3] - 1.3], ["a1", "h1", "h1'"], strict=True):
        top.text(x, 3.45, name, ha="center", fontsize=9)
    for i, (name, label, keeps, color) in enumerate(LAYERS):
        box(top, XS[i], 3.3, 1.9, 0.7, label, color, fontsize=9.5, family="monospace")
        nxt = XS[i + 1] - 0.95 if i + 1 < len(XS) else 11.6
        arrow(top, (XS[i] + 0.95, 3.3), (nxt, 3.3))
        arrow(top, (XS[i], 2.92), (XS[i], 1.75), color=color, ls="--")
        top.text(XS[i] + 0.1, 2.35, f"record #{i}", fontsize=8.5, color=color, ha="left")
        box(top, XS[i], 1.2, 2.2, 1.0, f"backprop_{name}\n{keeps}", color, fill=0.08, fontsize=8.5)
    top.text(12.15, 3.3, "logits", ha="center", va="center", fontsize=10, weight="bold")
    tape = FancyBboxPatch(
        (0.7, 0.55),
        10.4,
        1.3,
        boxstyle="round,pad=0.02,rounding_size=0.15",
        facecolor="0.93",
        edgecolor="0.6",
        linewidth=1.0,
        zorder=-1,
    )
    top.add_patch(tape)
    top.text(11.3, 1.2, "tape", ha="left", va="center", fontsize=10, color="0.35", style="italic")
    top.text(
        0.7,
        0.2,
        "tape (a list, per top-level call): closures appended in call order  -- nothing is stored on the layers",
        fontsize=9,
        color="0.35",
    )

    # -- backward: pop in reverse ---------------------------------------------------
    bottom.set_title(
        "model.backward(grad): closures are popped last-in first-out; each returns the input gradient",
        fontsize=11,
        loc="left",
    )
    bottom.text(12.15, 2.9, "dL/dlogits\n= loss_fn\n.backward()", ha="center", va="center", fontsize=8.5)
    for i, (name, _, _, color) in enumerate(LAYERS):
        box(bottom, XS[i], 2.9, 2.2, 0.8, f"backprop_{name}", color, fill=0.08, fontsize=9, family="monospace")
        pop = len(LAYERS) - i
        bottom.text(XS[i], 3.55, f"pop {pop}", ha="center", fontsize=9, color=color, weight="bold")
        start = XS[i + 1] - 1.1 if i + 1 < len(XS) else 11.6
        arrow(bottom, (start, 2.9), (XS[i] + 1.1, 2.9), color="#8172B2", lw=2.0)
    grads = ["dL/dx", "dL/da1", "dL/dh1", "dL/dh1'"]
    for i, g in enumerate(grads):
        x = XS[i] - 1.3
        bottom.text(x, 2.45, g, ha="center", fontsize=8, color="#8172B2")
    arrow(bottom, (XS[0] - 1.1, 2.9), (0.35, 2.9), color="#8172B2", lw=2.0)
    for i in (0, 3):
        name, _, _, color = LAYERS[i]
        arrow(bottom, (XS[i], 2.48), (XS[i], 1.45), color=color, ls="--")
        box(
            bottom,
            XS[i],
            1.0,
            2.2,
            0.8,
            f"{name}.weight.grad +=\n{name}.bias.grad +=",
            color,
            fill=0.05,
            fontsize=8.5,
            family="monospace",
        )
    name, _, _, color = LAYERS[2]
    arrow(bottom, (XS[2], 2.48), (XS[2], 1.45), color=color, ls="--")
    box(bottom, XS[2], 1.0, 2.3, 0.8, "mask regenerated from\n(seed, offset, p, shape)", color, fill=0.05, fontsize=8.5)
    bottom.text(
        0.55,
        0.1,
        "then the tape is empty: a second backward raises RuntimeError; optimizer.step() reads Parameter.grad",
        fontsize=9,
        color="0.35",
    )
    fig.tight_layout()
    return fig


draw()  # the plot directive of docs/autodiff.rst shows the open figure
