"""cvp compare can detect what it claims, at the sample sizes runs really have (3, 5, 10).

Proven both ways on real noise: the fixture in golden/repeated/ is one cvpbench run with 20
repetitions per benchmark; its even and odd repetitions make an A/A pair of n a side, and
scaling one side plants a known slowdown. Then on synthetic log-normal noise, many times, the
false-alarm and detection rates the method states."""

import copy
import json
import math
import random
import statistics

import pytest

from cvp_testing import GOLDEN, assert_clean_error, run_cvp, write_json
from cvptools import compare, runio

REPEATED = GOLDEN / "repeated"
SIZES = (3, 5, 10)
QUIET = ("requests/c_us:50/w_us:1000/k:1/mode:serial/backend:threads/threads:1",
         "requests/c_us:50/w_us:1000/k:8/mode:parallel/backend:threads/threads:8")


def _summary():
    return json.loads((REPEATED / "summary.json").read_text())


def _subset(doc, indices, factor=1.0, only=None):
    """A copy of a summary whose results keep the repetitions at `indices`, times scaled by
    `factor` (throughput by 1/factor), and only the results whose work key is in `only`."""
    doc = copy.deepcopy(doc)
    if only is not None:
        doc["results"] = [r for r in doc["results"] if compare.work_key(r["name"]) in only]
    for r in doc["results"]:
        wall = r["wall_s"]
        before = wall["median"]
        samples = [wall["samples"][i] * factor for i in indices]
        wall.update(samples=samples, median=statistics.median(samples),
                    ci95=[min(samples), max(samples)])
        if r.get("throughput"):
            r["throughput"]["value"] *= before / wall["median"]
    return doc


def _pair(tmp_path, n, factor=1.0, only=None):
    """A = even repetitions 0, 2, ...; B = odd ones, scaled: n a side, from one real run."""
    base = _summary()
    a = write_json(tmp_path / f"a{n}" / "summary.json", _subset(base, range(0, 2 * n, 2),
                                                                only=only))
    b = write_json(tmp_path / f"b{n}-{factor}" / "summary.json",
                   _subset(base, range(1, 2 * n, 2), factor, only=only))
    return runio.load_run(a), runio.load_run(b)


def test_fixture_is_a_real_run_with_20_repetitions():
    doc = _summary()
    assert doc["tool"]["name"] == "cvpbench" and doc["config"]["repetitions"] == 20
    assert all(len(r["wall_s"]["samples"]) == 20 for r in doc["results"])
    assert any("/requests:" in r["name"] for r in doc["results"])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", QUIET)
def test_one_benchmark_planted_slowdowns_are_flagged_and_aa_is_not(tmp_path, n, name):
    """One benchmark at a time (no correction for many rows can hide it): at n = 3 the rank
    test's floor p = 0.05 is attainable, so a planted 10% or 25% in a quiet benchmark reads
    slower, and its A/A pair never reads changed."""
    a, b = _pair(tmp_path, n, only={name})
    aa = compare.compare_runs(a, b)["benchmarks"][0]
    assert aa["change"] not in ("slower", "faster"), aa["verdict"]
    for factor in (1.10, 1.25):
        a, b = _pair(tmp_path, n, factor, only={name})
        row = compare.compare_runs(a, b)["benchmarks"][0]
        assert row["change"] == "slower", (factor, row["verdict"], row["ci"])
        assert row["ci"][0] > 1.0 and row["ci"][0] <= factor <= row["ci"][1] * 1.05
        assert row["ratio"] == pytest.approx(factor, rel=0.05)


@pytest.mark.parametrize("n", SIZES)
def test_whole_run_aa_flags_nothing(tmp_path, n):
    result = compare.compare_runs(*_pair(tmp_path, n))
    flagged = [r["name"] for r in result["benchmarks"] if r["change"] in ("slower", "faster")]
    assert flagged == []
    assert all(r["verdict"] != "no significant change" for r in result["benchmarks"])


@pytest.mark.parametrize("n", SIZES)
def test_whole_run_planted_25_percent_is_flagged_everywhere(tmp_path, n):
    result = compare.compare_runs(*_pair(tmp_path, n, 1.25))
    verdicts = {r["name"]: r["verdict"] for r in result["benchmarks"]}
    slower = [r for r in result["benchmarks"] if r["change"] == "slower"]
    # the noisy 2-thread matmul of a busy 2-core machine may not separate at small n; every
    # other benchmark must, and nothing may read faster or unchanged
    assert len(slower) >= len(result["benchmarks"]) - (1 if n < 10 else 0), verdicts
    assert not any(r["change"] in ("faster", "same") for r in result["benchmarks"]), verdicts


@pytest.mark.parametrize("n", SIZES)
def test_whole_run_planted_10_percent_is_flagged_or_said_unresolvable(tmp_path, n):
    """A planted 10% never reads 'no change' or 'faster'. Where a row is not flagged, the
    verdict says why (not across the rows, or a CI wider than the margin)."""
    result = compare.compare_runs(*_pair(tmp_path, n, 1.10))
    rows = result["benchmarks"]
    for r in rows:
        assert r["change"] in ("slower", "inconclusive"), r["verdict"]
        if r["change"] == "inconclusive":
            assert "across 5 rows" in r["verdict"] or "CI beyond" in r["verdict"]
    flagged = sum(r["change"] == "slower" for r in rows)
    assert flagged >= (0 if n == 3 else 4)
    if n == 3:  # the floor p 0.05 in 4 quiet rows is not enough across 5 rows; the footer says so
        statement = result["resolution"][0]["statement"]
        assert "a change is flagged only when at least 5 rows reach p = 0.050 together" in statement
        assert "a lone row needs >= 5 repetitions a side" in statement


def test_footer_states_what_the_verdicts_mean_at_n3(tmp_path):
    a, b = _pair(tmp_path, 3)
    result = compare.compare_runs(a, b)
    group = result["resolution"][0]
    assert (group["n_a"], group["n_b"], group["min_p"]) == (3, 3, 0.05)
    assert group["coverage"] == pytest.approx(0.90)
    text = compare.format_table(result)
    assert "at n=3 vs 3 (5 rows) the smallest attainable one-sided p is 1/C(6,3) = 0.050 (the " \
           "limit: it is at alpha)" in text
    assert "every B time is above (below) every A time" in text
    assert "'no change' means that a row's CI lies within +-5%" in text
    assert "the smallest change these rows can resolve" in text
    assert "* = the smallest p this sample size can give" in text
    assert "Benjamini-Hochberg" in result["method"] and "Hodges-Lehmann" in result["method"]


def test_two_repetitions_say_that_nothing_was_tested_and_what_is_needed(tmp_path):
    base = _summary()
    a = write_json(tmp_path / "a" / "summary.json", _subset(base, [0, 2]))
    b = write_json(tmp_path / "b" / "summary.json", _subset(base, [1, 3], 1.5))
    result = compare.compare_runs(runio.load_run(a), runio.load_run(b))
    assert result["tested"] == 0
    assert all(r["change"] == "untestable" and "needs >= 3 repetitions a side" in r["verdict"]
               for r in result["benchmarks"])
    assert all(r["ci"] is None for r in result["benchmarks"])
    proc = run_cvp("compare", a, b)
    assert proc.returncode == 0, proc.stderr
    assert "NOTHING WAS TESTED: at n=2 vs 2 repetitions the smallest one-sided p a rank test " \
           "can give is 0.167, above alpha 0.05" in proc.stdout
    assert "run both with --repetitions 3 or more" in proc.stdout
    assert "at n=2 vs 2 the smallest one-sided p a rank test can give is 1/C(4,2)" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("matmul/", "requests/"))]
    assert len(rows) == 5 and all(line.endswith("needs >= 3 repetitions a side)") for line in rows)


def test_a_row_with_too_few_samples_says_so(tmp_path):
    base = _summary()
    doc_a, doc_b = _subset(base, range(0, 10, 2)), _subset(base, range(1, 10, 2))
    for doc, keep in ((doc_a, 1), (doc_b, 2)):
        w = doc["results"][0]["wall_s"]
        w["samples"] = w["samples"][:keep]
    a = runio.load_run(write_json(tmp_path / "a.json", doc_a))
    b = runio.load_run(write_json(tmp_path / "b.json", doc_b))
    row = compare.compare_runs(a, b)["benchmarks"][0]
    assert row["change"] == "untestable"
    assert row["verdict"].startswith("untestable at n=1 vs 2") and "needs >= 3" in row["verdict"]


def test_stricter_alpha_makes_n3_untestable(tmp_path):
    a, b = _pair(tmp_path, 3, 1.25)
    result = compare.compare_runs(a, b, alpha=0.01)
    assert result["tested"] == 0
    assert "run both with --repetitions 5 or more" in result["notes"][0]
    assert all(r["change"] == "untestable" for r in result["benchmarks"])


def test_margin_decides_between_no_change_and_a_small_change(tmp_path):
    rng = random.Random(5)
    a = [_lognormal(rng, 10, 0.003)]
    small = [_lognormal(rng, 10, 0.003, 1.03)]
    row = _row_verdicts(a, small, tmp_path, "small")[0]
    assert row["verdict"] == "slower, within +-5%" and row["change"] is None
    runs = [runio.load_run(tmp_path / f"small-{s}.json") for s in "ab"]
    row = compare.compare_runs(*runs, margin=0.02)["benchmarks"][0]
    assert row["verdict"] == "slower" and row["change"] == "slower"
    same = [_lognormal(rng, 10, 0.003)]
    row = _row_verdicts(a, same, tmp_path, "same")[0]
    assert row["verdict"] == "no change (within +-5%)" and row["change"] == "same"
    runs = [runio.load_run(tmp_path / f"same-{s}.json") for s in "ab"]
    row = compare.compare_runs(*runs, margin=0.001)["benchmarks"][0]
    assert row["verdict"].startswith("inconclusive (CI beyond +-0.1%)")


def test_cli_margin_and_correction_options(tmp_path):
    a, b = _pair(tmp_path, 5, 1.10)
    proc = run_cvp("compare", a.path, b.path, "--json", "-", "--margin", "3%",
                   "--correction", "none", "--resamples", "500", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["margin"] == pytest.approx(0.03) and doc["correction"] == "none"
    assert all(r["p_slower_adj"] == r["p_slower"] for r in doc["benchmarks"])
    for bad, fragment in (("nan", "not a finite number"), ("-1%", "must be a fraction"),
                          ("inf", "not a finite number")):
        proc = run_cvp("compare", a.path, b.path, f"--margin={bad}")
        assert_clean_error(proc, fragment)
    assert_clean_error(run_cvp("compare", a.path, b.path, "--alpha", "0.6"), "below 0.5")


# --- the method's own error rates, on synthetic noise ------------------------------------------

def _lognormal(rng, n, sigma, factor=1.0):
    return [factor * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def _row_verdicts(a_samples, b_samples, tmp_path, tag):
    """Verdicts of a comparison whose rows are the given sample lists (one row per pair)."""
    def doc(samples):
        base = _summary()
        proto = next(r for r in base["results"] if r["kind"] == "cpu")
        results = []
        for i, s in enumerate(samples):
            r = copy.deepcopy(proto)
            r["name"] = f"matmul/n:{100 + i}/mode:serial/backend:threads/threads:1"
            r["params"] = {"n": 100 + i}
            r["wall_s"].update(samples=s, median=statistics.median(s), ci95=[min(s), max(s)])
            results.append(r)
        base["results"] = results
        return base
    a = runio.load_run(write_json(tmp_path / f"{tag}-a.json", doc(a_samples)))
    b = runio.load_run(write_json(tmp_path / f"{tag}-b.json", doc(b_samples)))
    return compare.compare_runs(a, b, correction="none")["benchmarks"]


@pytest.mark.parametrize("n,aa_max,detect_10_min", [(3, 0.05, 0.97), (5, 0.05, 0.99),
                                                    (10, 0.05, 0.99)])
def test_error_rates_on_synthetic_noise(tmp_path, n, aa_max, detect_10_min):
    """400 rows of 2% log-normal noise: an A/A row reads slower at most alpha of the time (the
    exact test's level: 1/20 at n=3); a 10% slowdown reads slower almost always, already at
    n=3; nothing planted ever reads faster or unchanged."""
    rng = random.Random(n)
    rows = 400
    aa = _row_verdicts([_lognormal(rng, n, 0.02) for _ in range(rows)],
                       [_lognormal(rng, n, 0.02) for _ in range(rows)], tmp_path, f"aa{n}")
    significant = sum(r["p_slower"] <= 0.05 for r in aa) / rows
    assert significant <= aa_max + 3 * math.sqrt(aa_max * (1 - aa_max) / rows)
    assert sum(r["change"] == "slower" for r in aa) <= significant * rows  # margin only removes
    planted = _row_verdicts([_lognormal(rng, n, 0.02) for _ in range(rows)],
                            [_lognormal(rng, n, 0.02, 1.10) for _ in range(rows)], tmp_path,
                            f"p{n}")
    assert sum(r["change"] == "slower" for r in planted) / rows >= detect_10_min
    assert not any(r["change"] in ("faster", "same") for r in planted)


def test_bh_keeps_a_synthetic_aa_family_quiet_where_per_row_tests_do_not(tmp_path):
    """50 A/A comparisons of 20 rows at n=5: per-row verdicts flag some row in most of them;
    with Benjamini-Hochberg at most about alpha x 2 directions of the families flag anything."""
    rng = random.Random(99)
    families, noisy_raw, noisy_bh = 50, 0, 0
    for f in range(families):
        a = [_lognormal(rng, 5, 0.03) for _ in range(20)]
        b = [_lognormal(rng, 5, 0.03) for _ in range(20)]
        rows = _row_verdicts(a, b, tmp_path, f"fam{f}")
        noisy_raw += any(min(r["p_slower"], r["p_faster"]) <= 0.05 for r in rows)
        docs = [runio.load_run(tmp_path / f"fam{f}-{s}.json") for s in "ab"]
        bh = compare.compare_runs(*docs)["benchmarks"]
        noisy_bh += any(r["change"] in ("slower", "faster") for r in bh)
    assert noisy_raw >= families * 0.5
    assert noisy_bh <= families * 0.1 + 2


@pytest.mark.parametrize("n", SIZES)
def test_overall_shift_is_seen_at_every_n(tmp_path, n):
    """Reassigning whole repetitions between A and B sees a whole-run 10% shift even at n=3,
    where no row can pass the correction alone (its floor there is 1/20, like a row's)."""
    for factor in (1.10, 1.25):
        result = compare.compare_runs(*_pair(tmp_path, n, factor))
        overall = result["overall"]
        assert overall["change"] == "slower" and overall["rows"] == 5, overall
        assert overall["p_slower"] == pytest.approx(1 / math.comb(2 * n, n)) if n < 8 else \
            overall["p_slower"] < 1e-3
        assert "B is slower overall across the 5 rows" in compare.format_table(result)
    assert compare.compare_runs(*_pair(tmp_path, n, 0.9))["overall"]["change"] == "faster"


@pytest.mark.parametrize("n,families", [(3, 120), (5, 120), (10, 60)])
def test_overall_aa_level_on_real_noise(tmp_path, n, families):
    """A/A pairs drawn at random from one real run's 20 repetitions: the overall test reads a
    shift in either direction at about its level, not more (repetitions move whole, with the
    noise the benchmarks share)."""
    rng = random.Random(1000 + n)
    base = _summary()
    hits = 0
    for f in range(families):
        idx = list(range(20))
        rng.shuffle(idx)
        a = runio.load_run(write_json(tmp_path / "a.json", _subset(base, sorted(idx[:n]))))
        b = runio.load_run(write_json(tmp_path / "b.json", _subset(base, sorted(idx[n:2 * n]))))
        hits += compare.compare_runs(a, b)["overall"]["change"] is not None
    rate = hits / families
    assert rate <= 0.10 + 3 * math.sqrt(0.10 * 0.90 / families), rate


def _ragged(doc, start, counts, factor=1.0):
    """A copy of a summary whose k-th result keeps `counts[k]` of the repetitions start,
    start + 2, ...: the uneven repetition counts of a run kept to its budget on a busy machine."""
    doc = copy.deepcopy(doc)
    for r, count in zip(doc["results"], counts):
        wall = r["wall_s"]
        before = wall["median"]
        samples = [wall["samples"][i] * factor for i in range(start, start + 2 * count, 2)]
        wall.update(samples=samples, median=statistics.median(samples),
                    ci95=[min(samples), max(samples)])
        if r.get("throughput"):
            r["throughput"]["value"] *= before / wall["median"]
    return doc


def test_overall_uses_rows_of_uneven_repetition_counts(tmp_path):
    """Rows that got 5 to 9 repetitions each (no two alike) still get the overall test, over
    the first repetitions they share; it sees a planted 10% slowdown and is silent on A/A."""
    base = _summary()
    counts_a, counts_b = [5, 6, 7, 8, 9], [9, 8, 7, 6, 5]
    a = runio.load_run(write_json(tmp_path / "a.json", _ragged(base, 0, counts_a)))
    for factor, change in ((1.10, "slower"), (1.0, None)):
        b = runio.load_run(write_json(tmp_path / f"b{factor}.json",
                                      _ragged(base, 1, counts_b, factor)))
        result = compare.compare_runs(a, b)
        overall = result["overall"]
        assert overall is not None, "rows of uneven counts got no overall test"
        assert overall["change"] == change, overall
        assert overall["rows"] >= 2
        assert "over the first" in overall["statement"]
        assert "overall:" in compare.format_table(result)
