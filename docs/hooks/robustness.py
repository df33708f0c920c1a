"""MkDocs hook: ``robustness.md``, the hard edges and their messages, generated at every
build from ``tests/test_hard_edges.py``, the tests that check them.

For each test: the case (its name and docstring), the inputs it is parametrised over and
the messages it requires (the ``match=`` patterns of ``pytest.raises`` and the strings it
asserts are in the command's output). A case without a test cannot appear here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.structure.files import File

PAGE = "robustness.md"
TESTS = Path(__file__).resolve().parents[2] / "tests" / "test_hard_edges.py"


def on_files(files, config):
    """Add the generated page (replacing any file of the same name)."""
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=render()))
    return files


def _messages(node: ast.FunctionDef) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            for kw in sub.keywords:
                if kw.arg == "match" and isinstance(kw.value, ast.Constant):
                    found.append(f"`{kw.value.value}` (pattern)")
        if isinstance(sub, ast.Compare) and any(isinstance(o, ast.In) for o in sub.ops):
            left = sub.left
            if isinstance(left, ast.Constant) and isinstance(left.value, str):
                found.append(f"`{left.value}`")
            elif isinstance(left, ast.JoinedStr):  # f"... {name} ...": the name shown
                found.append("`" + "".join(
                    part.value if isinstance(part, ast.Constant)
                    else "{" + ast.unparse(part.value) + "}" for part in left.values) + "`")
    return list(dict.fromkeys(found))


def _parameters(node: ast.FunctionDef) -> list[str]:
    values = []
    for deco in node.decorator_list:
        if (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize"
                and len(deco.args) >= 2):
            values.append(ast.unparse(deco.args[1]))
    return values


def _slow(node: ast.FunctionDef) -> bool:
    """Marked ``@pytest.mark.slow`` (a real process: the slow suite, ``make test-slow``)."""
    return any(ast.unparse(d).endswith("mark.slow") for d in node.decorator_list)


def render() -> str:
    tree = ast.parse(TESTS.read_text(encoding="utf-8"))
    intro = ast.get_docstring(tree) or ""
    lines = [
        "# Robustness: bad input and hard edges",
        "",
        "Generated from `tests/test_hard_edges.py` each time the site is built: every case",
        "below is a test of the default suite (or, marked *slow suite*, of `make test-slow`),",
        "and the messages are the ones the tests require (a pattern is a regular",
        "expression).",
        "",
        " ".join(intro.split()),
        "",
        "| case | inputs | message |",
        "|---|---|---|",
    ]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            case = node.name.removeprefix("test_").replace("_", " ")
            doc = ast.get_docstring(node)
            if doc:
                case += f": {' '.join(doc.split())}"
            if _slow(node):
                case += " *(slow suite)*"
            params = "; ".join(_parameters(node)).replace("|", "\\|") or "–"
            messages = "<br>".join(_messages(node)).replace("|", "\\|") or "–"
            lines.append(f"| {case} | {params} | {messages} |")
    lines += [
        "",
        "Exit codes of `assimilax run` and `assimilax sweep`: 2 for bad input and for a",
        "directory or progress file that cannot be used (nothing changed), 74 when writing",
        "the progress fails in the middle (what was saved before is intact), 130 and 143",
        "after SIGINT and SIGTERM (the progress is saved; the same command resumes). A run",
        "killed with `kill -9` resumes from its last checkpoint too (tests/test_resume.py).",
        "",
    ]
    return "\n".join(lines)
