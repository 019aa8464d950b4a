"""Terminal output shared by the commands: one way to make a rich Console.

On a terminal rich wraps at the terminal's width. Elsewhere (a pipe, a CI log, a file) it would wrap at 80
columns, cutting paths, URLs and progress lines in two, so there lines are never wrapped and tables take
their natural width.
"""

from __future__ import annotations

from rich.console import Console

# Wide enough for any table the commands print; only a bound for rich's layout, not a line length.
PIPED_WIDTH = 10_000


def console(*, stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)
