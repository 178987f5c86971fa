"""The house's rules that a formatter cannot keep: functions short enough to read in one screen, and
imports that go down the layers only (the CLI and its output over the commands over the rest)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONGEST = 60  # lines, signature and docstring included


def functions() -> list[tuple[str, int]]:
    found = []
    for file in sorted((ROOT / "awsaug_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{file.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1))
    return found


def test_the_scan_sees_the_package():
    names = [name for name, _ in functions()]
    assert len(names) > 300 and any(name.endswith(" apply_pairs") for name in names)


def test_no_function_is_longer_than_sixty_lines():
    long = [f"{name} ({lines} lines)" for name, lines in functions() if lines > LONGEST]
    assert not long, "split these: " + ", ".join(long)


UPPER = ("awsaug_cli.cli", "awsaug_cli.rich_output", "awsaug_cli.commands")  # the layers above the library
ABOVE_THE_LIBRARY = {"awsaug_cli/__main__.py", "awsaug_cli/cli.py", "awsaug_cli/rich_output.py"}


def imported_modules(file: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def reaching_up(file: Path) -> list[str]:
    return sorted(name for name in imported_modules(file) if name.startswith(UPPER))


def test_the_import_scan_sees_a_command_importing_the_library_and_the_cli_importing_commands():
    assert any(
        name.startswith("awsaug_cli.search") for name in imported_modules(ROOT / "awsaug_cli/commands/search.py")
    )
    assert reaching_up(ROOT / "awsaug_cli/cli.py")


def test_no_module_below_the_commands_imports_a_command_or_the_cli():
    library = [
        file
        for file in sorted((ROOT / "awsaug_cli").rglob("*.py"))
        if str(file.relative_to(ROOT)) not in ABOVE_THE_LIBRARY and "commands" not in file.relative_to(ROOT).parts
    ]
    assert len(library) > 40
    upward = {str(file.relative_to(ROOT)): reaching_up(file) for file in library if reaching_up(file)}
    assert not upward, f"these reach up a layer: {upward}"
