"""`cvp dashboard`: the static site over the results database.

One database of synthetic runs (derived from a real summary, golden/real/) is built per module:
two machines, one planted 10% step, a benchmark with a hostile name and a machine with a
hostile label, and a report URL on one machine's runs. The site must be complete (every link
resolves), self-contained (no URL outside it but the report's), escaped, marked with its change
points in plain HTML, and written or refused safely. Headless Chromium, where installed, renders
the pages with and without JavaScript.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cvp_testing import GOLDEN, assert_clean_error, chromium_path, run_cvp
from cvptools import db as cvpdb

RUNS = 40
BENCHMARKS = 12
STEP_AT = 20
STEPPED = "matmul/n:64/mode:serial/backend:threads/threads:1"
STEADY = "matmul/n:64/mode:parallel/backend:threads/threads:2"
ORIGINAL = "requests/c_us:20/w_us:300/k:1/requests:40/mode:serial/backend:threads/threads:1"
HOSTILE = "requests/<script>alert(1)</script>&x=\"q'/mode:serial/backend:threads/threads:1"
LABEL = "<i>lab \"A\" & co</i>"
REPORT = "https://reports.example.org/cvp/run?id=1&kind=full"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.urls.append((tag, name, value))


def links(path):
    parser = _Links()
    parser.feed(Path(path).read_text())
    return parser.urls


def pages(site):
    return sorted(Path(site).rglob("*.html"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(database, site, {run number: digest}) for the module's synthetic runs."""
    from cvptools import db as cvpdb
    import synthetic
    base = tmp_path_factory.mktemp("dashboard")
    folders = synthetic.generate(base / "runs", runs=RUNS, benchmarks=BENCHMARKS, machines=2,
                                 steps=[synthetic.Step(f"{STEPPED}:{STEP_AT}:1.10")],
                                 noise=0.01, template=GOLDEN / "real" / "summary.json")
    for folder in folders:
        path = Path(folder) / "summary.json"
        doc = json.loads(path.read_text())
        for r in doc["results"]:
            if r["name"] == ORIGINAL:
                r["name"] = HOSTILE
        path.write_text(json.dumps(doc))
    database = base / "results.sqlite"
    # Machine 0 (even runs) gets a hostile label; machine 1's runs a report URL.
    proc = run_cvp("db", "import", "--db", database, "--machine", LABEL, *folders[0::2])
    assert proc.returncode == 0, proc.stderr
    proc = run_cvp("db", "import", "--db", database, "--report-url", REPORT, *folders[1::2])
    assert proc.returncode == 0, proc.stderr
    site = base / "site"
    proc = run_cvp("dashboard", database, "-o", site)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"dashboard: [\d,]+ pages", proc.stdout), proc.stdout
    with cvpdb.open_database(str(database)) as d:
        numbers = {int(re.search(r"run-(\d+)", r["source"]).group(1)): r["digest"]
                   for r in d.runs()}
    return database, site, numbers


def bench_page(site, name):
    from cvptools import dashboard
    return Path(site) / "bench" / dashboard.bench_file(name)


def run_page(site, digest):
    return Path(site) / "runs" / f"{digest[:12]}.html"


def figure(page):
    text = Path(page).read_text()
    found = re.search(r"var fig=(\{.*?\});var el=", text)
    assert found, "no figure in the page"
    return json.loads(found.group(1))


def table(text, cls):
    found = re.search(rf"<table class='{cls}'>(.*?)</table>", text, re.S)
    assert found, f"no table of class {cls}"
    return found.group(1)


# --- content -----------------------------------------------------------------------------------

def test_every_page_exists_and_every_link_resolves(built):
    database, site, numbers = built
    assert (site / "index.html").is_file() and (site / "runs.html").is_file()
    assert len(list((site / "bench").glob("*.html"))) == BENCHMARKS
    assert len(list((site / "runs").glob("*.html"))) == RUNS
    for digest in numbers.values():
        assert run_page(site, digest).is_file()
    checked = 0
    for page in pages(site):
        for tag, attr, url in links(page):
            if url.startswith(("http://", "https://")):
                continue  # the report link; test_no_external_url checks it is the only one
            assert not url.startswith(("/", "file:", "javascript:", "data:")), (page, url)
            target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
            assert target.is_file(), (page.name, url)
            assert site.resolve() in target.parents, (page.name, url)
            checked += 1
    assert checked > 1000


def test_planted_step_is_a_change_point_at_its_run(built):
    database, site, numbers = built
    text = bench_page(site, STEPPED).read_text()
    changes = table(text, "changes")
    rows = re.findall(r"<tr class='rreg'>(.*?)</tr>", changes, re.S)
    assert len(rows) == 2, changes  # one per machine, both regressions
    first_runs = sorted(re.search(r'href="\.\./runs/([0-9a-f]{12})\.html"', row).group(1)
                        for row in rows)
    # Machine 0 runs the even numbers, machine 1 the odd: each machine's first stepped run.
    assert first_runs == sorted([numbers[STEP_AT][:12], numbers[STEP_AT + 1][:12]])
    for row in rows:
        percent = float(re.search(r"([+-]\d+\.\d)%", row).group(1))
        assert 5 < percent < 15, row
    assert "improvement" not in changes
    # The run page names the change that began there, and links back.
    run = run_page(site, numbers[STEP_AT]).read_text()
    assert "Change points that begin at this run" in run
    assert bench_page(site, STEPPED).name in run


def test_a_steady_benchmark_has_no_change_point(built):
    database, site, numbers = built
    text = bench_page(site, STEADY).read_text()
    assert "No change point" in text
    assert "<table class='changes'>" not in text
    assert not figure(bench_page(site, STEADY))["layout"]["shapes"]


def test_chart_traces_marks_and_clicks(built):
    database, site, numbers = built
    fig = figure(bench_page(site, STEPPED))
    machines = [t for t in fig["data"] if t["name"] != "change points"]
    assert len(machines) == 2
    for t in machines:
        assert len(t["x"]) == len(t["y"]) == RUNS // 2
        assert t["error_y"]["array"] and t["error_y"]["arrayminus"]
        assert "commit" in t["hovertemplate"] and "CI" in t["hovertemplate"]
        for custom in t["customdata"]:
            assert (site / "runs" / custom[3]).is_file()
    marks = [t for t in fig["data"] if t["name"] == "change points"]
    assert len(marks) == 1 and len(marks[0]["x"]) == 2
    shapes = fig["layout"]["shapes"]
    assert len(shapes) == 2 and all(s["line"]["color"] == "#b00020" for s in shapes)
    notes = [a["text"] for a in fig["layout"]["annotations"]]
    assert len(notes) == 2 and all(re.search(r"\+\d+\.\d%", n) for n in notes)
    assert "plotly_click" in bench_page(site, STEPPED).read_text()


def test_index_tables_and_matrix(built):
    database, site, numbers = built
    text = (site / "index.html").read_text()
    matrix = table(text, "matrix")
    header = re.search(r"<thead>(.*?)</thead>", matrix, re.S).group(1)
    assert header.count("<th") == 3 + 2  # problem, mode, backend, then one per machine
    assert "per core" in matrix and "×" in matrix
    assert "allowed CPUs" in text  # the caption says what throughput is divided by
    # The summary: a row per workload and mode, a column per machine, each cell naming its point.
    summary = table(text, "matrix-summary")
    header = re.search(r"<thead>(.*?)</thead>", summary, re.S).group(1)
    assert header.count("<th") == 2 + 2  # workload, mode, then one per machine
    with cvpdb.open_database(str(database)) as db:
        latest = db.latest_results()
    kinds = {(r["workload"], r["mode"]) for run in latest.values() for r in run["results"]}
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", summary.split("</thead>")[1], re.S)
    assert len(rows) == len(kinds) > 1
    parallel = next(r for r in rows if ">matmul<" in r and ">parallel<" in r)
    best = max((r for run in latest.values() for r in run["results"]
                if r["workload"] == "matmul" and r["mode"] == "parallel"),
               key=lambda r: (r["speedup"], r["throughput"]))
    assert f"×{best['speedup']:.4g}" in parallel
    bench_rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table(text, "benchmarks"), re.S)
    assert len(bench_rows) == BENCHMARKS + 1
    stepped = next(r for r in bench_rows if bench_page(site, STEPPED).name in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", stepped, re.S)
    assert cells[3:5] == ["2", "2"]  # change points, regressions
    changes = table(text, "changes")
    assert changes.count("rreg") == 2
    assert len(re.findall(r"<tr[^>]*>", table(text, "machines"))) == 3


def test_no_external_url_and_plotly_written_once(built):
    database, site, numbers = built
    scripts = [p for p in site.rglob("*") if p.is_file() and p.suffix == ".js"]
    assert [p.relative_to(site).as_posix() for p in scripts] == ["plotly.min.js"]
    assert scripts[0].read_text().startswith("/**\n* plotly.js")
    report_links = 0
    for page in pages(site):
        text = page.read_text()
        assert "plotly.js v" not in text  # never inlined
        assert len(text) < 500_000, page
        for tag, attr, url in links(page):
            if tag == "script":
                assert url in ("plotly.min.js", "../plotly.min.js"), (page, url)
            if re.match(r"\s*(https?:)?//", url, re.I):
                assert url == REPORT and page.parent.name == "runs", (page, url)
                report_links += 1
        assert "cdn." not in text.lower()
    assert report_links == RUNS // 2


def test_hostile_strings_are_escaped(built):
    database, site, numbers = built
    page = bench_page(site, HOSTILE)
    assert page.is_file()
    assert re.fullmatch(r"[A-Za-z0-9_-]+-[0-9a-f]{10}\.html", page.name)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&amp;x=&quot;q&#x27;"
    for path in (page, site / "index.html", run_page(site, numbers[0])):
        text = path.read_text()
        assert "<script>alert" not in text, path
        assert "<i>lab" not in text, path
    assert escaped in page.read_text() and escaped in (site / "index.html").read_text()
    assert "&lt;i&gt;lab &quot;A&quot; &amp; co&lt;/i&gt;" in (site / "index.html").read_text()
    # In the chart's JSON the label is entity-escaped for plotly, and no '<' survives.
    fig_text = re.search(r"var fig=(\{.*?\});var el=", page.read_text()).group(1)
    assert "<" not in fig_text and ">" not in fig_text
    names = [t["name"] for t in figure(page)["data"]]
    assert "&lt;i&gt;lab \"A\" &amp; co&lt;/i&gt;" in names


def test_report_link_only_for_http_urls():
    from cvptools import dashboard
    assert dashboard._report_link("https://x.example/r?a=1&b=2").startswith(
        '<a href="https://x.example/r?a=1&amp;b=2"')
    for url in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,<b>"):
        text = dashboard._report_link(url)
        assert "<a " not in text and "<b>" not in text


def test_bench_file_names_are_safe_and_unique():
    from cvptools import dashboard
    names = ["a/b", "a-b", "a_b", "A/B", "../../etc/passwd", ".hidden", "/", "", "x" * 500,
             "mode:serial/\u00e9", "<script>"]
    files = [dashboard.bench_file(n) for n in names]
    assert len(set(f.lower() for f in files)) == len(names)
    for f in files:
        assert re.fullmatch(r"[A-Za-z0-9_-]+-[0-9a-f]{10}\.html", f), f
        assert len(f) < 100


def test_max_points_cuts_the_chart_not_the_change_points(built, tmp_path):
    from cvptools import dashboard
    from cvptools import db as cvpdb
    database, site, numbers = built
    out = tmp_path / "site"
    with cvpdb.open_database(str(database)) as d:
        written = dashboard.build(d, str(out), options=dashboard.Options(max_points=8))
    assert "pages" in written
    page = bench_page(out, STEPPED)
    text = page.read_text()
    assert "draws the last 8 runs of each machine" in text
    assert all(len(t["x"]) <= 8 for t in figure(page)["data"])
    assert table(text, "changes").count("rreg") == 2  # found on the whole series


# --- writing safely ----------------------------------------------------------------------------

def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(folder).rglob("*"))}


def _no_temporaries(parent):
    return not [p for p in Path(parent).iterdir() if p.name.startswith(".cvp-dashboard-")]


def test_refuses_a_folder_that_is_not_a_dashboard(built, tmp_path):
    database, site, numbers = built
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = _snapshot(out)
    proc = run_cvp("dashboard", database, "-o", out, "--force")
    assert_clean_error(proc, "not a dashboard")
    assert _snapshot(out) == before
    proc = run_cvp("dashboard", database, "-o", out)
    assert_clean_error(proc, "not a dashboard")
    assert _snapshot(out) == before
    (tmp_path / "file").write_text("x")
    assert_clean_error(run_cvp("dashboard", database, "-o", tmp_path / "file", "--force"),
                       "not a folder")
    assert _no_temporaries(tmp_path)


def test_refuses_a_symlink(built, tmp_path):
    database, site, numbers = built
    real = tmp_path / "real"
    shutil.copytree(site, real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = _snapshot(real)
    for out in (link, str(link) + "/"):
        proc = run_cvp("dashboard", database, "-o", out, "--force")
        assert_clean_error(proc, "symbolic link")
    assert link.is_symlink() and _snapshot(real) == before
    assert _no_temporaries(tmp_path)


def test_rebuild_needs_force(built, tmp_path):
    database, site, numbers = built
    out = tmp_path / "site"
    assert run_cvp("dashboard", database, "-o", out).returncode == 0
    # A page an older build wrote (for a benchmark since gone), listed in its marker.
    (out / "bench" / "stale.html").write_text("from an older build")
    with open(out / ".cvp-dashboard", "a") as f:
        f.write("bench/stale.html\n")
    proc = run_cvp("dashboard", database, "-o", out)
    assert_clean_error(proc, "--force")
    assert (out / "bench" / "stale.html").exists()
    proc = run_cvp("dashboard", database, "-o", out, "--force", "--metric", "speedup")
    assert proc.returncode == 0, proc.stderr
    assert not (out / "bench" / "stale.html").exists()  # what a dashboard wrote is replaced
    assert "speedup over serial" in bench_page(out, STEPPED).read_text()
    assert (out / ".cvp-dashboard").is_file()
    assert _no_temporaries(tmp_path)


def test_a_failed_build_leaves_the_old_site(built, tmp_path, monkeypatch):
    from cvptools import dashboard
    from cvptools import db as cvpdb
    database, site, numbers = built
    out = tmp_path / "site"
    with cvpdb.open_database(str(database)) as d:
        dashboard.build(d, str(out))
        before = _snapshot(out)

        def broken(self, *args):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(dashboard._Site, "_run_page", broken)
        with pytest.raises(dashboard.CvpError, match="left as it is"):
            dashboard.build(d, str(out), force=True)
        assert _snapshot(out) == before
        with pytest.raises(dashboard.CvpError):
            dashboard.build(d, str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()
    assert _no_temporaries(tmp_path)


# --- in a browser ------------------------------------------------------------------------------

def _chromium(browser, *args, javascript=True):
    """Headless Chromium on a fresh profile. Without JavaScript the profile's content setting
    blocks the page's scripts: --blink-settings=scriptEnabled=false also blocks what
    --dump-dom and --screenshot run, and they print nothing."""
    profile = tempfile.mkdtemp()
    if not javascript:
        os.makedirs(os.path.join(profile, "Default"))
        with open(os.path.join(profile, "Default", "Preferences"), "w") as f:
            json.dump({"profile": {"default_content_setting_values": {"javascript": 2}}}, f)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--window-size=1400,1000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console_errors(stderr):
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|Refused|Error|ERROR:CONSOLE", line)]


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.mark.parametrize("which", ["index", "bench"])
def test_pages_render_in_chromium(built, browser, tmp_path, which):
    database, site, numbers = built
    page = site / "index.html" if which == "index" else bench_page(site, STEPPED)
    shot = tmp_path / f"{which}.png"
    proc = _chromium(browser, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                     f"--screenshot={shot}", page.resolve().as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    assert not _console_errors(proc.stderr), _console_errors(proc.stderr)
    import matplotlib.image
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 900 and pixels.shape[1] >= 1300
    assert pixels.std() > 0.05
    dom = _chromium(browser, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                    "--dump-dom", page.resolve().as_uri())
    assert not _console_errors(dom.stderr), _console_errors(dom.stderr)
    if which == "bench":
        assert "main-svg" in dom.stdout  # plotly drew the chart
        assert not re.search(r'id="chart"[^>]*>plotly.min.js did not load', dom.stdout)
        assert dom.stdout.count("scatterlayer") >= 1 and "+1" in dom.stdout


@pytest.mark.parametrize("which", ["index", "bench", "run"])
def test_tables_read_with_javascript_off(built, browser, which, tmp_path):
    database, site, numbers = built
    page = {"index": site / "index.html", "bench": bench_page(site, STEPPED),
            "run": run_page(site, numbers[STEP_AT])}[which]
    proc = _chromium(browser, "--virtual-time-budget=3000", "--dump-dom",
                     page.resolve().as_uri(), javascript=False)
    dom = proc.stdout
    assert "</table>" in dom, proc.stderr[-2000:]
    assert "main-svg" not in dom and 'class="drawn"' not in dom  # no script ran
    shot = tmp_path / f"{which}-nojs.png"
    _chromium(browser, f"--screenshot={shot}", page.resolve().as_uri(), javascript=False)
    assert shot.exists()
    if which == "index":
        assert "<table class=\"matrix\">" in dom and "per core" in dom
        assert dom.count("regression") >= 2 and "Benchmarks" in dom
    elif which == "bench":
        assert "The chart needs JavaScript" in dom
        assert numbers[STEP_AT][:12] in table(dom.replace('"', "'"), "changes")
        assert "Latest runs" in dom
    else:
        assert numbers[STEP_AT] in dom and "Results" in dom
        assert dom.count("../bench/") >= BENCHMARKS
