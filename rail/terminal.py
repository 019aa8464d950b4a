"""Terminal output shared by the commands: one way to make a rich Console, one way to show progress.

On a terminal rich wraps at the terminal's width. Elsewhere (a pipe, a CI log, a file) it would wrap at 80
columns, cutting paths, URLs and progress lines in two, so there lines are never wrapped and tables take
their natural width.
"""

from __future__ import annotations

from typing import Any, Self

from rich.console import Console, RenderableType
from rich.live import Live

# Wide enough for any table the commands print; only a bound for rich's layout, not a line length.
PIPED_WIDTH = 10_000


def console(*, stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


class LiveProgress:
    """Progress of long work: a live view with rich on a terminal; elsewhere (CI logs, pipes) the banner, then a
    plain line now and then. Subclasses say what the view is (`render`) and when a plain line is due (`plain`)."""

    def __init__(self, banner: str) -> None:
        self.banner = banner
        self.console = console(stderr=True)
        self.live: Live | None = None

    def render(self, progress: Any | None) -> RenderableType:
        raise NotImplementedError

    def plain(self, progress: Any) -> str | None:
        """The line to print for `progress` when not on a terminal, or None (not due yet)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self.console.is_terminal:
            self.live = Live(self.render(None), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            self.console.print(self.banner, highlight=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def update(self, progress: Any) -> None:
        if self.live is not None:
            self.live.update(self.render(progress))
        elif (line := self.plain(progress)) is not None:
            self.console.print(line, highlight=False)
