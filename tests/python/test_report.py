"""cvp report: one self-contained HTML page; strings from files are escaped; it renders, fits a
1,400 px window, rounds its numbers, shows the evidence and records the commit."""

import base64
import html
import json
import re
import subprocess
import tempfile

import pytest

from cvp_testing import GOLDEN, ROOT, chromium_path, run_cvp
from cvptools import runio, report

AMD = ROOT / "results" / "amd-epyc-zen4-2core"     # real runs: 2 cores
INTEL = ROOT / "results" / "intel-xeon-16core"     # 16 cores, commit recorded


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    proc = run_cvp("report", GOLDEN / "runner", GOLDEN / "workstation", GOLDEN / "hostile",
                   "-o", folder / "report.html")
    assert proc.returncode == 0, proc.stderr
    return folder / "report.html"


@pytest.fixture(scope="module")
def real_page(tmp_path_factory):
    """The report of the two committed real runs (2 and 16 cores) and the hostile input."""
    folder = tmp_path_factory.mktemp("real")
    proc = run_cvp("report", AMD, INTEL, GOLDEN / "hostile", "-o", folder / "report.html")
    assert proc.returncode == 0, proc.stderr
    return folder / "report.html"


def _cells(page):
    """Every results-table cell's text (tags stripped, entities decoded)."""
    tables = re.findall(r"<table class=results>.*?</table>", page, flags=re.S)
    assert tables
    cells = re.findall(r"<td[^>]*>(.*?)</td>", "".join(tables), flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells]


def test_report_is_self_contained(report_page):
    page = report_page.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert len(page) > 50_000
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 5  # the four detailed charts and, for three runs, the runs chart
    assert '<img alt="runs chart"' in page and "<h2>All 3 runs</h2>" in page
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page
    assert "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" in page
    assert "Parallelism helps compute-bound work" in page  # verdict lines
    # every speedup names its baseline (in full on hover) and that baseline's absolute time
    assert ('title="matmul/n:512/mode:serial/backend:tbb/threads:1">serial tbb, 53.8\u00a0ms'
            in page)


def test_hostile_strings_are_escaped(report_page):
    page = report_page.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;commit&lt;/b&gt;" in page
    assert "</td></tr></table>" not in page.split("Evil")[1][:60]
    assert "tbb<i>" not in page and "tbb&lt;i&gt;" in page


def test_numbers_are_rounded(real_page):
    """Bounds were printed as 11.2037; speedups, bounds, efficiencies, cpu/wall, times and
    throughputs now carry the digits that mean something."""
    cells = _cells(real_page.read_text())
    assert not [c for c in cells if re.search(r"\d\.\d{3,}", c)]
    assert not [c for c in cells if re.search(r"\de[+-]\d", c)]  # no exponent notation
    run = runio.load_run(INTEL)
    odd = next(r for r in run.doc["results"] if r["bound"] != round(r["bound"], 2))
    assert report.ratio(odd["bound"]) in cells
    assert report.ratio(17.930690437506552) == "17.9" and report.ratio(1.98176) == "1.98"
    assert report.sig(12056.3) == "12,056" and report.sig(45.117) == "45.1"
    assert report.sig(0.0123456) == "0.0123"
    assert report.time_ci(0.04758, 0.04561, 0.05122) == "47.6\u00a0ms [45.6,\u00a051.2]"


def test_evidence_columns(real_page):
    page = real_page.read_text()
    for header in ("<th>cpu/wall</th>", "<th>CPUs seen</th>", "<th>pinned</th>"):
        assert header in page
    cells = _cells(page)
    assert "0-15" in cells            # 16 CPUs as one range, not 0,1,2,...,15
    assert "0, 1" in cells and "yes" in cells
    run = runio.load_run(AMD)
    point = next(r for r in run.doc["results"]
                 if r["workload"] == "matmul" and r["params"]["n"] == 1024
                 and r["mode"] == "parallel" and r["backend"] == "threads" and r["threads"] == 2)
    amd_section = page.split("<h2>Results: AMD EPYC")[1].split("<h2>")[0]
    rows = [row for row in re.findall(r"<tr><td>.*?</tr>", amd_section, flags=re.S)
            if row.startswith('<tr><td>parallel</td><td>threads</td><td class="n">2</td>')
            and f'title="{point["speedup"]["baseline"]}"' in row]
    assert len(rows) == 1
    row = rows[0]
    assert ">0, 1<" in row and ">yes<" in row
    assert f">{point['cpu_per_wall']:.2f}<" in row


def test_unpinned_points_are_flagged(tmp_path, runner_summary):
    from cvp_testing import write_json
    runner_summary["results"][3]["evidence"]["pinned"] = False
    run = runio.load_run(write_json(tmp_path / "s.json", runner_summary))
    page = report.build_report([run])
    assert '<td class="warn">NO</td>' in page
    assert "workers were not pinned as intended" in page


def test_commit_is_recorded(real_page, tmp_path):
    page = real_page.read_text()
    assert "80705197f2b6" in page  # tool.git_commit of the 16-core run
    assert json.loads((AMD / "summary.json").read_text())["tool"]["git_commit"] in page  # 2-core
    # A build that could not read its commit says so, in the table and the heading.
    doc = json.loads((AMD / "summary.json").read_text())
    doc["tool"]["git_commit"] = "unknown"
    (tmp_path / "unknown").mkdir()
    (tmp_path / "unknown" / "summary.json").write_text(json.dumps(doc))
    proc = run_cvp("report", tmp_path / "unknown", "-o", tmp_path / "r.html")
    assert proc.returncode == 0, proc.stderr
    unknown = (tmp_path / "r.html").read_text()
    assert "not recorded by this build" in unknown and "commit unknown" in unknown
    assert "not recorded by this build" not in page


def test_run_headings_differ_and_name_no_paths(real_page, tmp_path):
    page = real_page.read_text()
    headings = re.findall(r"<h2>Results: (.*?)</h2>", page)
    assert len(headings) == 3 and len(set(headings)) == 3
    assert str(ROOT) not in page


def _probe_copy(page_path, folder):
    """The page without its CSP and with a script that writes the page's scroll width and
    client width into the DOM after layout (read back through --dump-dom)."""
    text = page_path.read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    probe = ('<script>window.addEventListener("load",function(){var d=document.documentElement;'
             'var w=0;document.querySelectorAll("table,img").forEach(function(t){'
             'w=Math.max(w,t.getBoundingClientRect().right);});'
             'document.body.setAttribute("data-probe",d.scrollWidth+" "+d.clientWidth+" "'
             '+Math.ceil(w));});</script>')
    text = text.replace("</body>", probe + "</body>")
    out = folder / "probe.html"
    out.write_text(text)
    return out


def _chromium(browser, *args):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp()}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("width", [1400])
def test_report_fits_a_1400px_window(real_page, tmp_path, width):
    """The results table was about 2,050 px wide: nothing may scroll sideways at 1,400 px."""
    browser = chromium_path()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    probe = _probe_copy(real_page, tmp_path)
    proc = _chromium(browser, f"--window-size={width},1000", "--virtual-time-budget=5000",
                     "--dump-dom", probe.resolve().as_uri())
    found = re.search(r'data-probe="(\d+) (\d+) (\d+)"', proc.stdout)
    assert found, (proc.returncode, proc.stderr[-2000:])
    scroll, client, rightmost = map(int, found.groups())
    assert client > 1000  # the window really was about 1,400 px wide
    assert scroll <= client, (scroll, client)
    assert rightmost <= client, (rightmost, client)


def test_report_renders_in_headless_chromium(report_page, tmp_path):
    browser = chromium_path()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    shot = tmp_path / "out.png"
    proc = _chromium(browser, f"--screenshot={shot}", "--window-size=1400,1600",
                     report_page.resolve().as_uri())
    assert shot.exists(), (proc.returncode, proc.stderr[-2000:])
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert pixels.std() > 0.05  # not blank: text, tables and charts
    assert len({tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[2])}) > 20
