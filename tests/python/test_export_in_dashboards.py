"""What dashboards make of cvpbench's files.

github-action-benchmark (GAB) reads its output file with JSON.parse. Tool `googlecpp` maps every
row of `benchmarks` to {name: b.name, value: b.real_time, unit: b.time_unit + "/iter", extra:
"iterations: ...\\ncpu: ...\\nthreads: ..."}; tools `customSmallerIsBetter` and
`customBiggerIsBetter` take an array of {name, unit, value, range?, extra?}. A series on its page
is every entry of one name, and its alert compares the first entry of a name with the previous
commit's. Bencher's adapter `cpp_google` turns every row into the `latency` (ns) of a benchmark
of that name (a later row of the same name replaces an earlier one); its `json` adapter takes
BMF: {benchmark: {measure slug: {value, lower_value?, upper_value?}}}.

The equivalents below are written from those rules (not copied) and run on real output of the
program: the committed fixture in golden/real/ (golden/real/generate.py regenerates it) and, when
cvpbench is built, a fresh run. Every document is parsed strictly twice: by Python with NaN and
Infinity refused, and by node's JSON.parse when node is installed.
"""

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, ROOT, assert_clean_error, run_cvp, write_json
from cvptools import export, runio

REAL = GOLDEN / "real"
AGGREGATES = ("mean", "median", "stddev", "cv")
TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
RANGE = re.compile(r"^\+(\S+) / -(\S+)$")
NODE = shutil.which("node")


# --- strict parsing and the dashboards' readers ------------------------------------------------

def strict_loads(text):
    """json.loads that refuses NaN, Infinity and -Infinity, as JSON.parse and serde_json do."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def gab_googlecpp(text):
    """github-action-benchmark's `googlecpp` extraction: one entry per row of `benchmarks`."""
    doc = strict_loads(text)
    return [{"name": b["name"], "value": b["real_time"], "unit": b["time_unit"] + "/iter",
             "extra": f"iterations: {b['iterations']}\ncpu: {b['cpu_time']} {b['time_unit']}\n"
                      f"threads: {b['threads']}"}
            for b in doc["benchmarks"]]


def bencher_cpp_google(text):
    """Bencher's `cpp_google` adapter: {name: latency in ns}, a later row replacing an earlier."""
    to_ns = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    out = {}
    for b in strict_loads(text)["benchmarks"]:
        out[b["name"]] = b["real_time"] * to_ns[b["time_unit"]]
    return out


def gab_series(entries):
    """Entries by name: what GAB draws as one chart and what its alert looks up."""
    series = {}
    for e in entries:
        series.setdefault(e["name"], []).append(e)
    return series


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_gab_custom(text):
    """The custom formats as GAB accepts them (and stricter: exact types, finite numbers, unique
    names). Returns the entries; raises ValueError naming the first problem."""
    doc = strict_loads(text)
    if not isinstance(doc, list) or not doc:
        raise ValueError("not a non-empty array")
    names = set()
    for i, e in enumerate(doc):
        if not isinstance(e, dict):
            raise ValueError(f"[{i}] is not an object")
        if set(e) - {"name", "unit", "value", "range", "extra"}:
            raise ValueError(f"[{i}] has unknown keys {sorted(set(e) - {'name', 'unit', 'value'})}")
        for key in ("name", "unit"):
            if not isinstance(e.get(key), str) or not e[key]:
                raise ValueError(f"[{i}] has no {key} string")
        if not _is_number(e.get("value")):
            raise ValueError(f"[{i}] {e['name']}: value {e.get('value')!r} is not a finite number")
        for key in ("range", "extra"):
            if key in e and not isinstance(e[key], str):
                raise ValueError(f"[{i}] {e['name']}: {key} is not a string")
        if e["name"] in names:
            raise ValueError(f"[{i}] {e['name']}: a second entry of this name")
        names.add(e["name"])
    return doc


def check_bmf(text):
    """Bencher Metric Format: benchmark name (1..1024 characters) -> measure slug (at most 64)
    -> {value, lower_value?, upper_value?}, finite numbers, lower <= upper."""
    doc = strict_loads(text)
    if not isinstance(doc, dict) or not doc:
        raise ValueError("not a non-empty object")
    for name, measures in doc.items():
        if not 1 <= len(name) <= 1024:
            raise ValueError(f"benchmark name of {len(name)} characters")
        if not isinstance(measures, dict) or not measures:
            raise ValueError(f"{name}: no measures")
        for slug, metric in measures.items():
            if len(slug) > 64 or not SLUG.match(slug):
                raise ValueError(f"{name}: {slug!r} is not a measure slug")
            if not isinstance(metric, dict) or set(metric) - {"value", "lower_value",
                                                              "upper_value"}:
                raise ValueError(f"{name}/{slug}: not a {{value, lower_value, upper_value}}")
            for key in metric:
                if not _is_number(metric[key]):
                    raise ValueError(f"{name}/{slug}: {key} {metric[key]!r} is not a finite number")
            if "value" not in metric:
                raise ValueError(f"{name}/{slug}: no value")
            if ("lower_value" in metric) != ("upper_value" in metric):
                raise ValueError(f"{name}/{slug}: one bound without the other")
            if "lower_value" in metric and metric["lower_value"] > metric["upper_value"]:
                raise ValueError(f"{name}/{slug}: lower_value above upper_value")
    return doc


# The same readers in JavaScript, run by node: JSON.parse is the parser GAB uses.
NODE_READER = r"""
const fs = require('fs');
const [mode, file] = process.argv.slice(1);
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(3); };
const finite = (v) => typeof v === 'number' && Number.isFinite(v);
let out;
if (mode === 'googlecpp') {
  out = doc.benchmarks.map((b) => ({name: b.name, value: b.real_time, unit: b.time_unit + '/iter',
    extra: `iterations: ${b.iterations}\ncpu: ${b.cpu_time} ${b.time_unit}\n` +
           `threads: ${b.threads}`}));
} else if (mode === 'custom') {
  if (!Array.isArray(doc) || doc.length === 0) fail('not a non-empty array');
  for (const e of doc) {
    if (typeof e.name !== 'string' || typeof e.unit !== 'string') fail('name or unit');
    if (!finite(e.value)) fail(e.name + ': value is not a finite number');
    for (const k of ['range', 'extra']) {
      if (k in e && typeof e[k] !== 'string') fail(e.name + ': ' + k + ' is not a string');
    }
  }
  out = doc;
} else if (mode === 'bmf') {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('not an object');
  for (const [name, measures] of Object.entries(doc)) {
    for (const [slug, m] of Object.entries(measures)) {
      if (!finite(m.value)) fail(name + '/' + slug + ': value');
      for (const k of ['lower_value', 'upper_value']) {
        if (k in m && !finite(m[k])) fail(name + '/' + slug + ': ' + k);
      }
    }
  }
  out = doc;
} else {
  fail('unknown mode ' + mode);
}
process.stdout.write(JSON.stringify(out));
"""


def node_read(mode, path):
    """What node's JSON.parse (and the reader above) makes of a file; skips without node."""
    if NODE is None:
        pytest.skip("node is not installed")
    proc = subprocess.run([NODE, "-e", NODE_READER, mode, str(path)], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        raise ValueError(f"node ({mode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


# --- inputs ------------------------------------------------------------------------------------

def _cvpbench():
    """The built program (e2e_support's rule: $CVPBENCH_BIN, else build/release), or None."""
    e2e = str(ROOT / "tests" / "e2e")
    if e2e not in sys.path:
        sys.path.insert(0, e2e)
    from e2e_support import binary_path
    path = binary_path()
    if not path.exists():
        if os.environ.get("CVPBENCH_BIN"):
            pytest.fail(f"CVPBENCH_BIN={path} does not exist")
        return None
    return path


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    """A small real run of the program, when it is built (every mode, backend and workload)."""
    binary = _cvpbench()
    if binary is None:
        pytest.skip("cvpbench is not built (cmake --preset release && cmake --build --preset "
                    "release)")
    from e2e_support import TINY, run
    args = list(TINY)
    args[args.index("--repetitions") + 1] = "3"  # 3 repetitions: repetition rows + aggregates
    folder = tmp_path_factory.mktemp("dash") / "run"
    proc = run(binary, [*args, "--out", str(folder)], cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


@pytest.fixture(params=["fixture", "fresh"])
def real(request):
    """A folder with summary.json and benchmark.json as the program wrote them."""
    if request.param == "fixture":
        return REAL
    return request.getfixturevalue("fresh_run")


def _exports(folder, tmp_path):
    """Run `cvp export` in all three formats as a user would; {format: file}."""
    files = {}
    for fmt in export.FORMATS:
        out = tmp_path / f"{fmt}.json"
        proc = run_cvp("export", folder, "--format", fmt, "-o", out)
        assert proc.returncode == 0, proc.stderr
        files[fmt] = out
    return files


def _results(folder):
    summary = strict_loads((Path(folder) / "summary.json").read_text())
    return {r["name"]: r for r in summary["results"] if not r.get("error")}, summary


def _raw_name(r):
    """The summary's benchmark as Google Benchmark names it (suffix of its timing mode)."""
    return r["name"] + ("/manual_time" if r["kind"] == "io" else "/real_time")


def _expected_series(results):
    """{export entry name: (result, metric)} that each format must carry, exactly once."""
    smaller, bigger = {}, {}
    for name, r in results.items():
        if r["kind"] == "io":
            smaller[f"{name} time per request"] = (r, "per-request")
            for q in export.PERCENTILES:
                smaller[f"{name} latency {q}"] = (r, q)
        else:
            smaller[f"{name} wall time"] = (r, "wall")
        bigger[f"{name} throughput"] = (r, "throughput")
        if r["mode"] != "serial":
            bigger[f"{name} speedup"] = (r, "speedup")
    return smaller, bigger


# --- the raw file: what googlecpp and cpp_google make of it ------------------------------------

def test_raw_file_is_strict_json(real):
    text = (real / "benchmark.json").read_text()
    strict_loads(text)  # raises on a bare NaN or Infinity
    node_read("googlecpp", real / "benchmark.json")


def test_googlecpp_makes_many_series_per_benchmark(real):
    results, summary = _results(real)
    raw = strict_loads((real / "benchmark.json").read_text())
    # Each benchmark has its own number of repetitions (blocks): at least the configured
    # number, more where disturbed blocks were measured again or a baseline sampled on.
    reps_of = {name: r["repetitions_done"] for name, r in results.items()}
    assert all(n >= summary["config"]["repetitions"] for n in reps_of.values())
    entries = gab_googlecpp((real / "benchmark.json").read_text())
    assert len(entries) == len(raw["benchmarks"]) == sum(n + len(AGGREGATES)
                                                         for n in reps_of.values())
    series = gab_series(entries)
    # One benchmark, 1 + 4 series: its repetitions under one name, each aggregate on its own.
    assert len(series) == len(results) * (1 + len(AGGREGATES))
    for name, r in results.items():
        raw_name = _raw_name(r)
        assert len(series[raw_name]) == reps_of[name]  # GAB's chart: a point per block
        for agg in AGGREGATES:
            assert len(series[f"{raw_name}_{agg}"]) == 1
        # Every unit reads "<time unit>/iter", the coefficient of variation (a fraction) too.
        cv_row = next(b for b in raw["benchmarks"] if b["name"] == f"{raw_name}_cv")
        assert cv_row["aggregate_unit"] == "percentage"
        assert series[f"{raw_name}_cv"][0]["unit"] == cv_row["time_unit"] + "/iter"
        # The median aggregate is the summary's median of whole runs (per iteration).
        median = series[f"{raw_name}_median"][0]
        assert median["value"] * TO_SECONDS[median["unit"][:-len("/iter")]] == \
            pytest.approx(r["wall_s"]["median"], rel=1e-6)
    # `extra` says threads: 1 everywhere (one Google Benchmark thread drives each team) while
    # the teams had more.
    assert all(e["extra"].endswith("\nthreads: 1") for e in entries)
    assert max(r["threads"] for r in results.values()) > 1
    # The request rows time the whole run of params.requests requests, not one request.
    io = [r for r in results.values() if r["kind"] == "io"]
    assert io and all(r["params"]["requests"] > 1 for r in io)
    # The alert compares the first row of a name: a repetition, not the median. Across the
    # benchmarks, the first repetition differs from the median somewhere.
    firsts = [series[_raw_name(r)][0]["value"] for r in results.values()]
    medians = [series[_raw_name(r) + "_median"][0]["value"] for r in results.values()]
    assert firsts != medians


def test_googlecpp_in_node_matches_the_python_equivalent(real):
    path = real / "benchmark.json"
    ours = gab_googlecpp(path.read_text())
    theirs = node_read("googlecpp", path)
    assert [(e["name"], e["value"], e["unit"]) for e in theirs] == \
        [(e["name"], e["value"], e["unit"]) for e in ours]
    assert all(e["extra"].endswith("threads: 1") for e in theirs)


def test_cpp_google_keeps_one_repetition_and_makes_aggregates_latencies(real):
    results, summary = _results(real)
    bencher = bencher_cpp_google((real / "benchmark.json").read_text())
    assert len(bencher) == len(results) * (1 + len(AGGREGATES))
    raw = strict_loads((real / "benchmark.json").read_text())
    for r in results.values():
        rows = [b for b in raw["benchmarks"] if b["name"] == _raw_name(r)]
        assert len(rows) == r["repetitions_done"]
        last = rows[-1]
        assert bencher[_raw_name(r)] == pytest.approx(
            last["real_time"] * TO_SECONDS[last["time_unit"]] * 1e9)
        assert f"{_raw_name(r)}_cv" in bencher  # a fraction, stored as a latency in ns


# --- the exports: one series per benchmark and metric ------------------------------------------

def test_exports_have_one_entry_per_benchmark_and_metric(real, tmp_path):
    results, _ = _results(real)
    files = _exports(real, tmp_path)
    want_smaller, want_bigger = _expected_series(results)

    smaller = check_gab_custom(files["gab-smaller"].read_text())  # names unique
    assert {e["name"] for e in smaller} == set(want_smaller)
    assert len(gab_series(smaller)) == len(smaller) == len(want_smaller)
    for e in smaller:
        r, metric = want_smaller[e["name"]]
        if metric == "wall":
            assert e["unit"] == "ms"
            assert e["value"] == pytest.approx(r["wall_s"]["median"] * 1e3)
        elif metric == "per-request":
            assert e["unit"] == "us"
            assert e["value"] == pytest.approx(
                r["wall_s"]["median"] / r["params"]["requests"] * 1e6)
        else:
            assert e["unit"] == "us" and e["value"] == pytest.approx(r["latency_us"][metric])

    bigger = check_gab_custom(files["gab-bigger"].read_text())
    assert {e["name"] for e in bigger} == set(want_bigger)
    assert len(bigger) == len(want_bigger)
    for e in bigger:
        r, metric = want_bigger[e["name"]]
        if metric == "speedup":
            assert e["unit"] == "x" and e["value"] == pytest.approx(r["speedup"]["value"])
        else:
            assert e["unit"] == r["throughput"]["unit"] == \
                {"cpu": "GFLOP/s", "memory": "GB/s", "io": "requests/s"}[r["kind"]]
            assert f"backend {r['backend']}, {r['threads']} thread" in e["extra"]
            assert f"{r['in_flight']} in flight" in e["extra"]

    bmf = check_bmf(files["bmf"].read_text())
    assert set(bmf) == set(results)
    for name, r in results.items():
        # Bytes are not operations: Bencher gets GB/s as a measure of its own.
        tp = "throughput-gb-s" if r["kind"] == "memory" else "throughput"
        want = {"latency", tp} | ({"speedup", "efficiency", "efficiency-ideal"}
                                  if r["mode"] != "serial" else set())
        if r["kind"] == "io":
            want |= {f"latency-{q}" for q in export.PERCENTILES}
        assert set(bmf[name]) == want, name


def test_units_and_conversions_are_right(real, tmp_path):
    """Throughput recomputed from first principles: matmul does 2 n^3 floating-point operations
    per product, a request run does params.requests requests, a triad pass moves 24 bytes per
    element; Bencher's `throughput` is operations per second (GB/s a measure of its own), its
    `latency` nanoseconds."""
    results, _ = _results(real)
    files = _exports(real, tmp_path)
    bmf = check_bmf(files["bmf"].read_text())
    bigger = {e["name"]: e for e in check_gab_custom(files["gab-bigger"].read_text())}
    for name, r in results.items():
        wall = r["wall_s"]["median"]
        if r["kind"] == "cpu":
            n = r["params"]["n"]
            work = 2.0 * n ** 3
            assert bigger[f"{name} throughput"]["value"] == pytest.approx(work / wall / 1e9,
                                                                        rel=1e-3)
            assert bmf[name]["latency"]["value"] == pytest.approx(wall * 1e9)
        elif r["kind"] == "memory":
            work = 24.0 * r["params"]["n"]
            assert bigger[f"{name} throughput"]["value"] == pytest.approx(work / wall / 1e9,
                                                                        rel=1e-3)
            assert bmf[name]["latency"]["value"] == pytest.approx(wall * 1e9)
            assert bmf[name]["throughput-gb-s"]["value"] == pytest.approx(work / wall / 1e9,
                                                                          rel=1e-3)
            continue
        else:
            work = r["params"]["requests"]
            assert bigger[f"{name} throughput"]["value"] == pytest.approx(work / wall, rel=1e-3)
            assert bmf[name]["latency"]["value"] == pytest.approx(wall / work * 1e9)
            for q in export.PERCENTILES:
                assert bmf[name][f"latency-{q}"]["value"] == pytest.approx(
                    r["latency_us"][q] * 1e3)
        assert bmf[name]["throughput"]["value"] == pytest.approx(work / wall, rel=1e-3)


def test_intervals_are_asymmetric_and_honest(real, tmp_path):
    results, _ = _results(real)
    files = _exports(real, tmp_path)
    bmf = check_bmf(files["bmf"].read_text())
    smaller = check_gab_custom(files["gab-smaller"].read_text())
    for name, r in results.items():
        lo, hi = r["wall_s"]["ci95"]
        per = r["params"]["requests"] if r["kind"] == "io" else 1
        lat = bmf[name]["latency"]
        assert lat["lower_value"] == pytest.approx(lo / per * 1e9)
        assert lat["upper_value"] == pytest.approx(hi / per * 1e9)
        tp = bmf[name]["throughput-gb-s" if r["kind"] == "memory" else "throughput"]
        assert tp["lower_value"] <= tp["value"] <= tp["upper_value"]
        # the throughput's interval is the time's, through work / time
        assert tp["lower_value"] * lat["upper_value"] == pytest.approx(
            tp["value"] * lat["value"], rel=1e-3)
        if "speedup" in bmf[name]:
            assert [bmf[name]["speedup"]["lower_value"], bmf[name]["speedup"]["upper_value"]] == \
                pytest.approx(r["speedup"]["ci95"])
    want_smaller, want_bigger = _expected_series(results)
    entries = smaller + check_gab_custom(files["gab-bigger"].read_text())
    lopsided = 0
    for e in entries:
        r, metric = {**want_smaller, **want_bigger}[e["name"]]
        if metric in export.PERCENTILES:
            assert "range" not in e  # the summary has no interval for a percentile
            continue
        m = RANGE.match(e["range"])
        assert m and "±" not in e["range"] and "+-" not in e["range"], e["range"]
        above, below = float(m.group(1)), float(m.group(2))
        if metric == "speedup":
            lo, hi = r["speedup"]["ci95"]
            assert "95% bootstrap CI" in e["extra"]
        else:
            ci = r["wall_s"]["ci95"]
            if metric == "wall":
                lo, hi = (x * 1e3 for x in ci)
            elif metric == "per-request":
                lo, hi = (x / r["params"]["requests"] * 1e6 for x in ci)
            else:  # throughput: work / time, the bounds swap
                lo, hi = (e["value"] * r["wall_s"]["median"] / x for x in reversed(ci))
            # named with its real coverage (75% for 3 repetitions), not called 95%
            assert f"{r['wall_s']['ci_coverage'] * 100:.4g}% CI" in e["extra"]
        assert above == pytest.approx(hi - e["value"], rel=1e-3, abs=1e-12)
        assert below == pytest.approx(e["value"] - lo, rel=1e-3, abs=1e-12)
        lopsided += not math.isclose(above, below, rel_tol=0.05)
    # Somewhere the interval is lopsided: a symmetric "±" would have misstated it.
    assert lopsided > 0


def test_exports_pass_node_json_parse(real, tmp_path):
    files = _exports(real, tmp_path)
    for fmt, mode in (("gab-smaller", "custom"), ("gab-bigger", "custom"), ("bmf", "bmf")):
        assert node_read(mode, files[fmt]) == strict_loads(files[fmt].read_text())


def test_names_are_stable_across_runs(tmp_path):
    """The series names come from the benchmark names alone: a second export of the fixture,
    and the same benchmarks measured again, give the same names."""
    first = export.export([runio.load_run(REAL)], "gab-smaller")
    doc = json.loads((REAL / "summary.json").read_text())
    for r in doc["results"]:  # another run: other times, same benchmarks
        r["wall_s"] = {**r["wall_s"], "median": r["wall_s"]["median"] * 1.1,
                       "ci95": [x * 1.1 for x in r["wall_s"]["ci95"]],
                       "samples": [x * 1.1 for x in r["wall_s"]["samples"]]}
    again = export.export([runio.load_run(write_json(tmp_path / "summary.json", doc))], "gab-smaller")
    assert [e["name"] for e in again] == [e["name"] for e in first]
    assert [e["unit"] for e in again] == [e["unit"] for e in first]
    assert [e["value"] for e in again] != [e["value"] for e in first]


# --- the checks themselves can fail --------------------------------------------------------------

@pytest.mark.parametrize("text, problem", [
    ('[{"name": "a", "unit": "ms", "value": NaN}]', "not JSON"),
    ('[{"name": "a", "unit": "ms", "value": "1"}]', "not a finite number"),
    ('[{"name": "a", "value": 1}]', "no unit"),
    ('[{"name": "a", "unit": "ms", "value": 1, "range": 2}]', "range is not a string"),
    ('[{"name": "a", "unit": "ms", "value": 1}, {"name": "a", "unit": "ms", "value": 2}]',
     "second entry"),
    ("[]", "non-empty"),
])
def test_gab_check_rejects(text, problem):
    with pytest.raises(ValueError, match=problem):
        check_gab_custom(text)


@pytest.mark.parametrize("text, problem", [
    ('{"b": {"latency": {"value": Infinity}}}', "not JSON"),
    ('{"b": {"Latency Time": {"value": 1}}}', "not a measure slug"),
    ('{"b": {"latency": {"lower_value": 1, "upper_value": 2}}}', "no value"),
    ('{"b": {"latency": {"value": 1, "lower_value": 3, "upper_value": 2}}}', "lower_value above"),
    ('{"b": {"latency": {"value": 1, "lower_value": 0}}}', "one bound"),
    ('{"b": {"latency": {"value": 1, "median": 2}}}', "not a {value"),
    ('{"b": {}}', "no measures"),
])
def test_bmf_check_rejects(text, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_bmf(text)


def test_node_rejects_nan_and_non_numbers(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"context": {}, "benchmarks": [{"name": "x", "real_time": NaN}]}')
    with pytest.raises(ValueError, match="node"):
        node_read("googlecpp", bad)
    bad.write_text('[{"name": "x", "unit": "ms", "value": "12"}]')
    with pytest.raises(ValueError, match="not a finite number"):
        node_read("custom", bad)


def test_raw_file_with_a_bare_nan_is_refused_whole(tmp_path):
    """Why the program must write strict JSON: one NaN and neither reader gets anything."""
    text = (REAL / "benchmark.json").read_text()
    broken = tmp_path / "benchmark.json"
    broken.write_text(re.sub(r'("real_time": )[0-9.eE+-]+', r"\1NaN", text, count=1))
    with pytest.raises(ValueError):
        gab_googlecpp(broken.read_text())
    with pytest.raises(ValueError):
        node_read("googlecpp", broken)


# --- refusals ------------------------------------------------------------------------------------

def test_export_refuses_a_value_that_is_not_finite(tmp_path):
    doc = copy.deepcopy(json.loads((REAL / "summary.json").read_text()))
    r = doc["results"][0]
    r["wall_s"] = {**r["wall_s"], "median": 1e305, "ci95": [1e305, 1e305], "samples": [1e305]}
    folder = tmp_path / "huge"
    write_json(folder / "summary.json", doc)
    proc = run_cvp("export", folder, "--format", "bmf", "-o", tmp_path / "out.json")
    assert_clean_error(proc, "not a finite number")  # 1e305 s is inf ns
    assert not (tmp_path / "out.json").exists()
    assert run_cvp("export", folder, "--format", "gab-smaller").returncode == 0  # 1e308 ms


def test_export_refuses_raw_benchmark_json():
    proc = run_cvp("export", REAL / "benchmark.json", "--format", "gab-smaller")
    assert_clean_error(proc, "raw Google Benchmark JSON")
