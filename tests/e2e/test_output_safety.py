"""What cvpbench writes, and only that: links it did not make are never followed, both files are
published whole or neither is, one run per folder, and signals that must not lose a run.

Each class is tried several ways; the mechanism under test is the run folder (src/report/output.h):
a private staging folder, O_EXCL|O_NOFOLLOW files, publication without replacing, a lock."""

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e_support import TINY, load_summary, run, start, wait_for_text

LONG = [a if a != "2" else "400" for a in TINY]


def _plant_victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    return victim


def _nothing_of_ours(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


# --- 1. links it did not make --------------------------------------------------------------

def _run_into_a_link(cvpbench, tmp_path, name):
    """A run into a folder where `name` is a link to a file of the user's: (the user's file,
    the folder, the run's result)."""
    victim = _plant_victim(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / name).symlink_to(victim)
    return victim, folder, run(cvpbench, [*TINY, "--out", str(folder)], cwd=tmp_path)


@pytest.mark.parametrize("name", ["benchmark.json", "summary.json"])
def test_a_link_under_a_result_name_is_refused_and_not_followed(cvpbench, tmp_path, name):
    victim, folder, result = _run_into_a_link(cvpbench, tmp_path, name)
    assert result.returncode == 2, result.stderr
    assert "already holds" in result.stderr
    assert victim.read_text() == "the user's file\n"
    assert (folder / name).is_symlink()


@pytest.mark.parametrize("name", [".benchmark.json.partial", ".cvpbench-write-test",
                                  ".summary.json.tmp.1", "staging"])
def test_links_under_other_names_are_left_alone(cvpbench, tmp_path, name):
    victim, folder, result = _run_into_a_link(cvpbench, tmp_path, name)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "the user's file\n"
    for published in ("benchmark.json", "summary.json"):
        path = folder / published
        assert path.is_file() and not path.is_symlink()
        json.loads(path.read_text())
    assert _nothing_of_ours(folder) == sorted(["benchmark.json", "summary.json", name])


def test_a_link_that_appears_during_the_run_is_not_replaced(cvpbench, tmp_path):
    victim = _plant_victim(tmp_path)
    folder = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    medium = [a if a != "2" else "60" for a in TINY]
    process = start(cvpbench, [*medium, "--out", str(folder)], tmp_path, log)
    assert wait_for_text(process, log, "benchmarks x"), log.read_text()
    (folder / "summary.json").symlink_to(victim)
    assert process.wait(timeout=300) == 1, log.read_text()
    assert "cannot publish" in log.read_text()
    assert victim.read_text() == "the user's file\n"
    # Neither file was published: the one moved first was moved back.
    assert _nothing_of_ours(folder) == ["summary.json"]


# --- 2. torn files ---------------------------------------------------------------------------

def _limit_file_size(size):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


@pytest.mark.parametrize("limit", [1, 4096, 60_000])
def test_a_file_size_limit_publishes_nothing_and_says_so(cvpbench, tmp_path, limit):
    folder = tmp_path / "out"
    result = subprocess.run([str(cvpbench), *TINY, "--out", str(folder)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            preexec_fn=_limit_file_size(limit))
    assert result.returncode == 1, result.stderr
    assert result.returncode != -signal.SIGXFSZ
    assert "nothing was published" in result.stderr or "cannot" in result.stderr
    assert not folder.exists(), _nothing_of_ours(folder)


def test_a_failed_run_keeps_the_users_folder_and_only_removes_its_own(cvpbench, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    result = subprocess.run([str(cvpbench), *TINY, "--out", str(folder)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            preexec_fn=_limit_file_size(4096))
    assert result.returncode == 1
    assert _nothing_of_ours(folder) == ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "keep me\n"


# --- 3. two runs, one folder -------------------------------------------------------------------

@pytest.mark.parametrize("existing", [False, True])
def test_a_second_run_into_the_same_folder_is_refused(cvpbench, tmp_path, existing):
    folder = tmp_path / "shared"
    if existing:
        folder.mkdir()
    log = tmp_path / "first.txt"
    first = start(cvpbench, [*LONG, "--out", str(folder)], tmp_path, log)
    assert wait_for_text(first, log, "about", count=3), log.read_text()
    second = run(cvpbench, [*TINY, "--out", str(folder)], cwd=tmp_path)
    assert second.returncode == 2, second.stderr
    assert "another cvpbench run" in second.stderr
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) == 130
    summary = load_summary(folder)
    assert summary["interrupted"] is True
    json.loads((folder / "benchmark.json").read_text())
    # And after the first has finished, its results are not replaced either.
    third = run(cvpbench, [*TINY, "--out", str(folder)], cwd=tmp_path)
    assert third.returncode == 2 and "already holds" in third.stderr


def test_many_default_folders_started_together_are_all_distinct(cvpbench, tmp_path):
    processes = [subprocess.Popen([str(cvpbench), *TINY], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    for p in processes:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    runs = list((tmp_path / "cvpbench-runs").iterdir())
    assert len(runs) == 3
    for folder in runs:
        assert _nothing_of_ours(folder) == ["benchmark.json", "summary.json"]


# --- 4. signals ----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_hangup_and_terminate_keep_what_was_measured(cvpbench, tmp_path, sig):
    folder = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    process = start(cvpbench, [*LONG, "--out", str(folder)], tmp_path, log)
    assert wait_for_text(process, log, "about", count=10), log.read_text()
    process.send_signal(sig)
    assert process.wait(timeout=120) == 130, log.read_text()
    summary = load_summary(folder)
    assert summary["interrupted"] is True and summary["results"]
    assert _nothing_of_ours(folder) == ["benchmark.json", "summary.json"]


def test_a_stop_and_resume_is_flagged_and_kept_out_of_the_medians(cvpbench, tmp_path):
    folder = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    args = ["--filter", "^matmul/n:256/mode:serial/backend:threads/", "--size", "256",
            "--repetitions", "120", "--min-time", "0.05", "--out", str(folder)]
    process = start(cvpbench, args, tmp_path, log)
    assert wait_for_text(process, log, "about", count=3), log.read_text()
    # Three stops of 0.6 s: nearly all of the run is timed, so at least one lands in a timed
    # loop (each timed repetition is about 50 products of about 1 ms).
    for _ in range(3):
        process.send_signal(signal.SIGSTOP)
        time.sleep(0.6)
        process.send_signal(signal.SIGCONT)
        time.sleep(0.3)
    assert process.wait(timeout=300) == 0, log.read_text()
    summary = load_summary(folder)
    (result,) = summary["results"]
    excluded = result["excluded_samples"]["wall_s"]
    assert excluded and "stopped" in result["excluded_samples"]["reason"]
    # A stop of 0.6 s over about 50 products adds about 12 ms to a product of about 1 ms (a
    # stop can also straddle two repetitions and add little to each).
    kept = sorted(result["wall_s"]["samples"])
    assert max(excluded) > 3 * kept[len(kept) // 2], (excluded, kept)
    assert max(excluded) > max(kept), (excluded, kept)
    assert summary["noisy"] is True
    assert any("stopped and resumed" in r for r in summary["noise_reasons"])


def test_a_run_without_a_stop_excludes_nothing_for_a_stop(cvpbench, tmp_path):
    folder = tmp_path / "out"
    result = run(cvpbench, [*TINY, "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = load_summary(folder)
    # Blocks other work disturbed may be set aside (a busy machine); none for a stop.
    for r in summary["results"]:
        for why in r.get("excluded_samples", {}).get("reasons", []):
            assert "stopped" not in why, (r["name"], why)
    assert not any("stopped and resumed" in r for r in summary["noise_reasons"])


def test_a_full_stdout_is_an_error(cvpbench, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    folder = tmp_path / "out"
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(cvpbench), *TINY, "--out", str(folder)], cwd=tmp_path,
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 1
    assert "standard output" in result.stderr
    # The results were written before the table: they are kept.
    json.loads((folder / "summary.json").read_text())


# --- found by a hostile test: the environment a run starts in --------------------------------

def test_a_hangup_ignored_on_entry_stays_ignored(cvpbench, tmp_path):
    """nohup cvpbench ... : a closed terminal must not stop the run."""
    folder = tmp_path / "out"
    log = tmp_path / "stderr.txt"
    process = subprocess.Popen([str(cvpbench), *LONG, "--out", str(folder)], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert wait_for_text(process, log, "about", count=5), log.read_text()
    process.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)  # then stop it the ordinary way
    assert process.wait(timeout=120) == 130
    assert "interrupted" in log.read_text()
    # Had the hangup counted, the Ctrl-C would have been the second signal: quit, no files.
    assert "interrupted again" not in log.read_text()
    assert load_summary(folder)["interrupted"] is True


def test_closed_standard_descriptors_do_not_end_up_in_the_results(cvpbench, tmp_path):
    folder = tmp_path / "out"

    def close_all():
        for fd in (0, 1, 2):
            os.close(fd)
    result = subprocess.run([str(cvpbench), *TINY, "--out", str(folder)], cwd=tmp_path,
                            preexec_fn=close_all, timeout=300)
    assert result.returncode == 0
    raw = (folder / "benchmark.json").read_text()
    assert "about" not in raw
    json.loads(raw)


@pytest.mark.parametrize("variable,value", [("OMP_PROC_BIND", "true"), ("OMP_PLACES", "cores"),
                                            ("GOMP_CPU_AFFINITY", "0")])
def test_openmp_binding_variables_are_refused(cvpbench, tmp_path, variable, value):
    env = dict(os.environ, **{variable: value})
    folder = tmp_path / "out"
    result = subprocess.run([str(cvpbench), *TINY, "--out", str(folder)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"{variable}={value}" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not folder.exists()


def test_an_odd_folder_name_is_printed_on_one_line(cvpbench, tmp_path):
    folder = tmp_path / "two\nlines\x1b[31m"
    result = run(cvpbench, [*TINY, "--out", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith("results: ")]
    assert len(line) == 1 and "\x1b" not in line[0] and "two\\nlines\\x1b[31m" in line[0]
    json.loads((folder / "summary.json").read_text())
