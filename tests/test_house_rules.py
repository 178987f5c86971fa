"""The house's rules that a formatter cannot keep: functions short enough to read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONGEST = 60  # lines, signature and docstring included


def functions() -> list[tuple[str, int]]:
    found = []
    for folder in ("awsaug_cli", "kernels"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append(
                        (f"{file.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
                    )
    return found


def test_the_scan_sees_the_package():
    names = [name for name, _ in functions()]
    assert len(names) > 300 and any(name.endswith(" apply_pairs") for name in names)


def test_no_function_is_longer_than_sixty_lines():
    long = [f"{name} ({lines} lines)" for name, lines in functions() if lines > LONGEST]
    assert not long, "split these: " + ", ".join(long)
