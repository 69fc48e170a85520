"""cvp report: one self-contained HTML page; strings from files are escaped; it renders."""

import base64
import re
import subprocess
import tempfile

import pytest

from cvp_testing import GOLDEN, chromium_path, run_cvp


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    proc = run_cvp("report", GOLDEN / "runner", GOLDEN / "workstation", GOLDEN / "hostile",
                   "-o", folder / "report.html")
    assert proc.returncode == 0, proc.stderr
    return folder / "report.html"


def test_report_is_self_contained(report_page):
    page = report_page.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert len(page) > 50_000
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page
    assert "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz" in page
    assert "Parallelism helps compute-bound work" in page  # verdict lines
    # every speedup names its baseline and that baseline's absolute time
    assert "matmul/n:512/mode:serial/backend:tbb/threads:1 (53.8 ms)" in page


def test_hostile_strings_are_escaped(report_page):
    page = report_page.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;commit&lt;/b&gt;" in page
    assert "</td></tr></table>" not in page.split("Evil")[1][:60]


def test_report_renders_in_headless_chromium(report_page, tmp_path):
    browser = chromium_path()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    shot = tmp_path / "out.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp()}",
           f"--screenshot={shot}", "--window-size=1200,1600", report_page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), (proc.returncode, proc.stderr[-2000:])
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert pixels.std() > 0.05  # not blank: text, tables and charts
    assert len({tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[2])}) > 20
