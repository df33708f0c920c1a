"""The worked examples of the documentation run as printed (each page in a fresh process)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
FAST = ["ml/networks.md", "ml/training.md", "ml/emulators.md"]
SLOW = ["methods/iterative_emulation.md", "methods/emulator_4dvar.md", "methods/ienks.md",
        "methods/particle_filter.md", "methods/baselines.md", "design.md"]


def examples(page: str) -> list[str]:
    """The ``python`` blocks of a page that are whole programs (they import)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    return [b for b in blocks if re.search(r"^(import|from) ", b, flags=re.M)]


def run_page(page: str, tmp_path: Path) -> None:
    code = examples(page)
    assert code, f"{page} has no worked example"
    for i, block in enumerate(code):
        out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                             cwd=tmp_path, timeout=1200,
                             env={**os.environ, "MPLBACKEND": "Agg"})
        assert out.returncode == 0, f"{page}, example {i + 1}:\n{out.stderr[-3000:]}"


@pytest.mark.parametrize("page", FAST)
def test_worked_example_runs(page, tmp_path):
    run_page(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW)
def test_method_example_runs(page, tmp_path):
    run_page(page, tmp_path)
