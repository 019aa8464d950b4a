"""Finding and reading a scenario file, for every command that takes `--scenario` (`rail load`, `rail simulate`,
`rail corridor`): a path, or the name of one shipped with the project. One place, so that a wrong name or a broken
file gets the same clear answer from each: what was asked, what is wrong, and which names are shipped."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path


def shipped(directories: Sequence[Path]) -> list[str]:
    """The names of the scenarios shipped in `directories`."""
    return sorted({p.stem for d in directories for p in d.glob("*.toml")})


def find(name_or_path: str | Path, directories: Sequence[Path]) -> Path:
    """A path as given (it exists, or it names a file: has a suffix), else the first shipped `NAME.toml`."""
    path = Path(name_or_path)
    if path.exists() or path.suffix:
        return path
    for directory in directories:
        candidate = directory / f"{path.name}.toml"
        if candidate.exists():
            return candidate
    raise _not_found(name_or_path, directories)


def read(path: Path, directories: Sequence[Path]) -> dict:
    """The file's TOML as a dict; ValueError saying what is wrong (`directories`: where shipped ones live)."""
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise _not_found(path, directories) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"scenario {path} is not valid TOML: {exc}") from None


def _not_found(name_or_path: str | Path, directories: Sequence[Path]) -> ValueError:
    return ValueError(f"scenario not found: {name_or_path} (shipped: {', '.join(shipped(directories))})")
