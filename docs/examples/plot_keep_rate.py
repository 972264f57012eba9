"""
Keep rate against p
===================

Dropout with drop probability ``p`` should keep a fraction ``1 - p`` of the units.
numbadrop drops unit ``j`` when its 32-bit Philox word is below ``t = ceil(p * 2**32)``,
so the keep probability is ``1 - t / 2**32``, which equals ``1 - p`` to within
``2**-32``; any difference you measure is sampling noise.

This example measures the keep rate of :class:`numbadrop.nn.Dropout` for 41 values of
``p``, over 50 forward passes of 20,000 units each (a million decisions per ``p``),
and compares it with ``1 - p`` and the binomial standard error
``sqrt(p (1 - p) / n)``.
"""

import matplotlib.pyplot as plt
import numpy as np

from numbadrop import nn

ps = np.linspace(0.0, 1.0, 41)
passes, units = 50, 20_000
n = passes * units
x = np.ones(units, np.float32)

kept = []
for i, p in enumerate(ps):
    layer = nn.Dropout(p=float(p), rng=i)  # its own generator: offsets 0, 1, 2, ...
    kept.append(sum(np.count_nonzero(layer(x)) for _ in range(passes)) / n)
kept = np.array(kept)
stderr = np.sqrt(ps * (1 - ps) / n)
z = np.divide(kept - (1 - ps), stderr, out=np.zeros_like(ps), where=stderr > 0)

fig, (ax, ax_z) = plt.subplots(1, 2, figsize=(11, 4))
ax.plot(ps, 1 - ps, color="0.5", lw=1, label="1 - p")
ax.plot(ps, kept, "o", ms=4, color="tab:blue", label=f"measured ({n:,} units per p)")
ax.set(xlabel="p (drop probability)", ylabel="fraction of units kept", title="Keep rate")
ax.legend()
ax.grid(alpha=0.3)

ax_z.axhspan(-2, 2, color="tab:blue", alpha=0.1, label="within 2 standard errors")
ax_z.axhline(0, color="0.5", lw=1)
ax_z.plot(ps, z, "o", ms=4, color="tab:blue")
ax_z.set(
    xlabel="p",
    ylabel="(measured - (1 - p)) / standard error",
    title="Deviation in binomial standard errors",
    ylim=(-4, 4),
)
ax_z.legend(loc="lower right")
ax_z.grid(alpha=0.3)
fig.tight_layout()

# %%
# The deviations look like draws from a standard normal distribution, as they should
# for independent Bernoulli decisions. ``p = 0`` and ``p = 1`` are exact: ``t = 0``
# keeps everything and ``t = 2**32`` drops everything.

print(f"p = 0: kept {kept[0]:.0%};  p = 1: kept {kept[-1]:.0%}")
print(f"largest |deviation| in standard errors: {np.abs(z).max():.2f}")
print(f"fraction within 2 standard errors: {np.mean(np.abs(z) <= 2):.0%}")

# %%
# The seed tutorial's table
# -------------------------
# The tutorial's Example 5 (100 passes over 1000 units) for four values of ``p``:

for p in [0.1, 0.3, 0.5, 0.7]:
    layer = nn.Dropout(p=p, rng=0)
    active = sum(np.count_nonzero(layer(np.ones(1000, np.float32))) for _ in range(100))
    print(f"p={p} - Average activation ratio: {active / 100 / 1000:.2%} (Expected: {1 - p:.2%})")
