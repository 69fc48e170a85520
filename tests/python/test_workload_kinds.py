"""Workloads describe themselves: every command reads a result's kind (cpu, memory, io), its unit
of work and rate, and its bound from the file, never from the workload's name, so a user's own
workload of any name is charted, reported, compared, gated and exported like the built-in ones.

Readers are tested on files the program wrote. `golden/plugins/` is a real run,
`cvpbench --quick --out tests/python/golden/plugins`, with matmul (cpu), requests (io) and triad
(memory) rows and every field of the contract: the summary's `workloads`, each result's `kind`,
`group`, `work`, `headline`, `bound_model` and `values`, and the raw context's
`cvpbench_workload_kinds` and `cvpbench_work_units`. Until that folder exists the tests that
need it fail and say how to make it. The older real-run fixtures (`golden/real`) predate those
fields: on them the same readers take their fallback path, which the last tests check.

Changes are planted by editing copies of the real files (scaling the samples of some rows,
renaming a workload as a user would name theirs); nothing here models a whole run."""

import copy
import json
import math
import random
import re

import pytest

from cvp_testing import GOLDEN, assert_clean_error, json_paths, run_cvp, write_json
from cvptools import CvpError, compare, export, gate, runio, plots, report, results

PLUGINS = GOLDEN / "plugins"
REAL = GOLDEN / "real"
GENERATE = "build/release/benchmarks/cvpbench --quick --out tests/python/golden/plugins"
BUILT_IN = {"matmul": "cpu", "requests": "io", "triad": "memory"}
TRIAD = re.compile(r"^triad/n:\d+/mode:(serial|concurrent|parallel)/backend:\w+/threads:\d+$")

_cache = {}


def _doc(name):
    """A fresh copy of golden/plugins/NAME (summary.json or benchmark.json)."""
    if name not in _cache:
        path = PLUGINS / name
        if not path.is_file():
            pytest.fail(f"{path} is missing: it is a real run of the program, made with "
                        f"`{GENERATE}` (matmul, requests and triad rows with every field of "
                        f"the summary schema); these tests need it")
        _cache[name] = json.loads(path.read_text())
    return copy.deepcopy(_cache[name])


def _run(tmp_path, doc, name="summary.json", folder="run"):
    return runio.load_run(write_json(tmp_path / folder / name, doc))


def _live(doc, kind=None):
    return [r for r in doc["results"] if not r.get("error")
            and (kind is None or r["kind"] == kind)]


def _scale(r, factor):
    """A summary result measured `factor` times slower: its times up, its throughput down."""
    wall = r["wall_s"]
    wall["median"] *= factor
    wall["ci95"] = [x * factor for x in wall["ci95"]]
    wall["samples"] = [x * factor for x in wall["samples"]]
    r["cpu_s"] *= factor
    r["throughput"]["value"] /= factor


def _rename(name, old, new):
    if isinstance(name, str) and (name == old or name.startswith(old + "/")):
        return new + name[len(old):]
    return name


def _renamed(doc, old, new):
    """The summary as if workload `old` were a user's workload called `new`."""
    doc = copy.deepcopy(doc)
    for r in doc["results"]:
        if r["workload"] != old:
            continue
        r["workload"] = new
        for key in ("name", "group"):
            r[key] = _rename(r.get(key), old, new)
        r["speedup"]["baseline"] = _rename(r["speedup"]["baseline"], old, new)
    for w in doc.get("workloads", []):
        if w["name"] == old:
            w["name"] = new
    doc["verdicts"] = [new + v[len(old):] if v.startswith(old + " ") or v.startswith(old + "/")
                       else v for v in doc.get("verdicts", [])]
    doc["not_measured"] = [_rename(n, old, new) for n in doc.get("not_measured", [])]
    return doc


def _raw_renamed(raw, old, new):
    raw = copy.deepcopy(raw)
    for b in raw["benchmarks"]:
        for key in ("name", "run_name"):
            if key in b:
                b[key] = _rename(b[key], old, new)
    for key in ("cvpbench_workload_kinds", "cvpbench_work_units"):
        raw["context"][key] = ",".join(_rename(p.split(":")[0], old, new) + ":" +
                                       p.split(":", 1)[1]
                                       for p in raw["context"][key].split(","))
    return raw


# The planted slowdown: larger than the spread of the rows it is planted in (see _stable).
PLANTED = 1.6


def _stable(doc, kind):
    """Names of `kind` rows whose repetitions (3 or more) spread by less than 50%: a 60%
    slowdown separates every B sample from every A sample, the strongest evidence the sample
    size allows (p = 1/C(2n, n) <= 0.05). (The triad's blocks spread by 20 to 60% on a
    shared VM.)"""
    out = []
    for r in _live(doc, kind):
        s = r["wall_s"]["samples"]
        if len(s) >= 3 and min(s) > 0 and max(s) / min(s) < PLANTED * 0.95:
            out.append(r["name"])
    assert out, f"no {kind} row of golden/plugins repeats within 50%; regenerate it on a " \
                f"quieter machine"
    return out


# --- the fixture is what the program writes ----------------------------------------------------

def test_the_real_run_has_every_field():
    """Says plainly when golden/plugins is not the run these tests are written for."""
    doc, raw = _doc("summary.json"), _doc("benchmark.json")
    listed = {w["name"]: w for w in doc["workloads"]}
    assert {n: listed[n]["kind"] for n in BUILT_IN} == BUILT_IN
    assert listed["triad"]["unit"] == {"work": "bytes", "rate": "GB/s", "rate_scale": 1e9}
    for r in _live(doc):
        assert {"kind", "group", "work", "headline", "bound_model", "values"} <= set(r), r["name"]
        assert r["group"].split("/")[0] == r["workload"] and r["name"].startswith(r["group"])
        assert r["kind"] == listed[r["workload"]]["kind"]
        assert r["throughput"]["unit"] == listed[r["workload"]]["unit"]["rate"]
        assert r["work"]["unit"] == listed[r["workload"]]["unit"]["work"]
    triad = _live(doc, "memory")
    assert triad and all(TRIAD.match(r["name"]) for r in triad)
    assert {r["mode"] for r in triad} == {"serial", "concurrent", "parallel"}
    requests = _live(doc, "io")
    assert requests and all(r["work"]["per_execution"] == r["params"]["requests"]
                            for r in requests)
    kinds = dict(p.split(":") for p in raw["context"]["cvpbench_workload_kinds"].split(","))
    units = dict(p.split(":") for p in raw["context"]["cvpbench_work_units"].split(","))
    assert {n: kinds[n] for n in BUILT_IN} == BUILT_IN
    assert {n: units[n] for n in BUILT_IN} == {"matmul": "FLOP", "requests": "requests",
                                                "triad": "bytes"}


def test_the_real_run_reports_its_pairs_and_the_precision_it_reached():
    """Paired sampling to a target: every speedup is the median of its paired ratios, every row
    says what precision it reached, and exactly the rows short of the target are listed."""
    doc = _doc("summary.json")
    target = doc["config"]["precision"]
    assert target > 0 and doc["precision"]["target"] == target
    missed = {m["name"]: m for m in doc["precision"]["missed"]}
    for r in _live(doc):
        p = r["precision"]
        assert p["target"] == target
        if r["mode"] == "serial":
            continue
        assert r["speedup"]["method"] == "paired", r["name"]
        assert r["speedup"]["pairs"] >= doc["config"]["repetitions"], r["name"]
        low, high = r["speedup"]["ci95"]
        assert math.isclose(p["reached"], (high - low) / 2 / r["speedup"]["value"], rel_tol=1e-9)
        assert (r["name"] in missed) == (not p["met"]), r["name"]
        if p["met"]:
            assert p["reached"] <= target
        else:
            assert missed[r["name"]]["why"] == p["missed"] and p["missed"]


def test_the_report_shows_each_rows_precision_and_the_misses(tmp_path):
    out = tmp_path / "report.html"
    proc = run_cvp("report", PLUGINS, "-o", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    doc = _doc("summary.json")
    first = next(r for r in _live(doc) if r["mode"] != "serial")
    assert f"+-{100 * first['precision']['reached']:.1f}%" in page
    missed = doc["precision"]["missed"]
    assert (f"{len(missed)} row(s) missed the precision target" in page) == bool(missed)


# --- the schema and its built-in copy ---------------------------------------------------------

def _validators(monkeypatch):
    """schema_problem with jsonschema (when installed), with the built-in validator over the
    schema file, and with the built-in copy of the schema (runio._FALLBACK_SCHEMA)."""
    def builtin(doc):
        with monkeypatch.context() as m:
            m.setattr(runio, "jsonschema", None)
            return runio.schema_problem(doc)
    return [runio.schema_problem, builtin,
            lambda doc: _fallback(doc, monkeypatch)]


def _fallback(doc, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(runio, "jsonschema", None)
        return runio.schema_problem(doc, runio._FALLBACK_SCHEMA)


def test_the_schema_and_its_copy_accept_the_new_fields(monkeypatch):
    doc = _doc("summary.json")
    for check in _validators(monkeypatch):
        assert check(doc) is None
    old = json.loads((REAL / "summary.json").read_text())  # no new field: still valid
    for check in _validators(monkeypatch):
        assert check(old) is None


def _first(doc, kind):
    return next(i for i, r in enumerate(doc["results"]) if r["kind"] == kind)


BREAKAGES = [
    ("a kind nobody knows", lambda d, i: d["results"][i].update(kind="gpu"),
     "/results/{i}/kind"),
    ("a workload of a kind nobody knows", lambda d, i: d["workloads"][0].update(kind="gpu"),
     "/workloads/0"),
    ("a workload without its unit", lambda d, i: d["workloads"][0].pop("unit"),
     "/workloads/0"),
    ("a rate scale of zero", lambda d, i: d["workloads"][0]["unit"].update(rate_scale=0),
     "/workloads/0/unit"),
    ("negative work", lambda d, i: d["results"][i]["work"].update(per_execution=-1),
     "/results/{i}/work"),
    ("work without its unit", lambda d, i: d["results"][i]["work"].pop("unit"),
     "/results/{i}/work"),
    ("a value that is text", lambda d, i: d["results"][i]["values"].update(x="fast"),
     "/results/{i}/values"),
    ("a headline that is text", lambda d, i: d["results"][i].update(headline="yes"),
     "/results/{i}/headline"),
]


@pytest.mark.parametrize("what, breaks, where", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_schema_and_its_copy_refuse_bad_new_fields(monkeypatch, what, breaks, where):
    doc = _doc("summary.json")
    i = _first(doc, "memory")
    breaks(doc, i)
    for check in _validators(monkeypatch):
        problem = check(doc)
        assert problem and problem.startswith("at " + where.format(i=i)), (what, problem)


# --- kinds and units, from the summary and from the raw context --------------------------------

def test_workloads_come_from_the_files(tmp_path):
    summary = _run(tmp_path, _doc("summary.json"))
    raw = _run(tmp_path, _doc("benchmark.json"), "benchmark.json")
    for run in (summary, raw):
        table = results.workloads(run)
        assert {n: table[n].kind for n in BUILT_IN} == BUILT_IN
        assert all(table[n].declared for n in BUILT_IN)
        triad = table["triad"]
        assert (triad.work_unit, triad.rate_unit, triad.rate_scale) == ("bytes", "GB/s", 1e9)
        assert (table["matmul"].work_unit, table["matmul"].rate_unit) == ("FLOP", "GFLOP/s")
    assert results.workloads(summary)["triad"].bound_model  # the summary words the bound
    kinds = {n: s.kind for n, s in results.samples_by_name(raw).items()}
    assert {k for n, k in kinds.items() if n.startswith("triad/")} == {"memory"}
    assert {k for n, k in kinds.items() if n.startswith("requests/")} == {"io"}


def test_the_raw_context_decides_the_kind(tmp_path):
    """Without the context pairs a triad row is guessed cpu (the fallback); with them it is
    memory, also under a name cvp has never heard of."""
    bare = _doc("benchmark.json")
    del bare["context"]["cvpbench_workload_kinds"]
    del bare["context"]["cvpbench_work_units"]
    kinds = results.samples_by_name(_run(tmp_path, bare, "benchmark.json", "bare"))
    assert {s.kind for n, s in kinds.items() if n.startswith("triad/")} == {"cpu"}
    renamed = _raw_renamed(_doc("benchmark.json"), "triad", "my_stream")
    kinds = results.samples_by_name(_run(tmp_path, renamed, "benchmark.json", "renamed"))
    assert {s.kind for n, s in kinds.items() if n.startswith("my_stream/")} == {"memory"}


# --- compare -------------------------------------------------------------------------------------

def test_compare_aa_of_the_real_run_flags_nothing(tmp_path):
    for name in ("summary.json", "benchmark.json"):
        run = _run(tmp_path, _doc(name), name)
        result = compare.compare_runs(run, run)
        rows = [r for r in result["benchmarks"] if r["kind"] == "memory"]
        assert rows and all(r["name"].startswith("triad/") for r in rows)
        assert all(r["change"] not in ("slower", "faster") for r in result["benchmarks"])
        for r in rows:
            assert (r["unit"], r["work_unit"], r["throughput_unit"]) == \
                ("execution", "bytes", "GB/s"), name
            assert r["ratio"] == pytest.approx(1.0)
        io_rows = [r for r in result["benchmarks"] if r["kind"] == "io"]
        assert io_rows and all(r["unit"] == "request" and r["work_a"] for r in io_rows)


def _subset(doc, names):
    doc = copy.deepcopy(doc)
    doc["results"] = [r for r in doc["results"] if r["name"] in names]
    return doc


@pytest.mark.parametrize("workload, kind", [("triad", "memory"), ("my_kernel", "cpu")])
def test_compare_flags_a_planted_slowdown_both_ways(tmp_path, workload, kind):
    """60% slower samples of a memory workload, and of a cpu workload of a user's own name (the
    real matmul rows renamed), read slower; the other way round, faster; A/A, neither."""
    doc = _doc("summary.json")
    if workload != "triad":
        doc = _renamed(doc, "matmul", workload)
    a = _subset(doc, _stable(doc, kind))
    b = copy.deepcopy(a)
    for r in b["results"]:
        _scale(r, PLANTED)
    run_a, run_b = _run(tmp_path, a, folder="a"), _run(tmp_path, b, folder="b")
    ahead = compare.compare_runs(run_a, run_b, correction="none")
    assert ahead["benchmarks"] and all(r["kind"] == kind and r["unit"] == "execution"
                                       for r in ahead["benchmarks"])
    assert all(r["change"] == "slower" and r["ratio"] == pytest.approx(PLANTED)
               for r in ahead["benchmarks"]), [r["verdict"] for r in ahead["benchmarks"]]
    back = compare.compare_runs(run_b, run_a, correction="none")
    assert all(r["change"] == "faster" for r in back["benchmarks"])
    same = compare.compare_runs(run_a, run_a, correction="none")
    assert not any(r["change"] in ("slower", "faster") for r in same["benchmarks"])
    lines = [line for line in compare.format_table(ahead).splitlines()
             if line.startswith(f"{workload}/")]
    assert len(lines) == len(ahead["benchmarks"])
    assert not any("/req" in line.split(None, 1)[1] for line in lines)  # times per execution


def test_compare_across_machines_reads_each_workloads_own_rate(tmp_path):
    doc = _doc("summary.json")
    other = copy.deepcopy(doc)
    other["machine"]["host"] = "another-host"
    other["machine"]["cpu_model"] = "Another CPU"
    result = compare.compare_runs(_run(tmp_path, doc, folder="a"),
                                  _run(tmp_path, other, folder="b"))
    assert not result["machines"]["same"]
    by_name = {r["name"]: r for r in _live(doc)}
    units = {r["kind"]: r["throughput_unit"] for r in result["benchmarks"]}
    assert units == {"cpu": "GFLOP/s", "memory": "GB/s", "io": "requests/s"}
    for r in result["benchmarks"]:
        assert r["throughput_a"] == pytest.approx(by_name[r["name"]]["throughput"]["value"])
    assert "GB/s" in compare.format_table(result)


def test_compare_of_raw_files_takes_units_from_the_context(tmp_path):
    raw = _doc("benchmark.json")
    slow = copy.deepcopy(raw)
    for row in slow["benchmarks"]:
        if row["name"].startswith("triad/") and row.get("aggregate_name") != "cv":
            row["real_time"] *= 1.2
            row["cpu_time"] *= 1.2
            if "bytes/s" in row:
                row["bytes/s"] /= 1.2
    run_a = _run(tmp_path, raw, "benchmark.json", "a")
    result = compare.compare_runs(run_a, _run(tmp_path, slow, "benchmark.json", "b"))
    rows = {r["name"]: r for r in result["benchmarks"]}
    triad = [r for n, r in rows.items() if n.startswith("triad/")]
    assert triad and all(r["kind"] == "memory" and r["work_unit"] == "bytes" for r in triad)
    assert all(r["ratio"] == pytest.approx(1.2) for r in triad)
    assert all(r["ratio"] == pytest.approx(1.0) for n, r in rows.items()
               if not n.startswith("triad/"))
    measured = compare.measured(run_a)
    for m in measured.values():
        if m.name.startswith("triad/"):
            assert m.throughput_unit == "GB/s"
            # bytes/s over the repetitions, shown in GB/s: the work of one execution over its time
            work = m.throughput_median * 1e9 * m.median_s
            assert work == pytest.approx(next(
                r["work"]["per_execution"] for r in _live(_doc("summary.json"))
                if r["name"] == m.name), rel=0.2)
        elif m.name.startswith("matmul/"):
            assert (m.unit, m.work_unit, m.throughput_unit) == ("execution", "FLOP", "GFLOP/s")


# --- export --------------------------------------------------------------------------------------

def test_export_takes_units_from_the_summary(tmp_path):
    doc = _doc("summary.json")
    runs = [_run(tmp_path, doc)]
    by_name = {r["name"]: r for r in _live(doc)}
    bigger = {e["name"]: e for e in export.export(runs, "gab-bigger")}
    smaller = {e["name"]: e for e in export.export(runs, "gab-smaller")}
    bmf = export.export(runs, "bmf")
    for name, r in by_name.items():
        tp = bigger[f"{name} throughput"]
        assert tp["unit"] == r["throughput"]["unit"]
        assert tp["value"] == pytest.approx(r["throughput"]["value"])
        wall, work = r["wall_s"]["median"], r["work"]["per_execution"]
        if r["kind"] == "memory":
            assert tp["unit"] == "GB/s"  # bigger is better, in GB/s
            assert "throughput" not in bmf[name]  # bytes are not operations
            assert bmf[name]["throughput-gb-s"]["value"] == pytest.approx(work / wall / 1e9,
                                                                          rel=1e-3)
            entry = smaller[f"{name} wall time"]
            assert entry["unit"] == "ms" and entry["value"] == pytest.approx(wall * 1e3)
            assert f"one execution ({int(work):,} bytes)" in entry["extra"]
        elif r["kind"] == "cpu":
            assert bmf[name]["throughput"]["value"] == pytest.approx(work / wall, rel=1e-3)
        else:
            per = smaller[f"{name} time per request"]
            assert per["value"] == pytest.approx(wall / work * 1e6)
            assert bmf[name]["latency"]["value"] == pytest.approx(wall / work * 1e9)
            assert bmf[name]["throughput"]["value"] == pytest.approx(work / wall, rel=1e-3)
        sp = bigger.get(f"{name} speedup")
        if sp is not None:
            assert f"bound {r['bound']:g}" in sp["extra"]
            assert " ".join(r["bound_model"].split()) in sp["extra"]
            assert ("per request" if r["kind"] == "io" else "per execution") in sp["extra"]


def test_a_user_workload_exports_by_its_units_not_its_name(tmp_path):
    doc = _renamed(_renamed(_doc("summary.json"), "triad", "bandwidth"), "matmul", "gemm_mine")
    runs = [_run(tmp_path, doc)]
    bmf = export.export(runs, "bmf")
    units = {e["unit"] for e in export.export(runs, "gab-bigger")
             if e["name"].startswith("bandwidth/") and e["name"].endswith(" throughput")}
    assert units == {"GB/s"}
    for name, measures in bmf.items():
        if name.startswith("bandwidth/"):
            assert "throughput-gb-s" in measures and "throughput" not in measures
        if name.startswith("gemm_mine/"):
            assert "throughput" in measures  # FLOP are operations: FLOP/s
    smaller = export.export(runs, "gab-smaller")
    assert any(e["name"].startswith("gemm_mine/") and "one execution (" in e["extra"]
               for e in smaller)


# --- plots ---------------------------------------------------------------------------------------

def test_headline_has_memory_groups_in_kind_order(tmp_path):
    doc = _doc("summary.json")
    run = _run(tmp_path, doc)
    groups = plots.headline(run)
    kinds = [g["kind"] for g in groups]
    assert "memory" in kinds and kinds == sorted(kinds, key=results.kind_rank)
    triad = [g for g in groups if g["kind"] == "memory"]
    assert {g["workload"] for g in triad} == {"triad"}
    for g in triad:
        assert re.fullmatch(r"triad n=\d+", g["label"])
        assert {"serial", "concurrent", "parallel"} <= set(g["points"])
        assert all(r["threads"] <= r["cores"] for r in g["points"]["parallel"])
    side = [r for r in _live(doc) if r["headline"] is False]
    shown = {r["name"] for g in groups for m in g["points"].values() for r in m}
    assert not shown & {r["name"] for r in side}  # a side sweep stays out of the headline
    fig = plots.build("speedup", [run])
    titles = [ax.get_title() for ax in fig.axes]
    assert any("triad" in t and "(memory-bound)" in t for t in titles)
    ticks = [t.get_text() for ax in fig.axes if "(memory-bound)" in ax.get_title()
             for t in ax.get_xticklabels()]
    assert any("tasks" in t for t in ticks) and any("threads" in t for t in ticks)
    assert not any("K=" in t for t in ticks)


def test_scaling_draws_memory_groups_with_their_bound(tmp_path):
    doc = _doc("summary.json")
    fig = plots.build("scaling", [_run(tmp_path, doc)])
    panels = [ax for ax in fig.axes if "-bound)" in ax.get_title()]
    kinds = [re.search(r"\((\w+)-bound\)", ax.get_title()).group(1) for ax in panels]
    assert "memory" in kinds and "cpu" in kinds
    assert kinds == sorted(kinds, key=results.kind_rank)  # cpu rows first
    for ax in panels:
        labels = ax.get_legend_handles_labels()[1]
        kind = re.search(r"\((\w+)-bound\)", ax.get_title()).group(1)
        heading = ax.get_title().split("\n")[-1]
        rows = [r for r in _live(doc, kind) if r["mode"] == "parallel"
                and heading.startswith(f"{r['workload']}  {plots.params_label(r['params'])} (")]
        assert rows, heading
        own = any(abs(results.attainable_bound(r) - min(r["threads"], max(x["cores"]
                                                                          for x in rows))) > 1e-6
                  for r in rows)
        if own:  # the attainable bound is drawn, in the points' own values
            assert any(label.startswith("attainable bound") for label in labels)
            drawn = {round(y, 9) for line in ax.lines if line.get_linestyle() == "-."
                     for y in line.get_ydata()}
            assert drawn == {round(results.attainable_bound(r), 9) for r in rows
                             if r["speedup"]["value"] > 0}
        else:
            assert any(label.startswith("ideal = attainable bound") for label in labels)
        assert any("Amdahl" in label for label in labels) == (kind == "cpu")


def test_a_user_cpu_workload_of_any_name_is_drawn(tmp_path):
    doc = _renamed(_doc("summary.json"), "matmul", "my_kernel")
    run = _run(tmp_path, doc)
    groups = [g for g in plots.headline(run) if g["workload"] == "my_kernel"]
    assert groups and all(g["kind"] == "cpu" for g in groups)
    assert all(g["verdict_line"] and g["verdict_line"].startswith("my_kernel ") for g in groups)
    fig = plots.build("scaling", [run])
    assert any(ax.get_title().startswith("my_kernel") or "\nmy_kernel" in ax.get_title()
               for ax in fig.axes)
    assert "scaling" in plots.available([run])


def test_the_runs_chart_has_a_row_per_kind(tmp_path):
    doc = _doc("summary.json")
    runs = [_run(tmp_path, doc, folder="a"), _run(tmp_path, doc, folder="b")]
    rows, _ = plots._runs_rows(plots.gather(runs), plots.MAX_ROWS)
    kinds = [k for k, _ in rows]
    assert "memory" in kinds and kinds == sorted(kinds, key=results.kind_rank)


# --- report --------------------------------------------------------------------------------------

def test_report_has_a_section_per_kind_and_the_workloads(tmp_path):
    doc = _doc("summary.json")
    page = report.build_report([_run(tmp_path, doc)])
    headings = re.findall(r"<h4>([^<]+)</h4>", page)
    assert headings == ["CPU-bound", "Memory-bound", "I/O-bound"]
    table = re.search(r"<table class=workloads>.*?</table>", page, flags=re.S).group(0)
    triad = next(w for w in doc["workloads"] if w["name"] == "triad")
    row = next(tr for tr in table.split("<tr>") if "<td>triad</td>" in tr)
    assert "<td>memory</td>" in row and "<td>bytes</td>" in row and "GB/s" in row
    assert report._e(triad["bound_model"]) in row
    memory = page.split("<h4>Memory-bound</h4>")[1].split("</table>")[0]
    assert "triad n=" in memory and "GB/s" in memory
    io_table = page.split("<h4>I/O-bound</h4>")[1].split("</table>")[0]
    if any(r["values"] for r in _live(doc, "io")):
        assert "values (median per execution)" in io_table
        assert any(k in io_table for r in _live(doc, "io") for k in r["values"])


# --- gate ----------------------------------------------------------------------------------------

def _gate_files(tmp_path, doc, slow=None, rounds=6, seed=7, noise=0.003, name="summary.json"):
    """Paired rounds made of the real run: each round's times share a machine drift (what
    pairing removes) and 0.3% noise; the candidate's rows that `slow(row)` names are that factor
    slower."""
    rng = random.Random(seed)
    base, cand = [], []
    for i in range(rounds):
        drift = math.exp(rng.gauss(0, 0.02))
        for side, files in (("base", base), ("cand", cand)):
            d = copy.deepcopy(doc)
            for r in _live(d):
                factor = drift * math.exp(rng.gauss(0, noise))
                if side == "cand" and slow:
                    factor *= slow(r)
                _scale(r, factor)
            files.append(write_json(tmp_path / f"{side}{i}" / name, d))
    return base, cand


def _evaluate(base, cand, **options):
    rounds = lambda files: gate.rounds_from_runs([runio.load_run(f) for f in files])  # noqa: E731
    return gate.evaluate(rounds(base), rounds(cand), gate.GateOptions(**options))


def test_memory_rows_get_the_memory_threshold(tmp_path):
    base, cand = _gate_files(tmp_path, _doc("summary.json"))
    first = _evaluate(base, cand)
    assert first["thresholds"] == {"cpu": 0.03, "memory": 0.10, "io": 0.10}
    by_kind = {}
    for r in first["benchmarks"]:
        by_kind.setdefault(r["kind"], set()).add(r["threshold"])
    assert by_kind == {"cpu": {0.03}, "memory": {0.10}, "io": {0.10}}
    first = _evaluate(base, cand, threshold_memory=0.2, threshold_cpu=0.01)
    assert {r["threshold"] for r in first["benchmarks"] if r["kind"] == "memory"} == {0.2}
    assert {r["threshold"] for r in first["benchmarks"] if r["kind"] == "cpu"} == {0.01}
    assert first["flagged"] == []


def test_a_memory_slowdown_is_judged_by_the_memory_threshold(tmp_path):
    """7% slower triad rows: under the default memory threshold (10%) they are significant but
    not flagged, whatever the cpu threshold; at --threshold-memory 5% they are flagged."""
    doc = _doc("summary.json")
    base, cand = _gate_files(tmp_path, doc, slow=lambda r: 1.07 if r["kind"] == "memory" else 1.0)
    triad = {r["name"] for r in _live(doc, "memory")}
    first = _evaluate(base, cand, threshold_cpu=0.01)
    rows = [r for r in first["benchmarks"] if r["kind"] == "memory"]
    assert rows and all(r["significant"] and not r["flagged"] for r in rows)
    assert first["flagged"] == []
    first = _evaluate(base, cand, threshold_memory=0.05)
    assert set(first["flagged"]) == triad
    assert all(r["ratio"] == pytest.approx(1.07, rel=0.01) for r in first["benchmarks"]
               if r["kind"] == "memory")


def test_gate_cli_threshold_memory(tmp_path):
    doc = _doc("summary.json")
    base, cand = _gate_files(tmp_path, doc, slow=lambda r: 1.07 if r["kind"] == "memory" else 1.0)
    args = ["gate", "--baseline-json", *base, "--candidate-json", *cand]
    proc = run_cvp(*args)
    assert proc.returncode == 0, proc.stderr
    assert "3% (cpu), 10% (memory) or 10% (io)" in proc.stdout
    proc = run_cvp(*args, "--threshold-memory", "5%", "--json", tmp_path / "gate.json")
    assert proc.returncode == 3, proc.stderr  # flagged, not re-measured
    assert "5% (memory)" in proc.stdout and "`memory`" in proc.stdout
    saved = json.loads((tmp_path / "gate.json").read_text())
    assert saved["first"]["thresholds"]["memory"] == 0.05
    assert {r["kind"] for r in saved["first"]["benchmarks"] if r["flagged"]} == {"memory"}
    helped = " ".join(run_cvp("gate", "--help").stdout.split())
    option = helped.split("--threshold-memory THRESHOLD_MEMORY ", 1)[1].split(" --", 1)[0]
    assert "kind memory (default 0.10 = 10%)" in option
    assert_clean_error(run_cvp(*args, "--threshold-memory", "nan"), "not a finite number")


def test_gate_reads_kinds_of_raw_rounds_from_the_context(tmp_path):
    raw = _doc("benchmark.json")
    run = _run(tmp_path, raw, "benchmark.json")
    rounds = gate.rounds_from_runs([run, run])
    first = gate.evaluate(rounds, rounds, gate.GateOptions(threshold_memory=0.3))
    memory = [r for r in first["benchmarks"] if r["name"].startswith("triad/")]
    assert memory and all(r["kind"] == "memory" and r["threshold"] == 0.3 for r in memory)
    assert first["canary"]["name"].startswith("matmul/")
    assert "mode:serial" in first["canary"]["name"]


def test_default_canary_is_the_first_listed_cpu_workload(tmp_path):
    doc = _doc("summary.json")
    assert gate.canary_pattern(_run(tmp_path, doc, folder="plain")) == "matmul/*mode:serial*"
    # a user's cpu workload listed first (its rows last in the file) is the canary
    mine = _renamed(doc, "matmul", "zz_kernel")
    mine["results"] = [r for r in mine["results"] if r["workload"] == "zz_kernel"]
    both = copy.deepcopy(doc)
    both["results"] += mine["results"]
    both["workloads"].insert(0, next(w for w in mine["workloads"] if w["name"] == "zz_kernel"))
    run = _run(tmp_path, both, folder="both")
    assert gate.canary_pattern(run) == "zz_kernel/*mode:serial*"
    rounds = gate.rounds_from_runs([run, run])
    canary = gate.evaluate(rounds, rounds, gate.GateOptions())["canary"]
    assert canary["name"].startswith("zz_kernel/") and "mode:serial" in canary["name"]
    assert canary["chosen"] == "default"
    # --canary still wins
    chosen = gate.evaluate(rounds, rounds, gate.GateOptions(canary="matmul/*mode:serial*"))
    assert chosen["canary"]["name"].startswith("matmul/")
    # a run that lists no cpu workload has no canary to default to: the check is skipped
    none = copy.deepcopy(doc)
    none["workloads"] = [w for w in none["workloads"] if w["kind"] != "cpu"]
    none["results"] = [r for r in none["results"] if r["kind"] != "cpu"]
    run = _run(tmp_path, none, folder="none")
    rounds = gate.rounds_from_runs([run, run])
    first = gate.evaluate(rounds, rounds, gate.GateOptions())
    assert first["canary"] is None
    assert "noise check was skipped" in " ".join(gate.decide(first)[2])


def test_default_canary_of_a_raw_file_follows_its_context(tmp_path):
    raw = _raw_renamed(_doc("benchmark.json"), "matmul", "my_kernel")
    run = _run(tmp_path, raw, "benchmark.json")
    assert gate.canary_pattern(run) == "my_kernel/*mode:serial*"


# --- the fallback: files written before workloads described themselves -----------------------

def test_older_files_fall_back_to_the_built_in_names():
    summary, raw = runio.load_run(REAL / "summary.json"), runio.load_run(REAL / "benchmark.json")
    for run in (summary, raw):
        table = results.workloads(run)
        assert {w.name: (w.kind, w.declared) for w in table.values()} == \
            {"matmul": ("cpu", False), "requests": ("io", False)}
        assert table["matmul"].work_unit == "FLOP" and table["requests"].work_unit == "requests"
        assert gate.canary_pattern(run) == gate.DEFAULT_CANARY
        assert results.first_workload_of_kind(run, "cpu") is None
    units = {m.kind: m.unit for m in compare.measured(raw).values()}
    assert units == {"cpu": "product", "io": "request"}
    units = {m.kind: m.unit for m in compare.measured(summary).values()}
    assert units == {"cpu": "product", "io": "request"}
    assert results.kind_of_name("requests/c_us:1/w_us:2/mode:serial") == "io"
    assert results.kind_of_name("triad/n:8/mode:serial") == "cpu"
    assert results.kind_of_name("triad/n:8/mode:serial", {"triad": "memory"}) == "memory"


def test_older_summaries_keep_their_exports_and_charts():
    run = runio.load_run(REAL / "summary.json")
    smaller = export.export([run], "gab-smaller")
    assert any("wall time of one product" in e["extra"] for e in smaller)
    bigger = export.export([run], "gab-bigger")
    assert any("per product" in e["extra"] for e in bigger if e["name"].endswith("speedup"))
    groups = plots.headline(run)
    assert [g["kind"] for g in groups] == sorted((g["kind"] for g in groups),
                                                 key=results.kind_rank)
    assert all(r["params"].get("crossover") is not True for g in groups
               for m in g["points"].values() for r in m)


def test_kind_order_and_thresholds_of_unknown_kinds():
    assert sorted(["io", "memory", "gpu", "cpu"], key=results.kind_rank) == \
        ["cpu", "memory", "io", "gpu"]
    opts = gate.GateOptions(threshold_cpu=0.03, threshold_io=0.2, threshold_memory=0.15)
    assert [opts.threshold(k) for k in ("cpu", "memory", "io", "gpu")] == [0.03, 0.15, 0.2, 0.03]
    with pytest.raises(CvpError, match="threshold_memory"):
        gate.GateOptions(threshold_memory=float("nan")).validate()


# --- property tests: one value of the real files changed --------------------------------------

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the property tests need Hypothesis
    given = None


def _new_field_paths(doc):
    """Paths into the new fields (workloads, kind, group, work, headline, bound_model, values,
    throughput, the context pairs) of the first rows of each kind."""
    if "results" not in doc:
        return [("context", k) for k in ("cvpbench_workload_kinds", "cvpbench_work_units")] + \
            [p for p in json_paths(doc["benchmarks"][:8], ("benchmarks",)) if len(p) > 1]
    firsts = {}
    for i, r in enumerate(doc["results"]):
        firsts.setdefault(r["kind"], i)
    out = [p for p in json_paths(doc["workloads"], ("workloads",))]
    for i in firsts.values():
        for key in ("kind", "group", "work", "headline", "bound_model", "values", "throughput",
                    "workload", "name"):
            if key in doc["results"][i]:
                out += list(json_paths(doc["results"][i][key], ("results", i, key)))
    return out


def _read_everything(path):
    run = runio.load_run(str(path))
    results.samples_by_name(run)
    results.workloads(run)
    compare.measured(run)
    gate.canary_pattern(run)
    gate.rounds_from_runs([run])
    if run.format == runio.SUMMARY:
        plots.headline(run)
        for fmt in export.FORMATS:
            try:
                export.export([run], fmt)
            except CvpError:
                pass


if given is not None:
    _json = st.recursive(
        st.none() | st.booleans() | st.integers(-2**70, 2**70) |
        st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) |
        st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=20)

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.data())
    def test_new_fields_changed_are_read_or_refused_cleanly(tmp_path, data):
        name = data.draw(st.sampled_from(["summary.json", "benchmark.json"]))
        doc = _doc(name)
        path = data.draw(st.sampled_from(_new_field_paths(doc)))
        node = doc
        for key in path[:-1]:
            node = node[key]
        if data.draw(st.booleans()):
            del node[path[-1]]
        else:
            node[path[-1]] = data.draw(_json)
        target = tmp_path / name
        target.write_text(json.dumps(doc))
        try:
            _read_everything(target)
        except CvpError as e:
            assert str(e) and "\n" not in str(e)
