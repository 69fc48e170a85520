"""`cvp db`: import runs into a results database and look at them."""

import os
import sys

from .. import CvpError
from .. import runio
from . import history
from .common import (COUNT, DB_HELP, FORMATTER, Parser, emit_text, json_option, json_out,
                     open_db)

EPILOG_DB = """examples:
  cvp db import out/run1 out/run2            (into the default SQLite file)
  cvp db import --db team.sqlite --machine ci-runner-3 out/*/
  cvp db import --db postgresql://bench@db.example/cvp out/run1
  cvp db list --limit 20
  cvp db show 3f2a9c
  cvp db machines
A run is identified by the SHA-256 of its summary; importing it twice adds nothing. The SQLite
file uses a WAL journal and waits up to $CVP_DB_TIMEOUT seconds (default 30) for another writer.
A locked, corrupt or newer-schema database is refused with exit 2 and left as it is."""


def _table(rows, header):
    rows = [[runio.printable(x) for x in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    return "\n".join(lines) + "\n"


def _run_folders(paths):
    """The runs named: a run folder or summary.json stands for itself; a folder that holds
    neither but has run folders in it stands for those (in name order), so that a folder of
    runs is imported with one argument, however many runs it holds."""
    out = []
    for path in paths:
        if (os.path.isdir(path) and not os.path.exists(os.path.join(path, runio.SUMMARY_FILE))
                and not os.path.exists(os.path.join(path, runio.GBENCH_FILE))):
            try:
                names = sorted(os.listdir(path))
            except OSError as e:
                raise CvpError(f"{path}: cannot read folder ({e.strerror})") from None
            inner = [os.path.join(path, n) for n in names
                     if os.path.isfile(os.path.join(path, n, runio.SUMMARY_FILE))]
            if inner:
                out.extend(inner)
                continue
        out.append(path)
    return out


def run_import(args):
    import time
    from .. import db
    start = time.perf_counter()
    runs = _run_folders(args.runs)
    for path in runs:   # before a database is created or opened: a typo creates nothing
        if not os.path.exists(runio.resolve_input(path)):
            raise CvpError(f"{path}: no such file or folder")
    with open_db(args.db, create=True) as database:
        done = database.import_runs(runs, machine_name=args.machine, report=args.report_url)
        counts = database.counts()
    added = sum(1 for _, _, new in done if new)
    for path, digest, new in done:
        if args.verbose or len(done) <= 20:
            print(f"{'added  ' if new else 'present'} {digest[:12]}  {runio.printable(path)}")
    print(f"{added} run(s) added, {len(done) - added} already present, in "
          f"{time.perf_counter() - start:.1f} s; {db.display_location(database.location)} holds "
          f"{counts['runs']} runs of {counts['benchmarks']} benchmarks on "
          f"{counts['machines']} machine(s)")
    return 0


def run_list(args):
    with open_db(args.db) as database:
        machine = database.machine(args.machine)["id"] if args.machine else None
        runs = database.runs(machine_id=machine, limit=args.limit)
    if args.json:
        json_out({"runs": runs}, args.json, args.force)
        if args.json == "-":
            return 0
    rows = [[r["digest"][:12], r["date"], (r["commit"] or "?")[:12], r["machine"],
             r["results"], "yes" if r["noisy"] else "", r["source"] or ""] for r in runs]
    sys.stdout.write(_table(rows, ["run", "date", "commit", "machine", "benchmarks", "noisy",
                                   "imported from"]))
    return 0


def run_show(args):
    with open_db(args.db) as database:
        run = database.run(args.run)
        if args.summary:
            data = database.document(run["id"])
            emit_text(data.decode("utf-8") + "\n", args.summary, args.force)
            return 0
    if args.json:
        json_out(run, args.json, args.force)
        if args.json == "-":
            return 0
    p = runio.printable
    print(f"run {run['digest']}\n  machine  {p(run['machine'])}\n  date     {p(run['date'])}\n"
          f"  commit   {p(run['commit'] or '?')}\n  version  {p(run['version'] or '?')}\n"
          f"  imported {run['imported_at']} from {p(run['source'] or '?')}"
          + (f"\n  report   {p(run['report'])}" if run["report"] else ""))
    rows = []
    from ..history import format_number as num
    for r in run["results"]:
        ci = (f"{num(r['time_lo'])} to {num(r['time_hi'])}" if r["time_lo"] is not None else "")
        sp = f"x{num(r['speedup'])}" if r["speedup"] is not None else ""
        tp = (f"{num(r['throughput'])} {r['throughput_unit'] or ''}".strip()
              if r["throughput"] is not None else "")
        rows.append([r["benchmark"], num(r["time"]), ci, r["work_unit"] or "", tp, sp])
    header = ["benchmark", "s/unit", "95% CI", "unit", "throughput", "speedup"]
    # Distributed and weak-scaling points: their ranks and the factor their problem grew by
    # (the speedup of a weak point is its scaled speedup), in columns of their own.
    if any((r.get("ranks") or 1) > 1 or (r.get("weak") or 1) > 1 for r in run["results"]):
        for row, r in zip(rows, run["results"]):
            row += [r.get("ranks") or 1, num(r.get("weak") or 1.0)]
        header += ["ranks", "weak"]
    sys.stdout.write(_table(rows, header))
    return 0


def run_machines(args):
    with open_db(args.db) as database:
        machines = database.machines()
    if args.json:
        json_out({"machines": machines}, args.json, args.force)
        if args.json == "-":
            return 0
    rows = [[m["id"], m["fingerprint"][:12], m["label"], m["allowed_cores"] or "?", m["runs"],
             m["first"] or "", m["last"] or ""] for m in machines]
    header = ["id", "fingerprint", "label", "CPUs", "runs", "first run", "last run"]
    if any(m.get("hosts") for m in machines):
        # A cluster (a distributed run's machine): the set of its hosts; its CPUs are rank 0's.
        for row, m in zip(rows, machines):
            row.append(m.get("hosts") or "")
        header.append("cluster hosts")
    sys.stdout.write(_table(rows, header))
    return 0


def add_parser(sub):
    p = sub.add_parser("db", help="keep runs in a results database (SQLite or PostgreSQL)",
                       epilog=EPILOG_DB, formatter_class=FORMATTER,
                       description="Import runs into a results database and look at them.")
    dbsub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True,
                             parser_class=Parser)
    q = dbsub.add_parser("import", help="import run folders (a run already there is skipped)",
                         description="Import run folders or summary.json files. A run is "
                                     "identified by its content: importing it again adds "
                                     "nothing. Each run is imported whole or not at all.")
    q.add_argument("runs", nargs="+", metavar="RUN", help="run folders or summary.json files")
    q.add_argument("--machine", metavar="NAME",
                   help="name the machine (runs of identical hardware under different names "
                        "are different machines; default: its CPU, CPU count and a fingerprint)")
    q.add_argument("--report-url", metavar="URL",
                   help="where these runs' reports are published; the dashboard links to it")
    q.add_argument("-v", "--verbose", action="store_true", help="a line per run, however many")
    q.set_defaults(handler=run_import, stoppable=True)
    q = dbsub.add_parser("list", help="list runs, newest first")
    q.add_argument("--machine", metavar="MACHINE", help="only this machine (id, fingerprint "
                                                        "prefix or label)")
    q.add_argument("--limit", type=COUNT, metavar="N", help="at most N runs")
    json_option(q)
    q.set_defaults(handler=run_list, stoppable=True)
    q = dbsub.add_parser("show", help="one run and its results")
    q.add_argument("run", metavar="RUN", help="run id or digest prefix (6 hex digits or more)")
    q.add_argument("--summary", metavar="FILE",
                   help="write the run's summary.json as imported ('-': to stdout) and nothing "
                        "else")
    json_option(q)
    q.set_defaults(handler=run_show, stoppable=True)
    q = dbsub.add_parser("machines", help="the machines and their runs")
    json_option(q)
    q.set_defaults(handler=run_machines, stoppable=True)
    q = dbsub.add_parser("history", help="same as cvp history",
                         description="Same as cvp history (see cvp history --help).")
    history.add_arguments(q)
    for q in dbsub.choices.values():
        if not any(a.dest == "db" for a in q._actions):
            q.add_argument("--db", metavar="PATH_OR_URL", help=DB_HELP)
