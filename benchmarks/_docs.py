"""Regenerating a benchmark's table in the docs: the block between two markers.

A page holds ``<!-- BEGIN name -->`` and ``<!-- END name -->`` on lines of their own; the
lines between them are replaced by the benchmark's Markdown (``--docs`` of a script).
"""

import datetime
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "docs" / "benchmarks.md", ROOT / "README.md")


def machine() -> str:
    """``N CPU cores (model), no GPU; YYYY-MM-DD``: where and when a table was measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import jax

        device = jax.devices()[0]
        gpu = "no GPU" if device.platform == "cpu" else device.device_kind
    except Exception:  # noqa: BLE001 - a description only
        gpu = "no GPU"
    return f"{cores} CPU cores ({model}), {gpu}; {datetime.date.today().isoformat()}"


def write_block(name: str, markdown: str, pages=PAGES) -> list[Path]:
    """Replace the block ``name`` in every page that has it; returns the pages changed.

    Raises:
        ValueError: no page has the block (the markers are missing).
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    changed = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if begin not in text:
            continue
        head, rest = text.split(begin, 1)
        if end not in rest:
            raise ValueError(f"{page}: {begin} without {end}")
        _, tail = rest.split(end, 1)
        page.write_text(f"{head}{begin}\n{markdown.strip()}\n{end}{tail}", encoding="utf-8")
        changed.append(page)
    if not changed:
        raise ValueError(f"no page holds the block {begin} ... {end}")
    return changed
