"""One list of hostile names through every output cvp writes for people: history's Markdown and
terminal text, the gate's Markdown, the exports (as github-action-benchmark renders them in a
comment), compare's terminal table, the HTML report, and the error line.

The names (benchmarks, machines, commits, units, reasons) carry backticks, pipes, new lines,
HTML, Markdown images and links, bare URLs, terminal escape sequences and bidirectional
overrides. The inputs are summaries the program wrote (tests/python/golden/) with their names
replaced. Markdown is rendered with cmark-gfm (GitHub's renderer, tables and autolinks on) and
must hold no link, image or raw HTML, only the tags cvp writes itself, every table row with its
own cells, and every cell showing the name literally (its text.visible form); terminal text must
hold no character that is not printable but the new line, and no more lines than it would with
plain names. Each check is shown to catch the unescaped form too (the tests named *_flag_*).

Also here: the reasons cvpbench gives for the blocks it set aside reach the export and the report
word for word."""

import copy
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, needed_tool, run_cvp, table_cells, write_json
from cvptools import export as cvpexport
from cvptools.text import export_label, export_name, md_code, visible
import synthetic

HOSTILE = [
    "x`](https://evil.example/a) ![i](https://evil.example/i.png)<img src=x onerror=1>|",
    "``` ``[link](https://evil.example/b)",
    "line\n## injected heading\n<script>alert(1)</script>",
    "back\\|slash\\\\|pipes*_[x]_*",
    "cells | extra | cells",
    "<a href=https://evil.example/c>click</a><details open>",
    "esc\x1b[31mred\x1b]8;;https://evil.example/d\x07link\x1b]8;;\x07\rcr\x08bs\x7fdel\x9b2J",
    "bidi\u202eevil\u202c\u202a\u202b\u202d\u2066\u2067\u2068iso\u2069\u200e\u200f\u061c",
    "sep\u2028line\u2029para\u0085nel\ufeffbom\u200bzw\u00a0nbsp\ttab",
    "www.evil.example http://evil.example/e <https://evil.example/f> user@evil.example",
]
MACHINE = "<img src=https://evil.example/m.png>`| x |\n\u202emachine\x1b[2J"
CPU = "![cpu](https://evil.example/cpu.png) [cpu](https://evil.example) |\u2066cpu\x1b[31m"
COMMITS = [h[:12] for h in HOSTILE]  # history shows a commit's first 12 characters
UNIT = "<b>GB</b>/s`|![u](https://evil.example/u)"

# The tags cvp's Markdown may produce; anything else came from a name.
ALLOWED_TAGS = {"h1", "h2", "h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code", "ul",
                "li", "br"}
ALLOWED_REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3",
                       "h4", "p", "ul", "li", "table", "tr", "th", "td", "code", "img", "span",
                       "br", "details", "summary"}


# --- the checks ---------------------------------------------------------------------------------

def render(markdown):
    """HTML from cmark-gfm with GitHub's extensions for comments: tables and autolinks."""
    tool = needed_tool("cmark-gfm")
    return subprocess.run([tool, "-e", "table", "-e", "autolink"], input=markdown,
                          capture_output=True, text=True, check=True, timeout=60).stdout


class _Html(HTMLParser):
    """Tags, attributes, and the text of each body row's cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.rows, self.headings = set(), [], [], 0
        self._cell = None
        self._body = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.headings += tag in ("h1", "h2", "h3", "h4", "h5", "h6")
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "tbody":
            self._body = True
        elif tag == "tr" and self._body:
            self.rows.append([])
        elif tag in ("td", "th") and self._body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_comment(self, data):
        self.tags.add(f"!--{data.strip()}")


def parse_html(text):
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser


def in_cell(text):
    """What a code span in a table cell shows for `text`: text.visible, and a pipe right after
    a backslash as \\u007c (no renderer can show that pair literally in a cell)."""
    return visible(text).replace("\\|", "\\\\u007c")


def unprintable(text):
    """The characters of `text` that are neither printable nor a new line, as U+XXXX."""
    return sorted({f"U+{ord(c):04X}" for c in text if not (c.isprintable() or c == "\n")})


def markdown_problems(markdown, columns, expected, ordered=True):
    """What lets a name act in `markdown` instead of showing: characters that are not
    printable, tags beyond cvp's own once rendered (links, images, raw HTML, headings), a table
    row with other cells than `columns`, body rows other than `expected` ({column: text} per
    row, in order unless ordered=False: the text each cell must show)."""
    problems = []
    if unprintable(markdown):
        problems.append(f"not printable: {unprintable(markdown)}")
    for line in markdown.splitlines():
        if line.startswith("|") and len(table_cells(line)) != columns:
            problems.append(f"a row of {len(table_cells(line))} cells: {line!r}")
    page = parse_html(render(markdown))
    extra = page.tags - ALLOWED_TAGS
    if extra:
        problems.append(f"rendered tags from a name: {sorted(extra)}")
    if page.headings != 1:
        problems.append(f"{page.headings} headings rendered; cvp writes one")
    if len(page.rows) != len(expected):
        problems.append(f"{len(page.rows)} table rows rendered, {len(expected)} expected")
    rows = page.rows
    if not ordered:
        def key(cells):
            return [cells[i] if i < len(cells) else "" for i in sorted(expected[0])]
        rows = sorted(rows, key=key)
        expected = sorted(expected, key=lambda want: [want[i] for i in sorted(want)])
    for row, want in zip(rows, expected):
        if len(row) != columns:
            problems.append(f"a rendered row of {len(row)} cells: {row}")
        for i, text in want.items():
            if i >= len(row) or row[i] != text:
                problems.append(f"cell {i} shows {row[i] if i < len(row) else None!r}, "
                                f"not {text!r}")
    return problems


def terminal_problems(text, lines):
    problems = []
    if unprintable(text):
        problems.append(f"not printable: {unprintable(text)}")
    if len(text.splitlines()) != lines:
        problems.append(f"{len(text.splitlines())} lines, {lines} expected")
    return problems


# --- inputs: summaries the program wrote, renamed ----------------------------------------------

def hostile_doc(doc, names=HOSTILE, cpu=CPU, unit=UNIT, commit=COMMITS[0]):
    """A copy of a summary whose first results are renamed to `names` (after their own names,
    which keep the mode and backend), speedup baselines renamed with them, the CPU model, host
    and commit hostile, and one throughput unit hostile. Returns (doc, {old: new})."""
    doc = copy.deepcopy(doc)
    renamed = {}
    for r, name in zip(doc["results"], names):
        renamed[r["name"]] = f"{r['name']}/{name}"
    for r in doc["results"]:
        r["name"] = renamed.get(r["name"], r["name"])
        sp = r.get("speedup")
        if isinstance(sp, dict) and sp.get("baseline") in renamed:
            sp["baseline"] = renamed[sp["baseline"]]
    doc["machine"]["cpu_model"] = cpu
    doc["machine"]["host"] = MACHINE
    doc["tool"]["git_commit"] = commit
    if unit is not None:
        doc["results"][0]["throughput"]["unit"] = unit
    return doc, renamed


def scaled(doc, factors, rng):
    """`doc` with each result's times multiplied by factors.get(name, 1) and a little noise."""
    doc = copy.deepcopy(doc)
    for r in doc["results"]:
        f = factors.get(r["name"], 1.0) * (1 + rng.gauss(0, 0.005))
        wall = r["wall_s"]
        wall["median"] *= f
        wall["ci95"] = [x * f for x in wall["ci95"]]
        wall["samples"] = [x * f for x in wall.get("samples", [])]
    return doc


REAL = json.loads((GOLDEN / "real" / "summary.json").read_text())


# --- history ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def history_db(tmp_path_factory):
    """A database of synthetic runs of golden/real (its times redrawn), two machines, a 30%
    step in every benchmark (at run 8 + its index, so that the changes begin at many
    commits); the first ten benchmarks renamed to HOSTILE, machine 0 named by a hostile CPU
    model, machine 1 by a hostile --machine, every commit hostile."""
    base = tmp_path_factory.mktemp("history")
    steps = [synthetic.Step(f"^{re.escape(r['name'])}$:{8 + k}:1.5")
             for k, r in enumerate(REAL["results"])]
    folders = synthetic.generate(base / "runs", runs=36, benchmarks=11, machines=2,
                                 steps=steps, noise=0.01,
                                 template=GOLDEN / "real" / "summary.json")
    for i, folder in enumerate(folders):
        path = Path(folder) / "summary.json"
        doc, _ = hostile_doc(json.loads(path.read_text()), unit=None,
                             commit=HOSTILE[i % len(HOSTILE)])
        doc["machine"]["cpu_model"] = CPU if i % 2 == 0 else "plain CPU"
        path.write_text(json.dumps(doc))
    database = base / "results.sqlite"
    assert run_cvp("db", "import", "--db", database, *folders[0::2]).returncode == 0
    proc = run_cvp("db", "import", "--db", database, "--machine", MACHINE, *folders[1::2])
    assert proc.returncode == 0, proc.stderr
    return base, database


def _history_rows(changes):
    """The cells history's Markdown must show, from its --json: per change point, in its
    order (new first, regressions first, then by date)."""
    rows = [(s, c) for s in changes["series"] for c in s["changes"]]
    rows.sort(key=lambda sc: (not sc[1]["new"], not sc[1]["regression"], sc[1]["date"]))
    return [{1: in_cell(s["benchmark"]), 2: in_cell(s["machine"]),
             5: in_cell((c["commit"] or "?")[:12]), 6: in_cell(c["date"])} for s, c in rows]


def test_history_markdown_shows_every_hostile_name_literally(history_db):
    base, database = history_db
    md, js = base / "changes.md", base / "changes.json"
    proc = run_cvp("history", "--db", database, "--regressions", "--markdown", md, "--json", js,
                   "--force")
    assert proc.returncode == 1, proc.stderr  # the step is a new regression
    text, changes = md.read_text(), json.loads(js.read_text())
    expected = _history_rows(changes)
    names = {s["benchmark"] for s in changes["series"] if s["changes"]}
    machines = {s["machine"] for s in changes["series"] if s["changes"]}
    commits = {c["commit"] for s in changes["series"] for c in s["changes"]}
    assert all(any(n.endswith("/" + h) for n in names) for h in HOSTILE)  # each has changes
    assert any(CPU in m for m in machines) and MACHINE in machines
    assert len(commits) >= 5 and len(expected) >= 20
    assert markdown_problems(text, 7, expected) == []
    # The terminal listing of the same regressions: a line each, after the count.
    regressions = sum(c["regression"] for s in changes["series"] for c in s["changes"])
    assert terminal_problems(proc.stdout, 1 + regressions) == []
    for name in HOSTILE:
        assert visible(name) in proc.stdout


def test_history_series_text_keeps_every_run_on_its_line(history_db):
    base, database = history_db
    proc = run_cvp("history", "--db", database, "--json", base / "series.json", "--force")
    assert proc.returncode == 0, proc.stderr
    series = json.loads((base / "series.json").read_text())["series"]
    # Per series: the heading, the column header, a line per run, a line per change point
    # (or "no change point"), and a blank line between series.
    lines = sum(2 + len(s["points"]) + max(1, len(s["changes"])) for s in series) \
        + len(series) - 1
    assert terminal_problems(proc.stdout, lines) == []
    assert visible(MACHINE) in proc.stdout and visible(HOSTILE[6]) in proc.stdout


def _old_history_row(name, machine, commit):
    """The row history wrote before it shared gate's escaper."""
    return (f"| NEW regression | `{name}` | {machine} | +30.0% | x1.290 to x1.310 | "
            f"`{commit[:12]}` | 2026-01-01T12:00:00Z |")


def _history_table(rows):
    return ("### cvpbench change points\n\n1 series of time; 1 change points; "
            "**1 new regression(s)**.\n\n"
            "| | benchmark | machine | change | 95% CI | began at commit | run date |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("name", HOSTILE)
def test_the_markdown_check_flags_the_unescaped_history_row(name):
    """The same check, on the row as history wrote it before, flags every hostile name; on the
    row as it writes it now, nothing."""
    want = [{1: in_cell(name), 2: in_cell(MACHINE), 5: in_cell(name[:12])}]
    old = _history_table([_old_history_row(name, MACHINE, name)])
    assert markdown_problems(old, 7, want) != []
    new = _history_table([f"| NEW regression | {md_code(name, True)} | "
                          f"{md_code(MACHINE, True)} | +30.0% | x1.290 to x1.310 | "
                          f"{md_code(name[:12], True)} | {md_code('2026-01-01T12:00:00Z', True)} |"])
    assert markdown_problems(new, 7, want) == []


@pytest.mark.parametrize("name", HOSTILE[2:3] + HOSTILE[6:9])
def test_the_terminal_check_flags_raw_names(name):
    assert terminal_problems(f"regression: {name} on machine\n", 1) != []
    assert terminal_problems(f"regression: {visible(name)} on machine\n", 1) == []


# --- gate ---------------------------------------------------------------------------------------

def test_gate_markdown_shows_every_hostile_name_literally(tmp_path):
    import random
    rng = random.Random(7)
    doc, renamed = hostile_doc(REAL)
    slow = {renamed[n]: 1.3 for n in list(renamed)[:3]}
    files = {"b": [], "c": [], "rb": [], "rc": []}
    for i in range(6):
        for side, factors in (("b", {}), ("c", slow), ("rb", {}), ("rc", slow)):
            files[side].append(write_json(tmp_path / f"{side}{i}" / "summary.json",
                                          scaled(doc, factors, rng)))
    md, js = tmp_path / "gate.md", tmp_path / "gate.json"
    proc = run_cvp("gate", "--baseline-json", *files["b"], "--candidate-json", *files["c"],
                   "--confirm-baseline-json", *files["rb"], "--confirm-json", *files["rc"],
                   "--markdown", md, "--json", js)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # three regressions, confirmed
    text = md.read_text()
    rows = json.loads(js.read_text())["first"]["benchmarks"]
    expected = [{0: in_cell(r["name"])} for r in rows]
    assert len(expected) == len(REAL["results"])
    assert markdown_problems(text, 7, expected, ordered=False) == []
    assert all(any(r["name"].endswith("/" + h) for r in rows) for h in HOSTILE)
    assert "Canary " + md_code(renamed[REAL["results"][0]["name"]]) in text


# --- export -------------------------------------------------------------------------------------

def gab_comment(entries):
    """github-action-benchmark's pull-request comment for these entries as both the current
    and the previous result (its buildComment: the name between single backticks, the value in
    backticks, the unit as plain text, the range in backticks), unescaped, as it does."""
    def value(b):
        return f"`{b['value']}` {b['unit']}" + (f" (`{b['range']}`)" if b.get("range") else "")
    lines = ["# cvpbench", "", "| Benchmark suite | Current: abc | Previous: def | Ratio |",
             "|-|-|-|-|"]
    lines += [f"| `{b['name']}` | {value(b)} | {value(b)} | `1` |" for b in entries]
    return "\n".join(lines) + "\n"


def _gab_problems(entries):
    expected = [{0: b["name"], 1: f"{b['value']} {b['unit']}"
                 + (f" ({b['range']})" if b.get("range") else "")} for b in entries]
    return markdown_problems(gab_comment(entries), 4, expected)


@pytest.mark.parametrize("fmt", cvpexport.FORMATS)
def test_export_names_and_units_are_inert_where_dashboards_render_them(tmp_path, fmt):
    doc, renamed = hostile_doc(REAL)
    src = write_json(tmp_path / "run" / "summary.json", doc)
    out = tmp_path / "out.json"
    proc = run_cvp("export", src.parent, "--format", fmt, "-o", out)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    names = list(data) if fmt == "bmf" else [b["name"] for b in data]
    for new in renamed.values():  # every hostile name is exported, as export_name writes it
        assert any(n.startswith(export_name(new)) for n in names), new
    for n in names:
        assert not unprintable(n) and "`" not in n and "|" not in n, n
    if fmt == "bmf":
        return
    assert _gab_problems(data) == []
    assert {b["unit"] for b in data} >= {export_label(UNIT)} or fmt == "gab-smaller"
    for b in data:  # extra: two lines of cvp's own, whatever the names hold
        assert not unprintable(b["extra"]) and b["extra"].count("\n") == 1, b["extra"]


@pytest.mark.parametrize("name", HOSTILE)
def test_the_markdown_check_flags_raw_names_in_the_dashboards_comment(name):
    """A name with a lone backtick (it ends the comment's code span), a pipe (it splits the
    row) or a character that is not printable acts in the comment as it is, and the check says
    so; as export_name writes it, nothing does. (HTML, links and URLs without those are inert
    in the code span as they are, and export_name leaves them alone.)"""
    entry = {"name": f"matmul/n:64/{name} wall time", "unit": "ms", "value": 1.5,
             "range": "+0.1 / -0.1"}
    acts = bool(re.search(r"(?<!`)`(?!`)|\|", name)) or visible(name) != name
    assert (_gab_problems([entry]) != []) == acts
    assert _gab_problems([dict(entry, name=export_name(entry["name"]))]) == []
    assert export_name(name) != name or not acts


def test_the_markdown_check_flags_a_raw_unit_in_the_dashboards_comment():
    entry = {"name": "matmul/n:64 throughput", "unit": UNIT, "value": 1.5}
    assert _gab_problems([entry]) != []
    assert _gab_problems([dict(entry, unit=export_label(UNIT))]) == []


# --- compare ------------------------------------------------------------------------------------

def test_compare_table_keeps_every_name_on_its_line(tmp_path):
    import random
    rng = random.Random(3)
    plain_a = write_json(tmp_path / "pa" / "summary.json", REAL)
    plain_b = write_json(tmp_path / "pb" / "summary.json", dict(
        scaled(REAL, {}, rng), machine=dict(REAL["machine"], host="other")))
    plain = run_cvp("compare", plain_a, plain_b)
    assert plain.returncode == 0, plain.stderr
    doc, renamed = hostile_doc(REAL)
    other, _ = hostile_doc(scaled(REAL, {}, rng))
    other["machine"]["host"] = "other" + MACHINE
    a = write_json(tmp_path / "a" / "summary.json", doc)
    b = write_json(tmp_path / "b" / "summary.json", other)
    proc = run_cvp("compare", a, b)
    assert proc.returncode == 0, proc.stderr
    assert "machines differ" in proc.stdout.lower() or "different machines" in proc.stdout
    assert terminal_problems(proc.stdout, len(plain.stdout.splitlines())) == []
    for name in HOSTILE:
        assert visible(name) in proc.stdout
    assert visible(CPU) in proc.stdout


# --- report -------------------------------------------------------------------------------------

def test_report_shows_every_hostile_string_as_text(tmp_path):
    doc, _ = hostile_doc(REAL)
    doc["results"][1]["excluded_samples"] = {"wall_s": [0.01], "reason": HOSTILE[0],
                                             "reasons": [HOSTILE[7]]}
    src = write_json(tmp_path / "run" / "summary.json", doc)
    out = tmp_path / "report.html"
    proc = run_cvp("report", src.parent, "-o", out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page_text = out.read_text()
    page = parse_html(page_text)
    assert page.tags <= ALLOWED_REPORT_TAGS, page.tags - ALLOWED_REPORT_TAGS
    for tag, attr, value in page.attrs:  # names may be in a title, never a link or a handler
        assert not attr.startswith("on"), (tag, attr, value)
        if attr in ("href", "src", "action", "style"):
            assert "evil.example" not in value, (tag, attr, value)
    # cvp's own no-break spaces aside (text.visible keeps them for the report), nothing that
    # is not printable: no control, escape or bidirectional character.
    body = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page_text)
    assert unprintable(body.replace("\u00a0", " ")) == []
    assert visible(HOSTILE[7]) in page_text


# --- the error line -----------------------------------------------------------------------------

def test_an_error_naming_a_hostile_benchmark_stays_one_printable_line(tmp_path):
    doc, renamed = hostile_doc(REAL)
    doc["results"][2]["wall_s"]["median"] = -1.0  # refused by the export, which names the row
    doc["results"][2]["name"] = "matmul/" + HOSTILE[6] + HOSTILE[7] + HOSTILE[2]
    src = write_json(tmp_path / "run" / "summary.json", doc)
    proc = run_cvp("export", src.parent, "--format", "bmf", "-o", tmp_path / "x.json")
    assert proc.returncode == 2, proc.stderr
    assert terminal_problems(proc.stderr, 1) == [] and "Traceback" not in proc.stderr


# --- the reasons blocks were set aside ----------------------------------------------------------

REASONS = {
    "other work": ("other work kept our threads waiting for a CPU",
                   "threads waited 3.52 ms for a CPU beyond their usual 1.01 ms (8.2% of the "
                   "block)"),
    "steal": ("the hypervisor stole CPU time", "the hypervisor stole 10 ms of its CPUs"),
    "stop": ("the process was stopped and resumed",
             "the process was stopped and resumed (SIGSTOP or SIGTSTP, then SIGCONT)"),
    "clock": ("a CPU's clock moved", "a CPU's clock moved from 2600 to 1800 MHz"),
}


def test_the_export_and_the_report_carry_every_reason_as_measured(tmp_path):
    """Each kind of disturbance on a row of its own, and all four on one row (two blocks with
    the same reason counted once, 'x2')."""
    doc = copy.deepcopy(REAL)
    rows = doc["results"]
    prefix = "disturbed blocks, set aside and measured again: "
    for r, (kind, each) in zip(rows, REASONS.values()):
        r["excluded_samples"] = {"wall_s": [r["wall_s"]["median"]], "reason": prefix + kind,
                                 "reasons": [each]}
    every = [each for _, each in REASONS.values()]
    rows[4]["excluded_samples"] = {
        "wall_s": [rows[4]["wall_s"]["median"]] * 5,
        "reason": prefix + "; ".join(kind for kind, _ in REASONS.values()),
        "reasons": every + [every[1]]}
    src = write_json(tmp_path / "run" / "summary.json", doc)
    out = tmp_path / "times.json"
    assert run_cvp("export", src.parent, "--format", "gab-smaller", "-o", out).returncode == 0
    extra = {b["name"]: b["extra"] for b in json.loads(out.read_text())}
    for r in rows[:4]:
        (kind, each), = [(k, e) for k, e in REASONS.values()
                         if r["excluded_samples"]["reasons"] == [e]]
        text = next(v for k, v in extra.items() if k.startswith(r["name"] + " "))
        assert f"1 block set aside ({prefix}{kind}): {each}" in text, text
        assert "process stopped" not in text or kind.startswith("the process")
    text = next(v for k, v in extra.items() if k.startswith(rows[4]["name"] + " "))
    assert f"5 blocks set aside ({rows[4]['excluded_samples']['reason']}): " in text
    for each in every:
        assert each in text
    assert f"{every[1]} (x2)" in text
    report = tmp_path / "report.html"
    proc = run_cvp("report", src.parent, "-o", report, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = report.read_text()
    assert "Blocks set aside" in page
    import html
    for each in every:
        assert html.escape(each) in page


def test_real_runs_reasons_reach_the_export_word_for_word(tmp_path):
    """golden/plugins, as the program wrote it: rows set aside for run delay and for steal."""
    doc = json.loads((GOLDEN / "plugins" / "summary.json").read_text())
    out = tmp_path / "times.json"
    proc = run_cvp("export", GOLDEN / "plugins", "--format", "gab-smaller", "-o", out)
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(out.read_text())
    seen = 0
    for r in doc["results"]:
        excluded = r.get("excluded_samples")
        if not excluded or r.get("error"):
            continue
        text = next(b["extra"] for b in entries if b["name"].startswith(r["name"] + " "))
        assert f"({excluded['reason']})" in text
        for each in excluded["reasons"]:
            assert each in text
        seen += 1
    assert seen >= 10
    assert not any("process stopped" in b["extra"] for b in entries)
