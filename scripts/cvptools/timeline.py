"""Who ran when: the trace-event file of a run made with `cvpbench --trace` (trace.json), drawn
as one panel per point, one lane per worker, each bar a task or a request's CPU part coloured by
the CPU it ran on; the requests' waits shown as a count of requests waiting over time."""

import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from . import CvpError
from . import runio

TRACE = "trace.json"
DEFAULT_MAX_WORKERS = 16
MAX_POINTS = 8
# The CPUs' colours, in CPU order; the same CPU has the same colour in every panel.
CPU_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf")


@dataclass
class Lane:
    worker: int
    label: str
    spans: list = field(default_factory=list)   # (start_us, duration_us, cpu, on_cpu_share)


@dataclass
class Panel:
    point: dict                 # the trace's otherData entry
    lanes: list                 # Lane, one per worker shown
    hidden: int                 # workers left out (--max-workers)
    waits: list                 # (start_us, end_us) of every wait shown
    window_us: float
    busy: object = None         # the mean of the summary row's timeline.cpu_busy (its CPUs' busy share)


def trace_path(run_folder):
    folder = run_folder if os.path.isdir(run_folder) else os.path.dirname(run_folder) or "."
    return os.path.join(folder, TRACE)


def load_trace(run_folder):
    """The trace document of a run folder (or of the folder of its summary.json)."""
    path = trace_path(run_folder)
    if not os.path.lexists(path):
        raise CvpError(f"{run_folder}: has no {TRACE}: run cvpbench with --trace")
    doc = runio.read_json(path)
    problem = _problem(doc)
    if problem:
        raise CvpError(f"{path}: not a cvpbench trace ({problem})")
    problem = _impossible_time(doc)
    if problem:
        raise CvpError(f"{path}: {problem}, which no measurement gives; nothing was drawn")
    return doc


def _problem(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return "no traceEvents list"
    points = (doc.get("otherData") or {}).get("points") if isinstance(doc.get("otherData"), dict) else None
    if not isinstance(points, list):
        return "no otherData.points list"
    for p in points:
        if not isinstance(p, dict) or not isinstance(p.get("pid"), int) or not isinstance(p.get("name"), str):
            return "a point without pid or name"
        for key in ("mode", "backend", "group"):
            if not isinstance(p.get(key), str):
                return f"point {p['name']!r} has no {key}"
        for key in ("threads", "in_flight", "window_us", "shown_until_us"):
            if not isinstance(p.get(key), (int, float)) or isinstance(p.get(key), bool):
                return f"point {p['name']!r} has no number {key}"
    for e in doc["traceEvents"]:
        if not isinstance(e, dict) or "ph" not in e or not isinstance(e.get("pid"), int):
            return "an event without ph or pid"
        if e["ph"] == "X" and not all(isinstance(e.get(k), (int, float)) for k in ("ts", "dur")):
            return "a complete event without ts or dur"
    return None


def _time(value):
    """A number of microseconds a trace can hold: finite and not negative."""
    return math.isfinite(value) and value >= 0


def _impossible_time(doc):
    """What makes a well-formed trace impossible, in words, or None: a negative (or infinite,
    or NaN) duration, start, CPU time or window, or a wait that ends before it begins. Drawn,
    such a span would be a bar that runs backwards or lies off the chart."""
    for p in doc["otherData"]["points"]:
        for key in ("window_us", "shown_until_us"):
            if not _time(p[key]):
                return f"point {runio.printable(p['name'])} has a {key} of {p[key]!r}"
    names = {p["pid"]: p["name"] for p in doc["otherData"]["points"]}
    begun = {}
    for i, e in enumerate(doc["traceEvents"]):
        where = (f"event {i} ({runio.printable(str(e.get('name', e['ph'])))}, point "
                 f"{runio.printable(str(names.get(e['pid'], e['pid'])))})")
        ts = e.get("ts")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool) and not _time(ts):
            return f"{where} starts at {ts!r} us, before its execution began"
        if e["ph"] == "X":
            if not _time(e["dur"]):
                return f"{where} has a negative duration ({e['dur']!r} us)" \
                    if e["dur"] < 0 else f"{where} has a duration of {e['dur']!r} us"
            on_cpu = (e.get("args") or {}).get("on_cpu_us") \
                if isinstance(e.get("args"), dict) else None
            if isinstance(on_cpu, (int, float)) and not isinstance(on_cpu, bool) \
                    and not _time(on_cpu):
                return f"{where} has a CPU time of {on_cpu!r} us"
        elif e["ph"] in ("b", "e") and e.get("cat") == "wait" \
                and isinstance(ts, (int, float)) and not isinstance(ts, bool):
            key = (e["pid"], str(e.get("id")))
            if e["ph"] == "b":
                begun[key] = ts
            elif key in begun and ts < begun[key]:
                return (f"{where} ends a wait {begun.pop(key) - ts:g} us before it begins "
                        f"(a negative duration)")
    return None


def default_points(points):
    """For the first task-split group (and the first request group), its serial point, its
    concurrent point with the most in flight and its parallel point on the most cores, all on
    one backend (threads where it has them)."""
    chosen = []
    by_group = OrderedDict()
    for p in points:
        by_group.setdefault(p["group"], []).append(p)
    kinds_done = set()
    for group, members in by_group.items():
        requests = any(m["in_flight"] > m["threads"] or m["backend"] == "eventloop" for m in members)
        kind = "requests" if requests else "tasks"
        if kind in kinds_done:
            continue
        backends = list(OrderedDict.fromkeys(m["backend"] for m in members))
        # Requests on an event loop: one lane per core shows the interleaving best; tasks on
        # threads. Requests: at most 64 in flight when the group has that, so a lane's bars stay
        # readable.
        preferred = "eventloop" if kind == "requests" else "threads"
        for backend in ([preferred] if preferred in backends else []) + backends:
            serial = [m for m in members if m["mode"] == "serial" and m["backend"] == backend]
            if not serial:
                serial = [m for m in members if m["mode"] == "serial"]
            conc = [m for m in members if m["mode"] == "concurrent" and m["backend"] == backend]
            par = [m for m in members if m["mode"] == "parallel" and m["backend"] == backend
                   and m["threads"] <= len(set(m.get("cpus") or [0]))]
            if not (conc or par):
                continue
            pick = serial[:1]
            if kind == "requests":
                conc = [m for m in conc if m["in_flight"] <= 64] or conc
                par = [m for m in par if m["in_flight"] <= 64] or par
            if conc:
                pick.append(max(conc, key=lambda m: (m["in_flight"], -m["pid"])))
            if par:
                pick.append(max(par, key=lambda m: (len(set(m.get("cpus") or [0])), m["in_flight"], -m["pid"])))
            chosen += pick
            kinds_done.add(kind)
            break
    return chosen


def select_points(doc, patterns):
    points = doc["otherData"]["points"]
    if not points:
        raise CvpError("the trace holds no point")
    if not patterns:
        chosen = default_points(points) or points[:3]
    else:
        chosen = []
        for text in patterns:
            try:
                regex = re.compile(text)
            except re.error as e:
                raise CvpError(f"--point {text!r}: not a valid regular expression ({e})") from None
            found = [p for p in points if regex.search(p["name"]) and p not in chosen]
            if not found:
                names = ", ".join(p["name"] for p in points[:6])
                more = f" and {len(points) - 6} more" if len(points) > 6 else ""
                raise CvpError(f"--point {text!r}: matches no traced point (traced: {names}{more})")
            chosen += found
    if len(chosen) > MAX_POINTS:
        raise CvpError(f"{len(chosen)} points chosen; draw at most {MAX_POINTS} at once "
                       f"(narrow --point)")
    return chosen


def lay_out(doc, point, max_workers=DEFAULT_MAX_WORKERS, busy=None):
    """The Panel of one traced point: its workers' lanes (the first max_workers), their spans and
    the point's waits."""
    pid = point["pid"]
    names, lanes_by_tid, waits_open, waits = {}, OrderedDict(), {}, []
    for e in doc["traceEvents"]:
        if e.get("pid") != pid:
            continue
        ph = e["ph"]
        if ph == "M" and e.get("name") == "thread_name":
            names[e.get("tid")] = str((e.get("args") or {}).get("name", f"worker {e.get('tid')}"))
        elif ph == "X" and e.get("cat") in ("task", "cpu"):
            args = e.get("args") or {}
            dur = float(e["dur"])
            on_cpu = args.get("on_cpu_us")
            share = min(1.0, float(on_cpu) / dur) if isinstance(on_cpu, (int, float)) and dur > 0 else 1.0
            lanes_by_tid.setdefault(e.get("tid"), []).append((float(e["ts"]), dur, args.get("cpu", -1), share))
        elif ph == "b" and e.get("cat") == "wait":
            waits_open[e.get("id")] = float(e["ts"])
        elif ph == "e" and e.get("cat") == "wait" and e.get("id") in waits_open:
            waits.append((waits_open.pop(e.get("id")), float(e["ts"])))
    tids = sorted(set(names) | set(lanes_by_tid), key=lambda t: (t is None, t))
    lanes = [Lane(worker=(t or 1) - 1, label=names.get(t, f"worker {(t or 1) - 1}").replace(" (", " · ").rstrip(")"),
                  spans=sorted(lanes_by_tid.get(t, []))) for t in tids]
    shown = lanes[:max_workers]
    return Panel(point=point, lanes=shown, hidden=len(lanes) - len(shown), waits=sorted(waits),
                 window_us=float(point["shown_until_us"]), busy=busy)


def _busy_by_name(run_folder):
    """Each traced row's CPU busy share (the mean over the CPUs its spans ran on of the share of
    the execution some span ran there), from the run's summary.json when it is there."""
    path = os.path.join(run_folder if os.path.isdir(run_folder) else os.path.dirname(run_folder) or ".",
                        "summary.json")
    if not os.path.isfile(path):
        return {}
    try:
        doc = runio.read_json(path)
    except CvpError:
        return {}
    out = {}
    for r in doc.get("results", []) if isinstance(doc, dict) else []:
        t = r.get("timeline") if isinstance(r, dict) else None
        busy = t.get("cpu_busy") if isinstance(t, dict) else None
        if isinstance(busy, list) and busy and all(isinstance(b, (int, float)) for b in busy):
            if not all(_time(b) for b in busy):
                raise CvpError(f"{path}: row {runio.printable(str(r.get('name')))} has a "
                               f"timeline.cpu_busy of {busy!r}: a CPU's busy share is never "
                               f"negative; nothing was drawn")
            out[r.get("name")] = sum(busy) / len(busy)
    return out


def panels(run_folder, patterns=(), max_workers=DEFAULT_MAX_WORKERS):
    doc = load_trace(run_folder)
    busy = _busy_by_name(run_folder)
    return [lay_out(doc, p, max_workers, busy.get(p["name"])) for p in select_points(doc, patterns)]


def _waiting_steps(waits, end):
    """(times, counts): how many requests were waiting, as a step function from 0 to `end`."""
    edges = sorted([(s, 1) for s, _ in waits] + [(e, -1) for _, e in waits])
    times, counts, level = [0.0], [0], 0
    for t, d in edges:
        level += d
        times.append(t)
        counts.append(level)
    times.append(end)
    counts.append(level)
    return times, counts


def _title(p):
    mode, backend = p["mode"], p["backend"]
    team = f"{p['threads']} thread{'s' if p['threads'] != 1 else ''}"
    if p["in_flight"] != p["threads"]:
        team += f", {p['in_flight']} in flight"
    cpus = sorted(set(p.get("cpus") or []))
    where = f"CPU {cpus[0]}" if len(cpus) == 1 else f"CPUs {','.join(map(str, cpus))}"
    return f"{p['group']}\n{mode} · {backend} · {team} · {where}"


def draw(panel_list, fmt="png"):
    """The picture's bytes: the panels side by side (two a row)."""
    from . import plots  # matplotlib, only when drawing
    from matplotlib.patches import Patch

    count = len(panel_list)
    columns = min(count, 3)
    rows = (count + columns - 1) // columns
    lane_counts = [max(1, len(p.lanes)) for p in panel_list]
    height_per_row = [max(2.2, 0.9 + 0.32 * max(lane_counts[r * columns:(r + 1) * columns]))
                      for r in range(rows)]
    fig = plots._figure(figsize=(5.2 * columns, sum(height_per_row) + 1.4))
    grid = fig.add_gridspec(rows, columns, height_ratios=height_per_row, hspace=0.75, wspace=0.35)
    cpus_seen = set()
    for i, panel in enumerate(panel_list):
        ax = fig.add_subplot(grid[i // columns, i % columns])
        lanes = panel.lanes
        for row, lane in enumerate(lanes):
            for start, dur, cpu, share in lane.spans:
                cpus_seen.add(cpu)
                colour = CPU_COLOURS[cpu % len(CPU_COLOURS)] if isinstance(cpu, int) and cpu >= 0 else "#555555"
                ax.broken_barh([(start / 1000, dur / 1000)], (row - 0.4, 0.8), facecolors=colour,
                               alpha=0.35 + 0.65 * share, linewidth=0)
        end_ms = panel.window_us / 1000
        if panel.waits:
            times, counts = _waiting_steps(panel.waits, panel.window_us)
            top = max(counts) or 1
            floor = len(lanes) + 1.3  # the band under the lanes; y grows downwards here
            scale = 1.4 / top
            ax.fill_between([t / 1000 for t in times], floor,
                            [floor - c * scale for c in counts], step="post", color="#bbbbbb",
                            linewidth=0)
            ax.text(0, floor - 1.45, f"requests waiting (up to {top})", ha="left", va="bottom",
                    fontsize=7, color="#555555")
        labels = [plots._txt(lane.label) for lane in lanes]
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_ylim(len(lanes) + (1.6 if panel.waits else 0) - 0.2, -0.6)
        ax.set_xlim(0, end_ms if end_ms > 0 else 1)
        ax.set_xlabel("ms from the execution's start", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        title = _title(panel.point)
        notes = []
        if panel.busy is not None:
            notes.append(f"CPU{'s' if len(set(panel.point.get('cpus') or [])) > 1 else ''} "
                         f"busy {100 * panel.busy:.0f}%")
        if panel.hidden:
            notes.append(f"{panel.hidden} more workers not shown")
        if panel.point["shown_until_us"] < panel.point["window_us"]:
            notes.append(f"first {panel.point['shown_until_us'] / 1000:.1f} of "
                         f"{panel.point['window_us'] / 1000:.1f} ms")
        if notes:
            title += "\n" + ", ".join(notes)
        ax.set_title(plots._txt(title), fontsize=8)
    handles = [Patch(color=CPU_COLOURS[c % len(CPU_COLOURS)], label=f"CPU {c}")
               for c in sorted(c for c in cpus_seen if isinstance(c, int) and c >= 0)]
    handles.append(Patch(color="#bbbbbb", label="requests waiting"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Who ran when: one lane per worker, a bar per task or CPU part "
                 "(paler: time-sliced)", fontsize=10)
    fig.subplots_adjust(bottom=0.9 / fig.get_figheight(), top=1 - 0.75 / fig.get_figheight())
    return plots.render(fig, fmt)
