"""The kernels' instruction set, chosen when the program runs: recorded in the summary and the
console header, forced with CVPBENCH_KERNEL, and refused (exit 2, nothing written) where the CPU
lacks it or the name is unknown."""

import json
import os
from pathlib import Path

import pytest

from e2e_support import SCHEMA, TINY, load_summary, run

jsonschema = pytest.importorskip("jsonschema")

# matmul and triad only: the workloads whose kernels have paths to choose.
ARGS = [*TINY, "--filter", "^(matmul|triad)/"]


def cpu_flags():
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def expected_best(flags):
    if "avx512f" in flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "generic"


def run_with(cvpbench, tmp_path, kernel, name, *extra):
    folder = tmp_path / name
    result = run(cvpbench, [*ARGS, *extra, "--out", str(folder)], cwd=tmp_path,
                 prefix=("env", "-u", "CVPBENCH_KERNEL") if kernel is None
                 else ("env", f"CVPBENCH_KERNEL={kernel}"))
    return folder, result


@pytest.mark.skipif(not cpu_flags(), reason="no /proc/cpuinfo to know what the CPU supports")
def test_unforced_runs_the_widest_path_the_cpu_has(cvpbench, tmp_path):
    folder, result = run_with(cvpbench, tmp_path, None, "best", "--limits", "off")
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    best = expected_best(cpu_flags())
    matmul = {"avx512": "avx512", "avx2": "avx2-fma", "generic": "generic"}[best]
    assert summary["machine"]["kernels"] == {"matmul": matmul, "triad": best}
    header = [line for line in result.stderr.splitlines() if line.startswith("kernels: ")]
    assert header == [f"kernels: matmul {matmul}, triad {best} (the widest this CPU supports; "
                      "CVPBENCH_KERNEL=generic|avx2|avx512 forces one)"]


def test_forced_generic_runs_and_is_recorded(cvpbench, tmp_path):
    folder, result = run_with(cvpbench, tmp_path, "generic", "generic")
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    assert summary["machine"]["kernels"] == {"matmul": "generic", "triad": "generic"}
    assert "kernels: matmul generic, triad generic (forced by CVPBENCH_KERNEL=generic)" \
        in result.stderr
    # Every point verified against the serial answer of the same path.
    assert summary["results"] and not any(r.get("error") for r in summary["results"])
    limits = summary["machine"]["limits"]
    assert ";isa=generic;" in limits["key"]
    assert limits["method"]["flops_per_s"].startswith("generic ")


@pytest.mark.parametrize("value", ["avx9000", "AVX2", "native", " "])
def test_an_unknown_path_is_refused(cvpbench, tmp_path, value):
    folder, result = run_with(cvpbench, tmp_path, value, "refused")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"CVPBENCH_KERNEL={value}: choose generic, avx2 or avx512" in result.stderr
    assert not folder.exists()


@pytest.mark.parametrize("path,flags", [("avx512", {"avx512f"}), ("avx2", {"avx2", "fma"})])
def test_a_path_the_cpu_lacks_is_refused(cvpbench, tmp_path, path, flags):
    have = cpu_flags()
    if not have:
        pytest.skip("no /proc/cpuinfo to know what the CPU supports")
    if flags <= have:
        pytest.skip(f"this CPU has {', '.join(sorted(flags))}: the {path} path runs here")
    folder, result = run_with(cvpbench, tmp_path, path, "refused")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"CVPBENCH_KERNEL={path}: this CPU lacks" in result.stderr
    assert not folder.exists()
