"""The example CI workflow (.github/workflows/bench.yml) calls cvp as it exists: every
`scripts/cvp` command in it parses with cvp's own parser, and its history steps (import, cvp
history --regressions --markdown, cvp dashboard) run as written against a database that
carries over from one job to the next."""

import re
import shlex
from pathlib import Path

import pytest

from cvp_testing import ROOT, run_cvp
from cvptools import cli
from test_db import STEPPED, make_runs

WORKFLOW = ROOT / ".github" / "workflows" / "bench.yml"


def cvp_commands():
    """Each `"$PYTHON" scripts/cvp ...` command of the workflow's run blocks, as argv."""
    text = WORKFLOW.read_text()
    text = re.sub(r"\\\n\s*", " ", text)                     # line continuations
    text = re.sub(r"\$\{\{[^}]*\}\}", "X", text)              # GitHub expressions
    out = []
    for line in text.splitlines():
        m = re.search(r'"\$PYTHON" scripts/cvp (.*)$', line)
        if m:
            out.append(shlex.split(m.group(1).split(" #")[0]))
    return out


def test_every_cvp_command_of_the_workflow_parses():
    commands = cvp_commands()
    names = {c[0] for c in commands}
    assert {"gate", "db", "history", "dashboard", "plot", "report", "export"} <= names
    parser, _ = cli.build_parser()
    for argv in commands:
        argv, _ = cli._split_passthrough(argv)
        try:
            parser.parse_args(argv)
        except SystemExit:  # the parser printed why
            pytest.fail(f"the workflow's command does not parse: cvp {' '.join(argv)}")


def test_the_workflows_history_steps_over_two_jobs(tmp_path):
    """Two jobs in a row with the database carried over (the cache): the first sees no
    regression, the second brings a planted 12% slowdown that makes one appear."""
    commands = {c[0]: c for c in cvp_commands() if c[0] in ("history",)}
    history = commands["history"]
    assert "--regressions" in history and "--markdown" in history
    db = tmp_path / "cvpbench-db" / "results.sqlite"
    runs = tmp_path / "runs"
    before = make_runs(runs, 24, step=(24, 1.12))
    after = make_runs(runs, 4, step=(24, 1.12), first=24)

    def job(paths):
        assert run_cvp("db", "import", "--db", db, "--machine", "github-Linux-X64",
                       "--report-url", "https://example.invalid/runs/1", *paths).returncode == 0
        md = tmp_path / "changes.md"
        if md.exists():
            md.unlink()
        proc = run_cvp("history", "--db", db, "--regressions", "--min-change", "3%",
                       "--markdown", md, "--json", tmp_path / "changes.json", "--force")
        return proc, md.read_text()

    proc, md = job(before)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "**0 new regression(s)**" in md
    proc, md = job(after)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "**1 new regression(s)**" in md and STEPPED in md
