"""Write docs/autodiff_table.rst, the autodiff page's table of rules, from numbadrop.autograd's registry.

Run ``python docs/autodiff_table.py`` after adding a rule; tests/test_autograd_numpy.py fails while the
committed file differs from what the registry gives.
"""

from pathlib import Path

from numbadrop.autograd.table import render

if __name__ == "__main__":
    target = Path(__file__).with_name("autodiff_table.rst")
    target.write_text(render())
    print(f"wrote {target}")
