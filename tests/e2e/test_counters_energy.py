"""Counters and energy per block, from a real run of the program: every event is either counted
or named once with why, the counted ones appear in every row (the software events, which work
in virtual machines, cover the process's CPU time on every backend), and energy is either in
every row or said once not to be readable. The schema accepts what the program wrote and refuses
the same keys broken."""

import copy
import json

import pytest

from e2e_support import SCHEMA, TINY, load_summary, run

jsonschema = pytest.importorskip("jsonschema")

EVENTS = {"cycles", "instructions", "llc_misses", "stalled_cycles_frontend",
          "stalled_cycles_backend", "task_clock", "context_switches", "cpu_migrations",
          "page_faults"}
HARDWARE = {"cycles", "instructions", "llc_misses", "stalled_cycles_frontend",
            "stalled_cycles_backend"}


@pytest.fixture(scope="module")
def metered_run(cvpbench, tmp_path_factory):
    folder = tmp_path_factory.mktemp("metered") / "out"
    result = run(cvpbench, [*TINY, "--out", str(folder)], cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return load_summary(folder), result


def _row_name(event):
    return "task_clock_s" if event == "task_clock" else event


def test_every_event_is_counted_or_named_once_with_why(metered_run):
    summary, result = metered_run
    counters = summary["machine"]["counters"]
    available, unavailable = set(counters["available"]), counters["unavailable"]
    assert available | set(unavailable) == EVENTS and not available & set(unavailable)
    assert all(why.strip() for why in unavailable.values())
    assert counters["scope"].startswith("the whole process")
    # Said once on the console, where the run starts, with the reasons.
    header = [line for line in result.stderr.splitlines() if line.startswith("counters per block:")]
    assert len(header) == 1, result.stderr
    for event, why in unavailable.items():
        assert event in header[0] and why in header[0]
    # A block pays two reads: a few microseconds against a block of milliseconds.
    assert counters["read_us"] is None or counters["read_us"] < 100


def test_rows_carry_the_counted_events_and_no_other(metered_run):
    summary, _ = metered_run
    available = set(summary["machine"]["counters"]["available"])
    rows = [r for r in summary["results"] if not r.get("error")]
    assert rows
    for row in rows:
        counters = row["counters"]
        if not available:
            assert counters is None
            continue
        counted = set(counters["per_execution"])
        assert counted <= {_row_name(e) for e in available}, row["name"]
        assert not counted & {_row_name(e) for e in EVENTS - available}, row["name"]
        if "task_clock" in available:
            assert counters["per_execution"]["task_clock_s"] > 0, row["name"]
            # Every backend's threads are counted (inherit), teams made per execution too; the
            # task clock leaves out the scheduler's switches, so tiny executions read below 1.
            assert 0.3 < counters["coverage"] < 1.25, (row["name"], counters["coverage"])
        if not {"cycles", "instructions"} <= available:
            assert counters["ipc"] is None
        assert (counters["baseline"] is None) == (row["mode"] == "serial"), row["name"]


def test_energy_is_in_every_row_or_said_once_to_be_unreadable(metered_run):
    summary, result = metered_run
    energy = summary["machine"]["energy"]
    rows = [r for r in summary["results"] if not r.get("error")]
    said = [line for line in result.stderr.splitlines() if line.startswith("energy")]
    assert len(said) == 1, result.stderr
    if energy["readable"]:
        assert energy["zones"]
        assert all(r["energy"] and r["energy"]["package_j"] > 0 for r in rows)
        return
    assert energy["why"].strip() and energy["why"] in said[0]
    assert said[0].startswith("energy: not readable")
    assert all(r["energy"] is None for r in rows)
    assert "the energy" not in result.stdout  # nothing per row


def test_this_vm_counts_software_events_but_no_hardware_ones(metered_run):
    """Where the machine has no PMU (this project's VMs), the hardware events are named with the
    reason and the software events are still counted."""
    summary, _ = metered_run
    counters = summary["machine"]["counters"]
    if "cycles" not in counters["unavailable"] or "no PMU" not in counters["unavailable"]["cycles"]:
        pytest.skip("this machine has a PMU (or forbids perf_event_open)")
    assert HARDWARE <= set(counters["unavailable"])
    assert {"task_clock", "context_switches", "cpu_migrations", "page_faults"} <= set(counters["available"])


BREAKAGES = [
    ("a negative IPC", lambda s, i: s["results"][i]["counters"].update(ipc=-1.0)),
    ("a counted share above 1", lambda s, i: s["results"][i]["counters"].update(counted_share=1.5)),
    ("a count that is text", lambda s, i: s["results"][i]["counters"]["per_execution"].update(task_clock_s="1")),
    ("energy without its ratio", lambda s, i: s["results"][i].update(energy={"package_j": 1.0})),
    ("a reason that is empty", lambda s, i: s["machine"]["counters"]["unavailable"].update(cycles="")),
    ("readable that is text", lambda s, i: s["machine"]["energy"].update(readable="no")),
    ("a cause nobody knows", lambda s, i: s["results"][i].update(
        diagnosis={"cause": "ipc_rose", "line": "x", "figures": {}, "not_seen": []})),
]


@pytest.mark.parametrize("what, breaks", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_schema_accepts_the_new_keys_and_refuses_them_broken(metered_run, what, breaks):
    summary, _ = metered_run
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(summary, schema)
    i = next(k for k, r in enumerate(summary["results"]) if r["counters"] is not None)
    broken = copy.deepcopy(summary)
    breaks(broken, i)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
