"""The example CI workflow (.github/workflows/bench.yml) calls cvp as it exists: every
`scripts/cvp` command in it parses with cvp's own parser, and its history steps (import, cvp
history --regressions --markdown, cvp dashboard) run as written against a database that
carries over from one job to the next. The workflow passes actionlint and its run: scripts
pass shellcheck (both installed by scripts/setup-deps.sh --test; CI requires them), and its
cache keys restore what they should: a pull request its base branch's database."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cvp_testing import ROOT, actionlint_package, needed_tool, run_cvp
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


# --- actionlint and shellcheck ----------------------------------------------------------------

def _workflow():
    try:
        import yaml
    except ImportError:
        why = "PyYAML is not installed (python3-yaml: bash scripts/setup-deps.sh --test)"
        if os.environ.get("CVP_REQUIRE_TEST_TOOLS") == "1":
            pytest.fail(f"CVP_REQUIRE_TEST_TOOLS=1 but {why}")
        pytest.skip(why)
    return yaml.safe_load(WORKFLOW.read_text())


def _actionlint(*files):
    node = needed_tool("node")
    package = needed_tool("actionlint", actionlint_package())
    proc = subprocess.run([node, str(ROOT / "tests" / "python" / "actionlint.cjs"), package,
                           *map(str, files)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_actionlint_finds_nothing_in_the_workflow(tmp_path):
    assert _actionlint(WORKFLOW) == []
    # The same linter on a copy with a context that does not exist: it does look.
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace("${{ github.run_id }}", "${{ github.run_idd }}"))
    found = _actionlint(bad)
    assert found and all("run_idd" in f["message"] for f in found), found


def run_scripts(doc):
    """(job and step, script) of every run: block, each ${{ }} expression replaced by as many
    underscores (as actionlint does before it hands a script to shellcheck)."""
    out = []
    for job_name, job in doc["jobs"].items():
        for i, step in enumerate(job.get("steps") or []):
            if "run" in step:
                script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group()), step["run"],
                                flags=re.S)
                out.append((f"{job_name}: {step.get('name', i)}", script))
    return out


def _shellcheck(script):
    shellcheck = needed_tool("shellcheck")
    # bash, as GitHub runs a run: block on Linux; sourced files followed from the repository's
    # root, where the steps run.
    proc = subprocess.run([shellcheck, "--shell=bash", "--external-sources", "--format=gcc",
                           "-"], input=script, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def test_every_run_script_passes_shellcheck():
    scripts = run_scripts(_workflow())
    assert len(scripts) >= 8
    for where, script in scripts:
        assert _shellcheck(script) == "", (where, _shellcheck(script))
    # Every cd is checked: the form the workflow had is what shellcheck flags (SC2164).
    assert any('cd "$RUNNER_TEMP/base" || exit' in script for _, script in scripts)
    assert "SC2164" in _shellcheck('cd "$RUNNER_TEMP/base"\ncmake --preset release\n')


# --- cache keys -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(==|!=|&&|\|\||\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)")


def gh_eval(expr, ctx):
    """A GitHub Actions expression of context values, string literals, ==, !=, && and || (what
    the workflow's keys use), evaluated as GitHub does: && and || give one of their operands,
    '' is false, == compares strings ignoring case."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m, f"cannot read {expr[pos:]!r}"
        tokens.append(m.group(1))
        pos = m.end()
    tokens.append(None)
    at = [0]

    def take():
        at[0] += 1
        return tokens[at[0] - 1]

    def primary():
        t = take()
        if t == "(":
            v = either()
            assert take() == ")"
            return v
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        literals = {"true": True, "false": False, "null": None}
        if t in literals:
            return literals[t]
        assert t in ctx, f"the test gives no value for {t}"
        return ctx[t]

    def equality():
        v = primary()
        while tokens[at[0]] in ("==", "!="):
            op, w = take(), primary()
            same = str(v).lower() == str(w).lower()
            v = same if op == "==" else not same
        return v

    def both():
        v = equality()
        while tokens[at[0]] == "&&":
            take()
            w = equality()
            v = w if v else v
        return v

    def either():
        v = both()
        while tokens[at[0]] == "||":
            take()
            w = both()
            v = v if v else w
        return v
    value = either()
    assert tokens[at[0]] is None, expr
    return value


def gh_text(text, ctx):
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(gh_eval(m.group(1), ctx)), text)


def _context(event, ref_name, run_id, base_ref="", head_ref=""):
    return {"github.event_name": event, "github.ref_name": ref_name, "github.run_id": run_id,
            "github.base_ref": base_ref, "github.head_ref": head_ref}


PUSH = _context("push", "main", "100")
PR = _context("pull_request", "7/merge", "300", base_ref="main", head_ref="feature")


def cache_steps(doc):
    steps = doc["jobs"]["bench"]["steps"]
    restore = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache/restore")]
    save = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache/save")]
    assert len(restore) == 1 and len(save) == 1
    return restore[0]["with"], save[0]["with"]


def restored(restore, ctx, saved):
    """The key actions/cache restores: the exact key, else the newest cache whose key starts
    with the first restore key that any cache matches. saved: keys, oldest first."""
    key = gh_text(restore["key"], ctx)
    if key in saved:
        return key
    for prefix in restore_keys(restore["restore-keys"], ctx):
        hits = [k for k in saved if k.startswith(prefix)]
        if hits:
            return hits[-1]
    return None


def restore_keys(block, ctx):
    return [gh_text(line.strip(), ctx) for line in block.splitlines() if line.strip()]


OLD_RESTORE_KEYS = """cvpbench-db-${{ github.head_ref || github.ref_name }}-
cvpbench-db-${{ github.base_ref || 'main' }}-
cvpbench-db-main-
"""


def dead_keys(block, save):
    """Restore keys of a pull request that no save, by any run of the workflow, can match:
    saves run on pushes to main and on pull requests (under their own N/merge)."""
    saves = [gh_text(save["key"], ctx) for ctx in
             (PUSH, _context("push", "main", "1"), PR, _context("pull_request", "7/merge", "2",
                                                               "main", "feature"))]
    return [k for k in restore_keys(block, PR) if not any(s.startswith(k) for s in saves)]


def test_a_pull_request_restores_its_base_branchs_database():
    restore, save = cache_steps(_workflow())
    main_db = gh_text(save["key"], PUSH)
    earlier_pr_db = gh_text(save["key"], _context("pull_request", "7/merge", "250", "main",
                                                  "feature"))
    assert main_db == "cvpbench-db-main-100" and earlier_pr_db == "cvpbench-db-7/merge-250"
    # A pull request's run starts from main's history, not from its own earlier runs (which
    # would make a regression it brought old news on its next push).
    assert restored(restore, PR, [earlier_pr_db, main_db]) == main_db
    assert restored(restore, PR, [main_db, earlier_pr_db]) == main_db
    # A rerun of the same run gets the database it saved (its import then adds nothing).
    own = gh_text(save["key"], PR)
    assert restored(restore, PR, [main_db, own]) == own
    # A push to main continues main's history and never takes a pull request's.
    assert restored(restore, _context("push", "main", "400"), [main_db, earlier_pr_db]) \
        == main_db
    # A pull request into another branch, which has no database of its own: main's.
    other = _context("pull_request", "8/merge", "500", base_ref="release", head_ref="fix")
    assert restored(restore, other, [main_db, earlier_pr_db]) == main_db
    # Every restore key can match a cache some run saves; the workflow's old head_ref key could
    # not, whatever was saved.
    assert dead_keys(restore["restore-keys"], save) == []
    assert dead_keys(OLD_RESTORE_KEYS, save) == ["cvpbench-db-feature-"]

