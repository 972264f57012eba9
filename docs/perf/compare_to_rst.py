"""Turn the output of ``asv_bench/compare.py`` into ``docs/perf/cpu_table.rst``.

Usage, from the repository root, on a quiet machine::

    python asv_bench/compare.py > /tmp/compare.txt
    python docs/perf/compare_to_rst.py /tmp/compare.txt --intro "Run on DATE at commit ... on MACHINE." \\
        > docs/perf/cpu_table.rst

The page shows a table of the cases (times, ratios, PASS/FAIL) and then the full
output, which names the failed targets.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HEADS = ["case", "numbadrop", "numpy", "torch", "copy", "numpy ÷ nd", "torch ÷ nd", "nd ÷ copy", "targets"]
ROW = re.compile(r"^(.*?\S)\s{2,}(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$")


def to_rst(output: str, intro: str) -> str:
    lines = [line for line in output.rstrip().splitlines() if not line.startswith(("real", "user", "sys"))]
    while lines and not lines[-1].strip():
        lines.pop()
    header = next(i for i, line in enumerate(lines) if line.startswith("case "))
    rows = []
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        cells = [cell or "" for cell in ROW.match(line.rstrip()).groups()]  # a reference row has no verdict
        cells[0] = cells[0].replace("*", "\\*")
        verdict = cells[8]
        cells[8] = "**FAIL**" if verdict.startswith("FAIL") else "**PASS**" if verdict.startswith("PASS") else verdict
        rows.append(cells)
    out = [intro.strip(), "", ".. list-table::", "   :header-rows: 1", "   :class: perf-table", ""]
    for cells in [HEADS, *rows]:
        out.append("   * - " + cells[0])
        out.extend(f"     - {cell}".rstrip() for cell in cells[1:])
    out += [
        "",
        "Times in ms, except rows marked [µs]; nd is numbadrop. The full output of the run (it names the",
        "failed targets):",
        "",
        ".. code-block:: text",
        "",
    ]
    for line in lines:
        if line.strip() and set(line.strip()) == {"-"}:
            line = "-" * len(lines[header])
        out.append(("   " + line).rstrip())
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="a file holding compare.py's output")
    parser.add_argument("--intro", required=True, help="the paragraph above the table: date, commit, machine, load")
    args = parser.parse_args(argv)
    print(to_rst(args.output.read_text(), args.intro), end="")


if __name__ == "__main__":
    main()
