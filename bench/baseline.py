"""Same-run comparison against the previous design: a checkout of an earlier commit (its own `.venv`, made with
`python3 -m venv .venv && .venv/bin/pip install -e .`), measured in the same run as this one, rounds alternating,
so that whatever else the machine does hits both alike.

    git worktree add --detach ../baseline-13 daa8186
    (cd ../baseline-13 && python3 -m venv .venv && .venv/bin/pip install -q -e .)
    python bench/rail.py --baseline ../baseline-13 --rounds 3
    python bench/load.py --baseline ../baseline-13 --rates 2000 --rounds 3

Used by bench/rail.py (the same benchmark code runs once in each side's Python, importing that side's rail:
RAIL_BENCH_ROOT names the checkout) and bench/load.py (one harness drives each side's `rail serve` in turn).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table


class Side:
    """One design under measurement: its Python (its venv) and its checkout."""

    def __init__(self, name: str, root: Path, python: Path, serve_args: Sequence[str] = ()) -> None:
        self.name = name
        self.root = root
        self.python = python
        self.serve_args = tuple(serve_args)  # options of this side's `rail serve` (bench/load.py)

    @classmethod
    def this(cls, serve_args: Sequence[str] = (), name: str = "this") -> Side:
        return cls(name, Path(__file__).resolve().parents[1], Path(sys.executable), serve_args)

    @classmethod
    def baseline(cls, root: Path) -> Side:
        root = root.resolve()
        python = root / ".venv" / "bin" / "python"
        if not python.exists():
            raise SystemExit(
                f"--baseline {root}: no {python}; make it with "
                f"`cd {root} && python3 -m venv .venv && .venv/bin/pip install -q -e .`"
            )
        return cls("baseline", root, python)

    def rail_serve(self, *args: str) -> list[str]:
        """The command that starts this side's `rail serve` (run it with cwd=self.root)."""
        return [str(self.python), "-m", "rail", "serve", *self.serve_args, *args]


ROOT_ENV = "RAIL_BENCH_ROOT"


def run_script(side: Side, script: Path, args: Sequence[str]) -> dict:
    """Run the benchmark `script` (this checkout's) in `side`'s Python against `side`'s rail (ROOT_ENV); its
    figures are the JSON object on its last line."""
    completed = subprocess.run(
        [str(side.python), str(script), *args],
        cwd=side.root,
        env={**os.environ, ROOT_ENV: str(side.root)},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{side.name} ({side.root}) {script.name} failed:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1])


def medians(runs: list[dict]) -> dict[str, float]:
    """Per numeric figure, the median over rounds."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys}


def compare(this: dict[str, float], baseline: dict[str, float]) -> dict[str, dict[str, float]]:
    """{figure: {this, baseline, ratio}} for the figures both sides have (ratio: this / baseline)."""
    out = {}
    for key in sorted(set(this) & set(baseline)):
        ratio = this[key] / baseline[key] if baseline[key] else float("nan")
        out[key] = {"this": this[key], "baseline": baseline[key], "ratio": round(ratio, 3)}
    return out


def print_comparison(title: str, comparison: dict[str, dict[str, float]], wanted: Sequence[str]) -> None:
    """A table of the `wanted` figures (all when empty), this design against the baseline."""
    table = Table(title=title)
    for column in ("figure", "this", "baseline", "this / baseline"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for key, row in comparison.items():
        if wanted and key not in wanted:
            continue
        table.add_row(key, f"{row['this']:,.2f}", f"{row['baseline']:,.2f}", f"{row['ratio']:.3f}")
    Console().print(table)
