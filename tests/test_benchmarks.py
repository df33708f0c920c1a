"""Every script of ``benchmarks/`` runs to its table on tiny arguments (slow suite).

The benchmarks call the library's public API; they are not run by the default suite, so
this test keeps an API change from breaking them silently. It checks that each prints its
table, not any speed (speed is measured, not asserted).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

CASES = {
    "bench_filters.py": (["--quick", "--repeat", "1", "--methods", "ETKF", "iEnKS",
                          "--no-dapper"], "cycles/s ours"),
    "bench_var.py": (["--quick", "--repeat", "1", "--no-dapper", "--cases", "3D-Var xB=0.02",
                      "4D-Var classic L=4 xB=0.02"], "3D-Var xB=0.02"),
    "bench_sweep.py": (["--quick", "--seeds", "4", "--cycles", "200", "--processes", "1",
                        "--batch-size", "2", "--repeat", "1"], "vmapped batch against"),
    "bench_training.py": (["--quick", "--samples", "600", "--batch-sizes", "128",
                           "--no-reference", "--steps", "200", "--ensemble-size", "10",
                           "--epochs-first", "2", "--loop-epochs", "2"], "one iteration"),
    "bench_versions.py": (["--before", sys.executable, "--cycles", "300", "--repeat", "2",
                           "--rounds", "1", "--methods", "ETKF", "3D-Var"], "ratio"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs(script, tmp_path):
    args, expected = CASES[script]
    out = subprocess.run([sys.executable, str(BENCH / script), *args,
                          "--json", str(tmp_path / "rows.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert expected in out.stdout, out.stdout[-3000:]
    assert (tmp_path / "rows.json").read_text().strip()
