"""A static dashboard site from the results database: it opens from disk, with no network.

    index.html         the machines, the machine matrix (the newest run of each machine side by
                       side), the recent change points (regressions first), every benchmark
    runs.html          every run, newest first
    bench/<name>.html  a benchmark: an interactive trend chart (one trace per machine, change
                       points marked, a click opens the run) above plain tables of its change
                       points and latest runs
    runs/<digest>.html a run: its machine, commit, source, report link and results
    plotly.min.js      plotly.js, once, next to the pages (no CDN: the site must work offline)

Every table is plain HTML, so that the site reads with JavaScript off and in a text browser;
only the charts need JavaScript. Every string from the database is HTML-escaped (a benchmark
name or a machine label is whatever a summary said), and a page links to nothing outside the
site but a run's report, when one was given at import as an http(s) URL.

The site is written into a new temporary folder next to the output, then put in place: a new
output folder is that folder renamed. A dashboard's folder is also the place people publish
from, so it may hold files of their own (a `.git/`, a `CNAME`, a README): the marker file
`.cvp-dashboard` lists every file the dashboard wrote, and `--force` replaces those files and
nothing else. The old files are moved aside, the new ones moved in (never over a file the
dashboard did not write: that is refused before anything moves), and the marker replaced last;
a failure or a stop signal on the way moves everything back. A failed build leaves the previous
site as it was. A folder with files but no marker is not a dashboard's and is refused, with or
without --force; an empty folder is written into.

Change points are found on each whole series (history.analyse_series), one benchmark at a
time, so that memory holds one benchmark's series and one run's results, whatever the size of
the database; a chart draws at most the last `max_points` runs of each machine.
"""

import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from . import CvpError, __version__
from . import history
from . import runio

MARKER = ".cvp-dashboard"
PLOTLY_JS = "plotly.min.js"
_MODE_ORDER = ("serial", "concurrent", "parallel", "distributed")
_NB = "\u00a0"


@dataclass
class Options:
    metric: str = "time"
    max_points: int = 2000
    last_runs: int = 30          # rows of a benchmark page's table of latest runs
    index_changes: int = 60      # rows of the index's table of change points
    index_runs: int = 20         # rows of the index's table of latest runs


# --- output folder -----------------------------------------------------------------------------

_MANIFEST_HEAD = "files:"
# What dashboards wrote before the marker listed its files: these names and nothing else.
_LEGACY_TOP = ("index.html", "runs.html", PLOTLY_JS)
_LEGACY_FOLDERS = ("bench", "runs")


def _target(out, force):
    """The absolute output path, after the checks that keep a user's folder safe."""
    if not out:
        raise CvpError("-o: give a folder for the dashboard")
    path = out.rstrip("/" + os.sep) or os.sep
    # rstrip first: os.path.islink("link/") follows the link and answers False.
    if os.path.islink(path):
        raise CvpError(f"{out}: is a symbolic link; give the folder itself (a dashboard is never "
                       f"written through a link); nothing was changed")
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise CvpError(f"{out}: exists and is not a folder; nothing was changed")
        marker = os.path.join(path, MARKER)
        if os.path.lexists(marker):
            if not os.path.isfile(marker) or os.path.islink(marker):
                raise CvpError(f"{out}: its {MARKER} is not a regular file; nothing was changed")
            if not force:
                raise CvpError(f"{out}: holds a dashboard already (use --force to replace the "
                               f"files it wrote; other files there are kept); nothing was "
                               f"changed")
        elif os.listdir(path):
            raise CvpError(f"{out}: exists and is not a dashboard written by cvp (it has no "
                           f"{MARKER} file that lists what a dashboard wrote there); give a new "
                           f"or empty folder; nothing was changed")
    return os.path.abspath(path)


def _folder_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _marker_text(files):
    return (f"cvpbench dashboard, written by cvp {__version__}.\n"
            f"cvp dashboard --force replaces the files listed here, and nothing else in this "
            f"folder.\n{_MANIFEST_HEAD}\n" + "".join(f"{f}\n" for f in files))


def _safe_file(root, rel):
    """True when `rel` names a regular file (not a link) inside `root`, reached through real
    folders only: a manifest line that names anything else is not acted on."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        return False
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or rel == MARKER:
        return False
    at = root
    for p in parts[:-1]:
        at = os.path.join(at, p)
        if os.path.islink(at) or not os.path.isdir(at):
            return False
    full = os.path.join(at, parts[-1])
    return os.path.isfile(full) and not os.path.islink(full)


def _previous_files(target):
    """The files of `target` that a dashboard wrote, from its marker (sorted); for a marker of
    a cvp that did not list them, the files such a dashboard writes (its three pages and the
    .html files of bench/ and runs/)."""
    with open(os.path.join(target, MARKER), "r", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if _MANIFEST_HEAD in lines:
        listed = lines[lines.index(_MANIFEST_HEAD) + 1:]
    else:
        listed = list(_LEGACY_TOP)
        for folder in _LEGACY_FOLDERS:
            at = os.path.join(target, folder)
            if os.path.isdir(at) and not os.path.islink(at):
                listed += [f"{folder}/{n}" for n in os.listdir(at) if n.endswith(".html")]
    return sorted({rel for rel in listed if _safe_file(target, rel)})


def _site_files(tmp):
    """The files of the new site in `tmp`, relative, sorted (the marker left out)."""
    out = []
    for folder, _, names in os.walk(tmp):
        rel = os.path.relpath(folder, tmp)
        out += [n if rel == "." else f"{rel.replace(os.sep, '/')}/{n}" for n in names]
    return sorted(f for f in out if f != MARKER)


def _write_marker(target, text):
    """Replace the marker at once (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(prefix=".cvp-dashboard-marker-", dir=target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, os.path.join(target, MARKER))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _file_mode():
    return 0o666 & _folder_mode()


def _previous_site(target, out, marker):
    """What the target folder holds now: (had_marker, the marker's bytes, the previous
    dashboard's files); CvpError when it changed while the site was being built."""
    # Checked again: the folder may have changed while the site was being built.
    if os.path.islink(target) or not os.path.isdir(target):
        raise CvpError(f"{out}: changed while the dashboard was being built and is no longer a "
                       f"folder; nothing was changed")
    had_marker = os.path.lexists(marker)
    old_marker = None
    if had_marker:
        if os.path.islink(marker) or not os.path.isfile(marker):
            raise CvpError(f"{out}: its {MARKER} changed while the dashboard was being built; "
                           f"nothing was changed")
        with open(marker, "rb") as f:
            old_marker = f.read()
        old = _previous_files(target)
    elif os.listdir(target):
        raise CvpError(f"{out}: files appeared in it while the dashboard was being built; "
                       f"nothing was changed")
    else:
        old = []
    return had_marker, old_marker, old


def _check_in_the_way(target, out, new, old):
    """CvpError when a file no dashboard wrote stands where a new file goes."""
    ours = set(old)
    for rel in new:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            at = os.path.join(target, *parts[:i])
            last = i == len(parts)
            if not os.path.lexists(at):
                break
            if last and rel not in ours or not last and (os.path.islink(at)
                                                         or not os.path.isdir(at)):
                raise CvpError(f"{out}: {'/'.join(parts[:i])} is in the way of the dashboard's "
                               f"{rel}, and no dashboard wrote it; move it away; nothing was "
                               f"changed")


def _swap_in(tmp, target, out, trash, old, new, moved_old, moved_new, made):
    """The old files aside into `trash`, the new ones in; what moved is recorded as it goes."""
    # Until the end the marker lists the old files and the new: whatever a stop by SIGKILL
    # leaves, the next --force knows as the dashboard's own.
    _write_marker(target, _marker_text(sorted(set(old) | set(new))))
    for rel in old:
        aside = os.path.join(trash, rel)
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.rename(os.path.join(target, rel), aside)
        moved_old.append(rel)
    for rel in new:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            at = os.path.join(target, *parts[:i])
            if not os.path.lexists(at):
                os.mkdir(at)
                made.append(at)
        at = os.path.join(target, rel)
        if os.path.lexists(at):
            raise CvpError(f"{out}: {rel} appeared in it while the dashboard was being "
                           f"written; the previous dashboard was put back")
        os.rename(os.path.join(tmp, rel), at)
        moved_new.append(rel)
    os.replace(os.path.join(tmp, MARKER), os.path.join(target, MARKER))


def _put_back(tmp, target, trash, moved_old, moved_new, made, had_marker, old_marker):
    """Undo a swap that failed part way: the new files back to `tmp`, the old ones in place."""
    marker = os.path.join(target, MARKER)
    for rel in reversed(moved_new):
        try:
            os.rename(os.path.join(target, rel), os.path.join(tmp, rel))
        except OSError:
            pass
    for at in reversed(made):
        try:
            os.rmdir(at)
        except OSError:
            pass
    for rel in reversed(moved_old):
        try:
            os.rename(os.path.join(trash, rel), os.path.join(target, rel))
        except OSError:
            pass
    try:
        if had_marker:
            _write_marker(target, old_marker.decode("utf-8", "replace"))
        elif os.path.lexists(marker):
            os.unlink(marker)
    except OSError:
        pass
    shutil.rmtree(trash, ignore_errors=True)


def _install(tmp, target, out):
    """Put the new site (in `tmp`) at `target`: a new folder is `tmp` renamed; in an existing
    one the files the previous dashboard wrote are replaced and every other file stays."""
    if not os.path.lexists(target):
        os.rename(tmp, target)
        return
    marker = os.path.join(target, MARKER)
    had_marker, old_marker, old = _previous_site(target, out, marker)
    new = _site_files(tmp)
    _check_in_the_way(target, out, new, old)
    trash = tempfile.mkdtemp(prefix=".cvp-dashboard-old-", dir=os.path.dirname(target))
    moved_old, moved_new, made = [], [], []
    try:
        _swap_in(tmp, target, out, trash, old, new, moved_old, moved_new, made)
    except BaseException:
        _put_back(tmp, target, trash, moved_old, moved_new, made, had_marker, old_marker)
        raise
    # Folders that only the old files needed, now empty, go too; the old files with the trash.
    needed = {os.path.dirname(rel) for rel in new}
    for folder in sorted({os.path.dirname(rel) for rel in old} - needed, key=len, reverse=True):
        if folder:
            try:
                os.rmdir(os.path.join(target, folder))
            except OSError:
                pass
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


def build(db, out, force=False, options=None):
    """Write the site into `out`; returns what was written, in a few words."""
    opt = options or Options()
    if opt.metric not in history.METRICS:
        raise CvpError(f"--metric {opt.metric}: not one of {', '.join(history.METRICS)}")
    if opt.max_points < 1:
        raise CvpError(f"--max-points {opt.max_points}: must be at least 1")
    target = _target(out, force)
    parent = os.path.dirname(target)
    runio.make_folder(parent)   # made for this site: removed again if the build fails
    try:
        tmp = tempfile.mkdtemp(prefix=".cvp-dashboard-", dir=parent)
    except OSError as e:
        raise CvpError(f"{out}: cannot create a folder next to it ({e.strerror or e}); nothing was "
                       f"changed") from None
    try:
        os.chmod(tmp, _folder_mode())
        site = _Site(db, tmp, opt)
        site.write()
        _install(tmp, target, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CvpError(f"{out}: cannot write the dashboard ({e.strerror or e}); the previous one, "
                       f"if any, was left as it is") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return (f"{site.pages:,} pages ({_count(site.benchmark_count, 'benchmark')}, "
            f"{_count(site.run_count, 'run')}, {_count(site.change_count, 'change point')}), "
            f"{site.bytes / 1e6:.1f} MB")


# --- names and formatting ----------------------------------------------------------------------

def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _plotly_text(value):
    """Text for plotly: it reads <br>, <a href> and other tags in labels, so a label from the
    database is entity-escaped (plotly decodes entities into plain text)."""
    return html.escape("" if value is None else str(value), quote=False)


def bench_file(name):
    """A file name for a benchmark: readable, safe on every file system (no slash, no leading
    dot, short) and unique (a hash of the exact name)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80].rstrip("-") or "benchmark"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:10]}.html"


def run_files(runs):
    """{digest: file name}: the digest's first 12 hex digits, longer where two runs share them
    (and a hash where a digest is not hex, which an import never writes)."""
    def clean(digest):
        d = str(digest).lower()
        return d if re.fullmatch(r"[0-9a-f]{12,128}", d) else hashlib.sha256(
            d.encode("utf-8")).hexdigest()
    prefixes = {}
    for r in runs:
        prefixes.setdefault(clean(r["digest"])[:12], []).append(r["digest"])
    out = {}
    for prefix, digests in prefixes.items():
        for d in digests:
            out[d] = f"{prefix if len(digests) == 1 else clean(d)}.html"
    return out


_num = history.format_number


def _pair(r, first, second):
    """'1.52 / 2' of a stored result: `first` (the attainable bound, or the efficiency against
    it) and `second` (the ideal's); one number where `first` is missing (runs written before
    rows carried an attainable bound) or the two are within 1%; '-' when neither is known."""
    a, b = r.get(first), r.get(second)
    if a is None:
        a = b if first == "attainable" else a
    if b is None:
        b = a
    if a is None:
        return "-"
    if abs(a - b) <= 0.01 * max(abs(b), 1e-12):
        return _num(a)
    return f"{_num(a)} / {_num(b)}"


def _seconds_scale(value):
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if abs(value) >= factor:
            return factor, unit
    return 1e-12, "ps"


def _time(value):
    if value is None:
        return "-"
    factor, unit = _seconds_scale(value)
    return f"{value / factor:.4g}{_NB}{unit}"


def _time_ci(lo, hi):
    if lo is None or hi is None:
        return ""
    factor, unit = _seconds_scale(hi)
    return f"{lo / factor:.4g}–{hi / factor:.4g}{_NB}{unit}"


def _date(text):
    """'2026-01-01T10:00:00Z' -> '2026-01-01 10:00' (the tables say UTC)."""
    return (text or "?").replace("T", " ")[:16]


def _plot_date(text):
    # plotly reads 'YYYY-MM-DD HH:MM:SS' (no zone suffix); the axis says UTC.
    return (text or "").replace("T", " ").rstrip("Z")


def _commit(commit):
    return (commit or "?")[:12]


def _metric_text(metric, bench):
    unit = bench.get("work_unit") or "execution"
    return {"time": f"time per {unit} (lower is better)",
            "throughput": "throughput (higher is better)",
            "speedup": "speedup over serial (higher is better)"}[metric]


def _value(metric, value):
    return _time(value) if metric == "time" else _num(value)


def _point_ci(metric, p):
    if metric == "time":
        return _time_ci(p.get("time_lo"), p.get("time_hi"))
    if metric == "speedup" and p.get("speedup_lo") is not None and p.get("speedup_hi") is not None:
        return f"{_num(p['speedup_lo'])}–{_num(p['speedup_hi'])}"
    return ""


def _ci_keys(metric):
    return {"time": ("time_lo", "time_hi"), "speedup": ("speedup_lo", "speedup_hi")}.get(
        metric, (None, None))


def _report_link(url):
    """A run's report link: only an http(s) URL becomes a link (never javascript: or file:)."""
    if not url:
        return ""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("http", "https"):
        return f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(url)}</a>'
    return f"{_e(url)} (not an http(s) URL, so not linked)"


def _json_for_script(value):
    """JSON that is safe inside <script>: no '</script>', no '<!--', no entity surprises."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:20px;color:#1b1b1b;
     max-width:1360px}
nav{font-size:0.9em;margin-bottom:8px} nav a{margin-right:12px}
h1{font-size:1.4em;overflow-wrap:anywhere} h2{font-size:1.15em;margin-top:1.6em;
     border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:0.82em;margin:8px 0;max-width:100%}
caption{caption-side:top;text-align:left;color:#444;padding:4px 0;max-width:1100px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums;
     white-space:nowrap}
td.name,th.name{overflow-wrap:anywhere;max-width:520px} td.prob{min-width:15em}
td.cell{min-width:150px} .cell .s{font-weight:600} .cell .t,.cell .k{color:#555;font-size:0.92em}
.reg{color:#b00020} .imp{color:#16702e} tr.rreg td:first-child{border-left:3px solid #b00020}
tr.rimp td:first-child{border-left:3px solid #16702e} td.best{background:#eaf6ec}
.small{color:#555;font-size:0.85em} code{overflow-wrap:anywhere} td code{white-space:nowrap}
#chart.drawn{width:100%;height:480px;border:1px solid #eee}
.nojs{background:#fff6e0;padding:6px;border:1px solid #e7c76b}
"""

# The pages run no script but their own and plotly's (which injects its styles), load nothing
# from the network and send nothing anywhere. 'self' alone does not cover a page opened from
# disk in every browser (a file: page's origin is opaque in some), hence file:.
_CSP = ("default-src 'none'; script-src 'self' file: 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'")


def _page(title, body, depth, script=""):
    up = "../" * depth
    head = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{_e(title)}</title><style>{_STYLE}</style>"]
    if script:
        head.append(f'<script src="{up}{PLOTLY_JS}"></script>')
    head.append("</head><body>")
    nav = (f'<nav><a href="{up}index.html">Dashboard</a><a href="{up}runs.html">All runs</a>'
           f'</nav>')
    return "".join(head) + nav + body + script + "</body></html>\n"


def _table(headers, rows, caption="", cls=""):
    """headers: [(text, css class)]; rows: [(tr class, [(html, td class)])]."""
    out = [f"<table{f' class={cls!r}' if cls else ''}>"]
    if caption:
        out.append(f"<caption>{caption}</caption>")
    out.append("<thead><tr>" + "".join(f"<th{f' class={c!r}' if c else ''}>{h}</th>"
                                       for h, c in headers) + "</tr></thead><tbody>")
    for tr_class, cells in rows:
        out.append(f"<tr{f' class={tr_class!r}' if tr_class else ''}>" + "".join(
            f"<td{f' class={c!r}' if c else ''}>{h}</td>" for h, c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# --- the machine matrix ------------------------------------------------------------------------

def _count(n, word):
    if n is None:
        return None
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _problem(name):
    """The benchmark name less its mode, backend and threads: the problem it measures. The
    request count (`requests:N`) goes too: the program derives it from the core count, so it
    differs between machines that ran the same problem; so does a weak-scaling factor
    (`weak:P`, its workers), which the mode says instead (`_mode_key`). MPI ranks stay."""
    parts = [p for p in name.split("/")
             if not p.startswith(("mode:", "backend:", "threads:", "requests:", "weak:"))]
    return "/".join(parts)


def _mode_key(r):
    """A row's mode in the matrices: its mode, and 'weak' beside it for a weak-scaling point,
    whose speedup is the scaled speedup of a grown problem and never the best of its mode's
    strong points."""
    mode = r.get("mode") or "?"
    return f"{mode}, weak" if (r.get("weak") or 1) > 1 else mode


def summary_matrix(latest):
    """[((workload, mode), {machine_id: result})]: per machine, the point of that workload and
    mode with the highest speedup in its newest run (ties: the higher throughput)."""
    rows = {}
    for mid, run in latest.items():
        for r in run["results"]:
            key = (r.get("workload") or r["benchmark"].split("/", 1)[0], _mode_key(r))
            cells = rows.setdefault(key, {})
            rank = (r.get("speedup") or 0.0, r.get("throughput") or 0.0, r["benchmark"])
            best = cells.get(mid)
            if best is None or rank > (best.get("speedup") or 0.0, best.get("throughput") or 0.0,
                                       best["benchmark"]):
                cells[mid] = r
    order = sorted(rows, key=lambda k: (k[0], _mode_rank(k[1]), k[1]))
    return [(k, rows[k]) for k in order]


def _mode_rank(mode):
    base, _, weak = mode.partition(", ")
    rank = _MODE_ORDER.index(base) if base in _MODE_ORDER else len(_MODE_ORDER)
    return rank + (0.5 if weak else 0.0)


def matrix(latest, machines):
    """{(problem, mode, backend): {machine_id: result}} from the newest run of each machine:
    per machine the most parallel point of the row (most threads, then most cores)."""
    rows = {}
    for mid, run in latest.items():
        for r in run["results"]:
            key = (_problem(r["benchmark"]), _mode_key(r), r.get("backend") or "?")
            cells = rows.setdefault(key, {})
            best = cells.get(mid)
            rank = (r.get("threads") or 0, r.get("cores") or 0, r["benchmark"])
            if best is None or rank > (best.get("threads") or 0, best.get("cores") or 0,
                                       best["benchmark"]):
                cells[mid] = r
    order = sorted(rows, key=lambda k: (k[0].split("/", 1)[0], k[0], _mode_rank(k[1]), k[1],
                                        k[2]))
    return [(k, rows[k]) for k in order]


def _matrix_html(latest, machines, bench_files, summary=False):
    if not latest:
        return "<p>No run yet.</p>"
    shown = [m for m in machines if m["id"] in latest]
    if summary:
        rows = [((workload, mode, None), cells) for (workload, mode), cells
                in summary_matrix(latest)]
        headers = [("workload", "name"), ("mode", "")]
    else:
        rows = matrix(latest, machines)
        headers = [("problem", "name"), ("mode", ""), ("backend", "")]
    for m in shown:
        run = latest[m["id"]]
        headers.append((f"{_e(m['label'])}<br><span class=small>newest run "
                        f"{_e(_date(run['date']))}</span>", ""))
    body = []
    for (problem, mode, backend), cells in rows:
        tds = [(_e(problem), "name prob"), (_e(mode), "")]
        if not summary:
            tds.append((_e(backend), ""))
        per_core = {}
        for m in shown:
            r = cells.get(m["id"])
            cores = r and (r.get("cores") or m.get("allowed_cores"))
            if r is not None and r.get("throughput") is not None and cores:
                per_core[m["id"]] = r["throughput"] / cores
        best = max(per_core.values()) if len(per_core) > 1 else None
        for m in shown:
            r = cells.get(m["id"])
            if r is None:
                tds.append(("-", "cell"))
                continue
            link = bench_files.get(r["benchmark"])
            speedup = f"×{_num(r['speedup'])}" if r.get("speedup") is not None else "speedup -"
            if link:
                speedup = f'<a href="bench/{link}" title="{_e(r["benchmark"])}">{speedup}</a>'
            parts = [f"<span class=s>{speedup}</span>"]
            if r.get("speedup_lo") is not None and r.get("speedup_hi") is not None:
                parts[0] += (f" <span class=small>({_num(r['speedup_lo'])}–"
                             f"{_num(r['speedup_hi'])})</span>")
            if m["id"] in per_core:
                unit = r.get("throughput_unit") or ""
                parts.append(f"<span class=t>{_num(per_core[m['id']])}{_NB}{_e(unit)} per "
                             f"core</span>")
            what = [_count(r.get("threads"), "thread"), _count(r.get("cores"), "core")]
            if (r.get("ranks") or 1) > 1:
                what.insert(0, _count(r.get("ranks"), "rank"))
            if (r.get("weak") or 1) > 1:
                what.append(f"problem x{_num(r.get('weak'))}")
            if summary:
                what = [_problem(r["benchmark"]), r.get("backend")] + what
            parts.append(f"<span class=k>{_e(', '.join(w for w in what if w))}</span>")
            top = best is not None and per_core.get(m["id"]) == best
            tds.append(("<br>".join(parts), "cell best" if top else "cell"))
        body.append(("", tds))
    if summary:
        caption = ("Each machine's newest run. A row is a workload and a mode; a cell shows, of "
                   "that machine's points of the workload in that mode, the one with the "
                   "highest speedup over the run's serial baseline (95% CI), its throughput "
                   "divided by the cores it ran on (the row's own <code>cores</code>; the "
                   "machine's allowed CPUs where the row does not record it), and which point "
                   "it is: problem, backend, threads and cores. The highest throughput per core "
                   "of a row is shaded. The full matrix, problem by problem, follows.")
        return _table(headers, body, caption, cls="matrix-summary")
    caption = ("Each machine's newest run. A row is one problem (the benchmark name less its "
               "mode, backend and threads), mode and backend; a cell shows its most parallel "
               "point on that machine (most threads, then most cores): the speedup over the "
               "run's serial baseline with its 95% CI, then the throughput divided by the "
               "cores that point ran on (the row's own <code>cores</code>; the machine's "
               "allowed CPUs where the row does not record it), then the threads and cores. "
               "The highest throughput per core of a row is shaded; the speedup links to the "
               "benchmark's page.")
    return _table(headers, body, caption, cls="matrix")


# --- the site ----------------------------------------------------------------------------------

class _Site:
    def __init__(self, db, root, opt):
        self.db = db
        self.root = root
        self.opt = opt
        self.hopt = history.Options(metric=opt.metric)
        self.pages = 0
        self.bytes = 0
        self.change_count = 0
        self.benchmark_count = 0
        self.run_count = 0
        self.files = []

    def _write(self, rel, text, binary=False):
        path = os.path.join(self.root, rel)
        data = text if binary else text.encode("utf-8")
        # "x": a fresh folder of our own, but never write through anything found there.
        with open(path, "xb") as f:
            f.write(data)
        self.files.append(rel)
        self.bytes += len(data)
        if rel.endswith(".html"):
            self.pages += 1

    def write(self):
        from plotly.offline import get_plotlyjs
        db = self.db
        self.machines = db.machines()
        self.machine_by_id = {m["id"]: m for m in self.machines}
        runs = db.runs()
        self.run_count = len(runs)
        self.run_files = run_files(runs)
        benchmarks = db.benchmarks()
        self.benchmark_count = len(benchmarks)
        self.bench_files = {b["name"]: bench_file(b["name"]) for b in benchmarks}
        os.mkdir(os.path.join(self.root, "bench"))
        os.mkdir(os.path.join(self.root, "runs"))
        self._write(PLOTLY_JS, get_plotlyjs())

        summaries = []
        changes_by_run = {}
        for b in benchmarks:
            series = self._series(b)
            self._write(f"bench/{self.bench_files[b['name']]}", self._bench_page(b, series))
            changes = [(s, c) for s in series for c in s.changes]
            self.change_count += len(changes)
            for s, c in changes:
                changes_by_run.setdefault(c.first["digest"], []).append((b, s.machine, c))
            summaries.append({
                "bench": b, "machines": len(series), "runs": sum(len(s.points) for s in series),
                "changes": [(s.machine, c) for s, c in changes]})
            del series

        for run in runs:
            results = db.run_results(run["id"])
            self._write(f"runs/{self.run_files[run['digest']]}",
                        self._run_page(run, results, changes_by_run.get(run["digest"], [])))
        self._write("runs.html", self._runs_page(runs))
        self._write("index.html", self._index(summaries, runs))
        self._write(MARKER, _marker_text(sorted(self.files)))

    def _series(self, b):
        return [history.analyse_series(s, self.hopt) for s in
                history.benchmark_series(self.db, b, self.machine_by_id, self.opt.metric)]

    # --- a benchmark page ---------------------------------------------------------------

    def _run_link(self, point_or_run, text=None, up="../"):
        digest = point_or_run["digest"]
        name = self.run_files.get(digest)
        label = _e(text if text is not None else digest[:12])
        return f'<a href="{up}runs/{name}">{label}</a>' if name else label

    def _series_trace(self, s, drawn):
        """The line of one machine's series, with its 95% CIs where the points have them."""
        metric = self.opt.metric
        key = history.METRICS[metric][0]
        lo_key, hi_key = _ci_keys(metric)
        x, y, up_err, down_err, custom = [], [], [], [], []
        has_ci = False
        for p in drawn:
            v = p[key]
            x.append(_plot_date(p["date"]))
            y.append(v)
            lo = p.get(lo_key) if lo_key else None
            hi = p.get(hi_key) if hi_key else None
            if lo is not None and hi is not None:
                has_ci = True
                up_err.append(max(hi - v, 0.0))
                down_err.append(max(v - lo, 0.0))
            else:
                up_err.append(None)
                down_err.append(None)
            custom.append([_plotly_text(_commit(p["commit"])), p["digest"][:12],
                           _plotly_text(_point_ci(metric, p) or "unknown"),
                           self.run_files.get(p["digest"], "")])
        trace = {"type": "scatter", "mode": "lines+markers", "x": x, "y": y,
                 "name": _plotly_text(s.machine["label"]), "customdata": custom,
                 "marker": {"size": 5}, "line": {"width": 1.5},
                 "hovertemplate": ("<b>%{fullData.name}</b><br>%{x}<br>value %{y:.4g}"
                                   "<br>95% CI %{customdata[2]}<br>commit "
                                   "%{customdata[0]}<br>run %{customdata[1]}"
                                   "<extra>click: open the run</extra>")}
        if has_ci:
            trace["error_y"] = {"type": "data", "symmetric": False, "array": up_err,
                                "arrayminus": down_err, "thickness": 1, "width": 2}
        return trace

    def _change_marks(self, s, first_drawn, key, shapes, annotations, marks):
        """The change points of one series drawn: a dotted line, a label and a mark each."""
        for c in s.changes:
            if c.point.index < first_drawn:
                continue
            color = "#b00020" if c.regression else "#16702e"
            date = _plot_date(c.first["date"])
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": date,
                           "x1": date, "y0": 0, "y1": 1,
                           "line": {"color": color, "width": 1.5, "dash": "dot"}})
            annotations.append((date, f"{c.percent:+.1f}%", color, c, s))
            marks["x"].append(date)
            marks["y"].append(c.first[key])
            marks["color"].append(color)
            marks["symbol"].append("triangle-up" if c.point.ratio > 1 else "triangle-down")
            kind = "regression" if c.regression else "improvement"
            marks["text"].append(_plotly_text(
                f"{kind} {c.percent:+.1f}% on {s.machine['label']}"))
            marks["custom"].append([_plotly_text(_commit(c.first["commit"])),
                                    c.first["digest"][:12],
                                    _plotly_text(f"×{c.point.ci[0]:.3f} to "
                                                 f"×{c.point.ci[1]:.3f}"),
                                    self.run_files.get(c.first["digest"], "")])

    @staticmethod
    def _marks_trace(marks):
        """The change points' marks, one trace for every series."""
        return {"type": "scatter", "mode": "markers", "x": marks["x"],
               "y": marks["y"], "name": "change points", "text": marks["text"],
               "customdata": marks["custom"],
               "marker": {"size": 13, "color": marks["color"],
                          "symbol": marks["symbol"],
                          "line": {"color": "#ffffff", "width": 1}},
               "hovertemplate": ("<b>%{text}</b><br>size 95% CI %{customdata[2]}"
                                 "<br>first run of the new level %{customdata[1]}"
                                 "<br>commit %{customdata[0]}<br>%{x}"
                                 "<extra>click: open the run</extra>")}

    @staticmethod
    def _notes(annotations):
        """Labels at the top of the plot, on three rows so that close ones do not overlap."""
        notes = []
        for i, (date, text, color, c, s) in enumerate(sorted(annotations, key=lambda a: a[0])):
            notes.append({"x": date, "xref": "x", "yref": "paper", "y": 1.0 - 0.07 * (i % 3),
                          "yanchor": "top", "xanchor": "left", "text": f"<b>{text}</b>",
                          "showarrow": False, "font": {"color": color, "size": 11},
                          "bgcolor": "rgba(255,255,255,0.85)",
                          "hovertext": _plotly_text(f"{s.machine['label']}: "
                                                    f"{c.first['date']}")})
        return notes

    def _layout(self, b, shapes, notes):
        metric = self.opt.metric
        unit = b.get("work_unit") or "execution"
        ytitle = {"time": f"seconds per {unit}", "throughput": "throughput",
                  "speedup": "speedup over serial"}[metric]
        layout = {"margin": {"l": 70, "r": 20, "t": 20, "b": 50},
                  "hovermode": "closest", "showlegend": True,
                  "legend": {"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top"},
                  "xaxis": {"title": {"text": "run date (UTC)"}, "type": "date",
                            "automargin": True},
                  "yaxis": {"title": {"text": _plotly_text(ytitle)}, "automargin": True,
                            "exponentformat": "SI", "rangemode": "tozero"
                            if metric != "time" else "normal"},
                  "shapes": shapes, "annotations": notes, "plot_bgcolor": "#ffffff",
                  "paper_bgcolor": "#ffffff"}
        config = {"responsive": True, "displaylogo": False,
                  "modeBarButtonsToRemove": ["sendDataToCloud"]}
        return layout, config

    def _figure(self, b, series):
        key = history.METRICS[self.opt.metric][0]
        traces, shapes, annotations = [], [], []
        marks = {"x": [], "y": [], "color": [], "symbol": [], "custom": [], "text": []}
        cut = False
        for s in series:
            drawn = s.points[-self.opt.max_points:]
            cut = cut or len(drawn) < len(s.points)
            first_drawn = len(s.points) - len(drawn)
            trace = self._series_trace(s, drawn)
            traces.append(trace)
            self._change_marks(s, first_drawn, key, shapes, annotations, marks)
        if marks["x"]:
            traces.append(self._marks_trace(marks))
        notes = self._notes(annotations)
        layout, config = self._layout(b, shapes, notes)
        return {"data": traces, "layout": layout, "config": config}, cut

    def _bench_page(self, b, series):
        metric = self.opt.metric
        name = b["name"]
        attrs = [("workload", b.get("workload")), ("kind", b.get("kind")),
                 ("mode", b.get("mode")), ("backend", b.get("backend")),
                 ("threads", b.get("threads")), ("requests in flight", b.get("in_flight")),
                 ("unit of work", b.get("work_unit")),
                 ("MPI ranks", b.get("ranks") if (b.get("ranks") or 1) > 1 else None),
                 ("weak scaling: problem grown", f"x{_num(b.get('weak'))} (the speedup is the "
                                                 f"scaled speedup)"
                  if (b.get("weak") or 1) > 1 else None)]
        parts = [f"<h1>{_e(name)}</h1>",
                 "<p class=small>" + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in attrs
                                                if v is not None) + "</p>"]
        total = sum(len(s.points) for s in series)
        if not series:
            parts.append(f"<p>No run has a value of {_e(metric)} for this benchmark.</p>")
            return _page(name, "".join(parts), 1)
        figure, cut = self._figure(b, series)
        parts.append(f"<h2>Trend: {_e(_metric_text(metric, b))}</h2>")
        parts.append(f"<p class=small>{total:,} runs on {len(series)} machine(s). A point is a "
                     f"run (its 95% CI as an error bar where known); a dotted line and a "
                     f"triangle mark the first run of a new level, labelled with the change "
                     f"(red: regression, green: improvement). Hover for the commit and run; "
                     f"click a point to open its run.</p>")
        if cut:
            parts.append(f"<p class=small><b>The chart draws the last "
                         f"{self.opt.max_points:,} runs of each machine</b>; the change points "
                         f"were found on every run, and the table below lists them all.</p>")
        parts.append('<div id="chart" role="img" aria-label="trend chart"></div>'
                     '<noscript><p class=nojs>The chart needs JavaScript; the tables below '
                     'hold the same change points and the latest runs.</p></noscript>')
        parts.append(self._changes_table(series))
        parts.append(self._latest_table(series))
        script = ('<script>(function(){var fig=' + _json_for_script(figure) + ';'
                  'var el=document.getElementById("chart");'
                  'if(!window.Plotly){el.textContent="plotly.min.js did not load: the chart '
                  'is missing (the tables below are complete).";return;}'
                  'el.className="drawn";'
                  'Plotly.newPlot(el,fig.data,fig.layout,fig.config).then(function(){'
                  'el.on("plotly_click",function(ev){var p=ev.points&&ev.points[0];'
                  'var f=p&&p.customdata&&p.customdata[3];'
                  'if(f&&/^[0-9a-f]{12,128}\\.html$/.test(f)){'
                  'window.location.href="../runs/"+f;}});});})();</script>')
        return _page(name, "".join(parts), 1, script)

    def _changes_table(self, series):
        metric = self.opt.metric
        rows = []
        for s in series:
            for c in s.changes:
                p = c.point
                kind = "regression" if c.regression else "improvement"
                cls = "reg" if c.regression else "imp"
                rows.append((c.first["date"], ("r" + cls, [
                    (f"<span class={cls}>{kind}</span>", ""),
                    (_e(s.machine["label"]), "name"),
                    (f"<span class={cls}>{c.percent:+.1f}%</span>", "n"),
                    (f"×{p.ratio:.3f} (×{p.ci[0]:.3f}–×{p.ci[1]:.3f})", "n"),
                    (f"{p.p_value:.3g}", "n"),
                    (f"{_e(_value(metric, p.before))} → {_e(_value(metric, p.after))}", "n"),
                    (_e(_date(c.first["date"])), ""),
                    (f"<code>{_e(_commit(c.first['commit']))}</code>", ""),
                    (self._run_link(c.first), ""),
                    (f"<code>{_e(_commit(c.last_before['commit']))}</code> "
                     f"{self._run_link(c.last_before)}", ""),
                ])))
        if not rows:
            return ("<h2>Change points</h2><p id=changes>No change point: every machine's "
                    "series stays on one level (or has too few runs to tell).</p>")
        rows.sort(key=lambda r: r[0], reverse=True)
        headers = [("change", ""), ("machine", "name"), ("size", ""), ("ratio (95% CI)", ""),
                   ("p", ""), ("level before → after", ""), ("first run of the new level, "
                   "date (UTC)", ""), ("its commit", ""), ("its run", ""),
                   ("last run before", "")]
        return ("<h2>Change points</h2>" + _table(
            headers, [r[1] for r in rows],
            f"{len(rows)} change point(s), newest first, found on each machine's whole series "
            f"of {_e(history.METRICS[metric][2])} (E-Divisive means, permutation test, "
            f"p ≤ {self.hopt.p_value:g}). The size is the ratio of the medians of the levels "
            f"after and before.", cls="changes"))

    def _latest_table(self, series):
        metric = self.opt.metric
        key = history.METRICS[metric][0]
        starts = {(s.machine["id"], c.first["digest"]): c for s in series for c in s.changes}
        points = [(p, s) for s in series for p in s.points[-self.opt.last_runs:]]
        points.sort(key=lambda ps: (ps[0]["date"], ps[0]["run_id"]), reverse=True)
        points = points[:self.opt.last_runs]
        rows = []
        for p, s in points:
            c = starts.get((s.machine["id"], p["digest"]))
            mark = ""
            if c is not None:
                cls = "reg" if c.regression else "imp"
                mark = (f"<span class={cls}>{'regression' if c.regression else 'improvement'} "
                        f"{c.percent:+.1f}% begins</span>")
            rows.append(("", [(_e(_date(p["date"])), ""), (_e(s.machine["label"]), "name"),
                              (f"<code>{_e(_commit(p['commit']))}</code>", ""),
                              (_e(_value(metric, p[key])), "n"),
                              (_e(_point_ci(metric, p)), "n"), (self._run_link(p), ""),
                              (mark, "")]))
        headers = [("date (UTC)", ""), ("machine", "name"), ("commit", ""), ("value", ""),
                   ("95% CI", ""), ("run", ""), ("change", "")]
        return ("<h2>Latest runs</h2>" + _table(
            headers, rows, f"The last {len(rows)} runs over all machines, newest first.",
            cls="latest"))

    # --- a run page ---------------------------------------------------------------------

    def _run_page(self, run, results, changes):
        m = self.machine_by_id.get(run["machine_id"], {})
        title = f"Run {run['digest'][:12]}"
        info = [("machine", _e(run.get("machine"))), ("CPU", _e(m.get("cpu_model"))),
                ("CPUs allowed", _e(m.get("allowed_cores"))),
                *([("cluster hosts", _e(m["hosts"]))] if m.get("hosts") else []),
                ("date (UTC)", _e(_date(run["date"]))),
                ("commit", f"<code>{_e(run.get('commit') or '?')}</code>"),
                ("cvpbench version", _e(run.get("version") or "?")),
                ("source", f"<code>{_e(run.get('source') or '?')}</code>"),
                ("imported", _e(_date(run.get("imported_at")))),
                ("digest", f"<code>{_e(run['digest'])}</code>")]
        flags = [w for w, f in (("quick", run.get("quick")), ("noisy", run.get("noisy"))) if f]
        if flags:
            info.append(("flags", _e(", ".join(flags))))
        if run.get("report"):
            info.append(("report", _report_link(run["report"])))
        parts = [f"<h1>{_e(title)}</h1>", "<table class=info><tbody>" + "".join(
            f"<tr><th>{k}</th><td class=name>{v}</td></tr>" for k, v in info)
            + "</tbody></table>"]
        if changes:
            items = []
            for b, machine, c in changes:
                cls = "reg" if c.regression else "imp"
                items.append(f"<li class={cls}>{'regression' if c.regression else 'improvement'}"
                             f" {c.percent:+.1f}% of <a href=\"../bench/"
                             f"{self.bench_files[b['name']]}\">{_e(b['name'])}</a></li>")
            parts.append(f"<h2>Change points that begin at this run</h2><ul>"
                         f"{''.join(items)}</ul>")
        rows = []
        for r in results:
            link = self.bench_files.get(r["benchmark"])
            name = (f'<a href="../bench/{link}">{_e(r["benchmark"])}</a>' if link
                    else _e(r["benchmark"]))
            unit = r.get("work_unit") or "execution"
            sp = _num(r.get("speedup")) if r.get("speedup") is not None else "-"
            if r.get("speedup_lo") is not None and r.get("speedup_hi") is not None:
                sp += f" ({_num(r['speedup_lo'])}–{_num(r['speedup_hi'])})"
            tp = (f"{_num(r['throughput'])} {r.get('throughput_unit') or ''}".strip()
                  if r.get("throughput") is not None else "-")
            rows.append(("", [(name, "name"), (_e(f"{_time(r['time'])} per {unit}"), "n"),
                              (_e(_time_ci(r.get("time_lo"), r.get("time_hi"))), "n"),
                              (_e(r.get("repetitions") or "-"), "n"), (_e(tp), "n"),
                              (_e(sp), "n"), (_e(_pair(r, "attainable", "bound")), "n"),
                              (_e(_pair(r, "efficiency", "efficiency_ideal")), "n"),
                              (_e(r.get("cores") or "-"), "n")]))
        headers = [("benchmark", "name"), ("time", ""), ("95% CI", ""), ("reps", ""),
                   ("throughput", ""), ("speedup (95% CI)", ""),
                   ("bound: attainable / ideal", ""), ("efficiency: attainable / ideal", ""),
                   ("cores", "")]
        parts.append("<h2>Results</h2>" + _table(
            headers, rows, f"{len(rows)} benchmarks; time is the median per unit of work; "
            f"bounds and efficiencies: against the attainable bound (this machine's measured "
            f"capacities), then the ideal, one number where the two are within 1% (and for "
            f"runs written before rows carried an attainable bound).", cls="results"))
        return _page(title, "".join(parts), 1)

    def _runs_rows(self, runs, up):
        return [("", [(_e(_date(r["date"])), ""), (_e(r.get("machine")), "name"),
                      (f"<code>{_e(_commit(r.get('commit')))}</code>", ""),
                      (_e(r.get("results")), "n"), (self._run_link(r, up=up), "")])
                for r in runs]

    def _runs_page(self, runs):
        headers = [("date (UTC)", ""), ("machine", "name"), ("commit", ""), ("results", ""),
                   ("run", "")]
        body = "<h1>All runs</h1>" + _table(headers, self._runs_rows(runs, ""),
                                            f"{len(runs):,} runs, newest first.", cls="runs")
        return _page("All runs", body, 0)

    # --- the index ----------------------------------------------------------------------

    def _machines_section(self):
        """The table of machines."""
        parts = []
        rows = []
        clusters = any(m.get("hosts") for m in self.machines)
        for m in self.machines:
            cpus = f"{m.get('allowed_cores') or '?'} of {m.get('logical_cpus') or '?'}"
            cpu = m.get("cpu_model")
            if clusters:
                # A cluster is one machine: its hosts and CPU model; its CPUs are rank 0's.
                cpu = f"{cpu}; cluster of hosts {m['hosts']}" if m.get("hosts") else cpu
            rows.append(("", [(_e(m["label"]), "name"), (_e(cpu), "name"),
                              (_e(cpus), "n"), (_e(m.get("physical_cores") or "?"), "n"),
                              (_e({1: "on", 0: "off"}.get(m.get("smt"), "?")), ""),
                              (_e(m.get("os") or "?"), "name"),
                              (_e(m.get("compiler") or "?"), ""), (_e(m["runs"]), "n"),
                              (_e(_date(m["first"])), ""), (_e(_date(m["last"])), "")]))
        parts.append("<h2>Machines</h2>" + _table(
            [("machine", "name"), ("CPU", "name"), ("CPUs allowed of logical", ""),
             ("physical cores", ""), ("SMT", ""), ("OS", "name"), ("compiler", ""),
             ("runs", ""), ("first run (UTC)", ""), ("last run (UTC)", "")], rows,
            cls="machines"))
        return parts

    def _matrix_section(self):
        """The machine matrix, summed up and problem by problem."""
        parts = []
        db = self.db
        latest = db.latest_results()
        parts.append("<h2 id=matrix>Machine matrix</h2>")
        parts.append(_matrix_html(latest, self.machines, self.bench_files, summary=True))
        parts.append("<h3 id=matrix-full>Problem by problem</h3>")
        parts.append(_matrix_html(latest, self.machines, self.bench_files))
        return parts

    def _changes_section(self, summaries):
        """The recent change points, regressions first."""
        parts = []
        opt = self.opt
        changes = [(s["bench"], machine, c) for s in summaries for machine, c in s["changes"]]
        changes.sort(key=lambda bmc: (not bmc[2].regression, _neg(bmc[2].first["date"])))
        parts.append("<h2>Recent change points</h2>")
        if not changes:
            parts.append("<p id=changes>No change point in any series.</p>")
        else:
            rows = []
            for b, machine, c in changes[:opt.index_changes]:
                cls = "reg" if c.regression else "imp"
                rows.append(("r" + cls, [
                    (f"<span class={cls}>{'regression' if c.regression else 'improvement'}"
                     f"</span>", ""),
                    (f'<a href="bench/{self.bench_files[b["name"]]}">{_e(b["name"])}</a>',
                     "name"),
                    (_e(machine["label"]), "name"),
                    (f"<span class={cls}>{c.percent:+.1f}%</span>", "n"),
                    (f"×{c.point.ci[0]:.3f}–×{c.point.ci[1]:.3f}", "n"),
                    (_e(_date(c.first["date"])), ""),
                    (f"<code>{_e(_commit(c.first['commit']))}</code>", ""),
                    (self._run_link(c.first, up=""), "")]))
            more = len(changes) - len(rows)
            caption = (f"{len(changes):,} change points: regressions first, then newest first"
                       + (f"; the first {len(rows)} are listed (each benchmark's page lists "
                          f"its own)" if more > 0 else "") + ".")
            parts.append(_table([("change", ""), ("benchmark", "name"), ("machine", "name"),
                                 ("size", ""), ("ratio 95% CI", ""),
                                 ("began (UTC)", ""), ("commit", ""), ("first run", "")],
                                rows, caption, cls="changes"))
        return parts

    def _benchmarks_section(self, summaries):
        """A row per benchmark: its machines, runs and change points."""
        parts = []
        rows = []
        for s in summaries:
            b = s["bench"]
            regressions = sum(1 for _, c in s["changes"] if c.regression)
            latest = max(s["changes"], key=lambda mc: mc[1].first["date"], default=None)
            latest_text = ""
            if latest is not None:
                c = latest[1]
                cls = "reg" if c.regression else "imp"
                latest_text = (f"<span class={cls}>{c.percent:+.1f}%</span> "
                               f"{_e(_date(c.first['date']))}")
            rows.append(("rreg" if regressions else "rimp" if s["changes"] else "", [
                (f'<a href="bench/{self.bench_files[b["name"]]}">{_e(b["name"])}</a>', "name"),
                (_e(s["machines"]), "n"), (_e(f"{s['runs']:,}"), "n"),
                (_e(len(s["changes"])), "n"), (_e(regressions), "n"), (latest_text, "")]))
        parts.append("<h2>Benchmarks</h2>" + _table(
            [("benchmark", "name"), ("machines", ""), ("runs", ""), ("change points", ""),
             ("regressions", ""), ("latest change (UTC)", "")], rows, cls="benchmarks"))
        return parts

    def _index(self, summaries, runs):
        opt = self.opt
        parts = ["<h1>cvpbench dashboard</h1>"]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        first = min((m["first"] for m in self.machines if m["first"]), default=None)
        last = max((m["last"] for m in self.machines if m["last"]), default=None)
        parts.append(f"<p class=small>{len(runs):,} runs of {len(summaries):,} benchmarks on "
                     f"{len(self.machines)} machine(s), {_e(_date(first))} to "
                     f"{_e(_date(last))} (UTC). Trends of "
                     f"{_e(history.METRICS[opt.metric][2])}. Written by cvp {_e(__version__)} "
                     f"on {now}.</p>")
        parts += self._machines_section()
        parts += self._matrix_section()
        parts += self._changes_section(summaries)
        parts += self._benchmarks_section(summaries)

        shown = runs[:opt.index_runs]
        parts.append("<h2>Latest runs</h2>" + _table(
            [("date (UTC)", ""), ("machine", "name"), ("commit", ""), ("results", ""),
             ("run", "")], self._runs_rows(shown, ""),
            f'The last {len(shown)} of {len(runs):,} runs; <a href="runs.html">all runs</a>.',
            cls="runs"))
        return _page("cvpbench dashboard", "".join(parts), 0)


def _neg(text):
    """A sort key that orders strings (ISO dates) newest first inside an ascending sort."""
    return tuple(-ord(ch) for ch in (text or ""))
