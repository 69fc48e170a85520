"""The gate's default time limit inside a duet: a run whose partner has finished gets the limit
that the partner's time sets (LIMIT_FACTOR x the longest run so far, at least MIN_LIMIT_S),
not the FIRST_LIMIT_S (1,800 s) that the first round starts with.

MIN_LIMIT_S is lowered for the tests (the shipped 60 s would make them a minute long); the
factor is the shipped one unless a test says otherwise. The hanging side sleeps far longer
than any limit here, but not 1,800 s, so that a gate without the rule fails the test instead
of hanging it."""

import os
import re
import sys
import time

import pytest

from cvp_testing import fake_cvpbench, fake_pids, pid_alive, wait_for
from cvptools import CvpError, gate

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process groups and /proc")

HANG_S = 40   # longer than every limit below, far shorter than FIRST_LIMIT_S


def test_the_shipped_default_is_the_documented_rule():
    assert (gate.FIRST_LIMIT_S, gate.LIMIT_FACTOR, gate.MIN_LIMIT_S) == (1800, 10, 60)


def test_a_run_that_outlives_its_finished_partner_is_stopped_at_the_default_limit(
        tmp_path, monkeypatch):
    monkeypatch.setattr(gate.supervisor, "MIN_LIMIT_S", 1.0)
    monkeypatch.setattr(gate.supervisor, "LIMIT_FACTOR", 2.0)
    sup = gate.Supervisor(parent=tmp_path, timeout=None)
    assert sup.limit() == gate.FIRST_LIMIT_S  # no run has finished: the duet starts at 1,800 s
    started = time.monotonic()
    try:
        with pytest.raises(CvpError) as caught:
            sup.run_together([
                ([sys.executable, "-c", "import time; time.sleep(0.2)"], str(tmp_path / "e1"),
                 "round 1, baseline (duet)", None),
                ([sys.executable, "-c", f"import time; time.sleep({HANG_S})"],
                 str(tmp_path / "e2"), "round 1, candidate (duet)", None)])
    finally:
        sup.close()
    elapsed = time.monotonic() - started
    text = str(caught.value)
    assert "(round 1, candidate (duet); the default limit: 2 x the longest run so far (the run " \
           "started with it included), at least 1 s" in text, text
    limit = float(re.search(r"still running after ([0-9.]+) s", text).group(1))
    assert 1.0 <= limit < 5.0, text  # max(1 s, 2 x the partner's 0.2 s and its start-up)
    assert limit <= elapsed < limit + gate.KILL_GRACE_S + 10


@pytest.mark.skipif(gate.duet_cpus(gate.allowed_cpus()) is None, reason="a duet needs 2 CPUs")
def test_a_candidate_that_hangs_after_the_baseline_finished_is_stopped(tmp_path, monkeypatch):
    """The gate's own rounds, duet and all, without --timeout-s: the baseline's duet run
    finishes, the candidate's hangs (with a grandchild); the candidate is stopped at 10 x the
    baseline's time (at least MIN_LIMIT_S, lowered here to 1 s), its whole group with it."""
    monkeypatch.setattr(gate.supervisor, "MIN_LIMIT_S", 1.0)
    (tmp_path / "base").mkdir()
    (tmp_path / "cand").mkdir()
    base = fake_cvpbench(tmp_path / "base", "cvpbench", mode="ok")
    cand = fake_cvpbench(tmp_path / "cand", "cvpbench", mode="hang")
    cand.write_text(cand.read_text().replace("time.sleep(600)", f"time.sleep({HANG_S})"))
    sup = gate.Supervisor(parent=tmp_path, timeout=None)
    started = time.monotonic()
    try:
        plan = gate.make_plan(sup, [str(base), str(cand)], [], duet="on")
        assert plan.cpus and not sup.durations  # listing is not a run: the limit is 1,800 s
        with pytest.raises(CvpError, match=r"still running after [0-9.]+ s \(round 1, candidate "
                                           r"\(duet, CPU [0-9]+\); the default limit: 10 x"):
            gate.run_rounds(sup, str(base), str(cand), 2, [], plan=plan)
    finally:
        sup.close()
    elapsed = time.monotonic() - started
    assert elapsed < HANG_S, "the candidate was waited on past the default limit"
    assert fake_pids(tmp_path / "cand", "grandchild"), "the candidate never started its child"
    pids = fake_pids(tmp_path / "cand") + fake_pids(tmp_path / "base")
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)
    assert not os.path.exists(sup.root)
