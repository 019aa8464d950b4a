"""The README's commands are what a newcomer runs, and what CI runs: they must not drift apart."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_gives_exactly_two_commands_demo_and_tests():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("rail demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim_in_a_copy_without_shared_beside_it():
    _, tests = _readme_commands()
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in lines
    # ... after moving into a fresh copy of the checkout (a temporary directory: nothing beside it).
    before = lines[: lines.index(tests)]
    assert 'cd "$copy"' in before and any("mktemp -d" in line for line in before)
    assert any("../shared" in line and "exit 1" in "".join(before[i : i + 3]) for i, line in enumerate(before))


def test_rail_help_lists_every_command():
    from rail.app.cli import COMMANDS

    out = subprocess.run(
        [sys.executable, "-m", "rail", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out


def test_every_command_module_has_configure_and_run():
    import importlib

    from rail.app.cli import COMMANDS

    for name, (module_name, _) in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.configure) and callable(module.run), name
