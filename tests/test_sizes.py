"""Small modules with one job: no file in rail/ over FILE_LINES_MAX lines, no function over FUNCTION_LINES_MAX
lines, except those listed below, each with the reason it is kept whole (and a comment at the function saying so).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILE_LINES_MAX = 700
FUNCTION_LINES_MAX = 70
PACKAGES = ("rail", "participants", "analytics")

# path -> why it is one file
LONG_FILES: dict[str, str] = {}
# "path:function" -> why it is one function (the function carries the same reason in a comment)
LONG_FUNCTIONS: dict[str, str] = {
    "rail/settlement/ledger.py:_apply": "TigerBeetle's validation order in one frame, on the ledger's hot path",
    "rail/settlement/ledger.py:_post_or_void": "the same for posting and voiding a reservation",
    "rail/api/metrics.py:__init__": "one declaration per metric",
    "participants/harness.py:_result": "the run summary field by field",
    "analytics/run_report.py:_throughput_section": "one section of the report page, in page order",
    "analytics/run_report.py:_outcomes_section": "one section of the report page, in page order",
    "analytics/run_report.py:_liquidity_section": "one section of the report page, in page order",
    "analytics/run_report.py:_remittance_section": "one section of the report page, in page order",
}


def _python_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_no_file_in_rail_is_longer_than_the_limit():
    long = {}
    for path in _python_files("rail"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        name = str(path.relative_to(REPO))
        if lines > FILE_LINES_MAX and name not in LONG_FILES:
            long[name] = lines
    assert not long, f"files over {FILE_LINES_MAX} lines (split by job, or list with a reason): {long}"
    for name in LONG_FILES:
        assert (REPO / name).exists(), (
            f"{name} is allowed to be long but no longer exists: drop it from the list"
        )


def test_no_function_is_longer_than_the_limit_unless_a_comment_says_why():
    long = {}
    for package in PACKAGES:
        for path in _python_files(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    key = f"{path.relative_to(REPO)}:{node.name}"
                    if lines > FUNCTION_LINES_MAX and key not in LONG_FUNCTIONS:
                        long[key] = lines
    assert not long, f"functions over {FUNCTION_LINES_MAX} lines (split, or list with a reason): {long}"


def test_every_allowed_long_function_says_why_where_it_is():
    for key in LONG_FUNCTIONS:
        path, _, name = key.partition(":")
        source = (REPO / path).read_text(encoding="utf-8")
        tree = ast.parse(source)
        found = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name == name
            and n.end_lineno - n.lineno + 1 > FUNCTION_LINES_MAX
        ]
        assert found, f"{key} is allowed to be long but is not (any more): drop it from the list"
        for node in found:
            body = "\n".join(source.splitlines()[node.lineno - 1 : node.end_lineno])
            assert "long:" in body, f"{key}: say why it is one function in a comment starting 'long:'"
