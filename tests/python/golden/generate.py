"""Regenerate the golden inputs: realistic cvpbench summaries and raw Google Benchmark JSON.

    /usr/bin/python3 tests/python/golden/generate.py

Deterministic (fixed seeds). The numbers follow simple models of the machines (Amdahl for
matmul, min(K, P(c+w)/c) times an efficiency for requests) plus log-normal noise, so charts and
statistics have something realistic to chew on. Only numpy is needed.
"""

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPS = 5


def bootstrap_speedup(base, samples, rng, resamples=2000):
    base, samples = np.asarray(base), np.asarray(samples)
    mb = np.median(base[rng.integers(0, len(base), (resamples, len(base)))], axis=1)
    ms = np.median(samples[rng.integers(0, len(samples), (resamples, len(samples)))], axis=1)
    lo, hi = np.percentile(mb / ms, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def ci_of_median(samples):
    s = sorted(samples)
    return [s[0], s[-1]]  # order statistics: with 5 samples, min..max covers the median at 94%


def machine(kind):
    if kind == "runner":
        return {
            "cpu_model": "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz",
            "logical_cpus": 2, "physical_cores": 2, "allowed_cpus": [0, 1], "allowed_cores": 2,
            "smt": False,
            "caches": [{"level": 1, "type": "Data", "size_bytes": 49152, "shared_by": 1},
                       {"level": 1, "type": "Instruction", "size_bytes": 32768, "shared_by": 1},
                       {"level": 2, "type": "Unified", "size_bytes": 1310720, "shared_by": 1},
                       {"level": 3, "type": "Unified", "size_bytes": 50331648, "shared_by": 2}],
            "governor": "absent", "compiler": "GNU 12.2.0", "flags": "-O3 -DNDEBUG",
            "libraries": {"tbb": "2021.8.0", "openmp": "201511", "benchmark": "1.7.1",
                          "nlohmann_json": "3.11.2"},
            "os": "Linux 6.1.0-18-cloud-amd64 (Debian GNU/Linux 12)", "host": "ci-runner-7",
            "date": "2024-06-01T10:15:02Z", "pinning_supported": True,
        }
    return {
        "cpu_model": "AMD Ryzen 7 5800X 8-Core Processor",
        "logical_cpus": 16, "physical_cores": 8, "allowed_cpus": list(range(16)),
        "allowed_cores": 8, "smt": True,
        "caches": [{"level": 1, "type": "Data", "size_bytes": 32768, "shared_by": 2},
                   {"level": 2, "type": "Unified", "size_bytes": 524288, "shared_by": 2},
                   {"level": 3, "type": "Unified", "size_bytes": 33554432, "shared_by": 16}],
        "governor": "performance", "compiler": "Clang 15.0.6", "flags": "-O3 -march=native",
        "libraries": {"tbb": "2021.8.0", "openmp": "LLVM 15", "benchmark": "1.7.1",
                      "nlohmann_json": "3.11.2"},
        "os": "Linux 6.1.0-21-amd64 (Debian GNU/Linux 12)", "host": "workstation",
        "date": "2024-06-02T08:00:41Z", "pinning_supported": True,
    }


def auto_requests(c, w, k, cores):
    """The request count cvpbench picks in --quick mode (RequestWorkload::auto_requests,
    src/api/request_workload.cc)."""
    concurrency = min(k, cores * (c + w) / max(c, 1e-3))
    estimate = 0.08 * concurrency / ((c + w) * 1e-6)
    lower = max(60.0, 2.0 * k)
    return int(min(max(estimate, lower), max(lower, 20000.0)))


class Builder:
    """Results shaped like cvpbench's: names from src/api/workload.cc (Point::name), speedups
    against the serial point of the same group, per unit of work."""

    def __init__(self, seed, cores, logical, noise=0.015):
        self.rng = np.random.default_rng(seed)
        self.cores = cores
        self.logical = logical
        self.noise = noise
        self.results = []
        self.serial = {}

    def samples(self, centre):
        return [round(float(centre * math.exp(self.rng.normal(0, self.noise))), 9)
                for _ in range(REPS)]

    def add(self, name, group, workload, kind, params, mode, backend, threads, in_flight, cores,
            wall, units, bound, throughput_unit, work, label="", extra=None):
        samples = self.samples(wall)
        med = float(np.median(samples))
        per_unit = [s / units for s in samples]
        key = group if kind == "io" else (group, backend)
        if mode == "serial":
            self.serial[key] = (name, per_unit, samples)
        base_name, base_per_unit, base_samples = self.serial[key]
        speedup = float(np.median(base_per_unit) / np.median(per_unit))
        effective = min(threads, cores)
        busy = min(1.0, 0.97 * effective / cores) if kind == "cpu" else min(0.9, 0.05 * in_flight)
        r = {
            "name": name, "workload": workload, "kind": kind, "params": params, "mode": mode,
            "backend": backend, "threads": threads, "in_flight": in_flight, "cores": cores,
            "label": label,
            "wall_s": {"median": med, "ci95": ci_of_median(samples), "ci_coverage": 0.9375,
                       "samples": samples},
            "cpu_s": round(med * cores * busy, 9),
            "cpu_per_wall": round(cores * busy, 4),
            "throughput": {"value": round(work / med, 3), "unit": throughput_unit},
            "speedup": {"value": round(speedup, 4),
                        "ci95": [1.0, 1.0] if mode == "serial"
                        else bootstrap_speedup(base_per_unit, per_unit, self.rng),
                        "baseline": base_name,
                        "baseline_wall_s": float(np.median(base_samples))},
            "efficiency": round(speedup / bound, 4),
            "bound": bound,
            "karp_flatt": round((1 / speedup - 1 / effective) / (1 - 1 / effective), 4)
            if kind == "cpu" and mode == "parallel" and cores > 1 and threads > 1 else None,
            "evidence": {"cpus_seen": list(range(cores)), "intended_cpus": list(range(cores)),
                         "pinned": True, "pin_failures": 0, "threads_seen": threads,
                         "ctx_switches": {"voluntary": 3 + 2 * in_flight,
                                          "involuntary": 1 + threads}},
            "verified": True,
        }
        if extra:
            r.update(extra)
        self.results.append(r)
        return r


def matmul(b, n, concurrent_k, parallel_threads, f_by_backend, serial_s):
    flops = 2.0 * n ** 3 / 1e9
    for backend, f in f_by_backend.items():
        def add(mode, threads, cores, wall, bound, label=""):
            b.add(f"matmul/n:{n}/mode:{mode}/backend:{backend}/threads:{threads}",
                  f"matmul/n:{n}", "matmul", "cpu", {"n": n}, mode, backend, threads, threads,
                  cores, wall, 1, bound, "GFLOP/s", flops, label)
        add("serial", 1, 1, serial_s, 1.0)
        add("concurrent", concurrent_k, 1, serial_s / 0.97, 1.0)
        for t in parallel_threads:
            p = min(t, b.cores)
            s = 1.0 / (f + (1 - f) / p) * (0.99 if p == 1 else 1.0)
            label = ""
            if t > b.logical:
                label, s = "oversubscribed", s * 0.93
            elif t > b.cores:
                label, s = "smt", s * 1.12
            add("parallel", t, p, serial_s / s, float(p), label)


def requests_point(b, c, w, k, mode, backend, crossover, eff):
    cores = min(k, b.cores) if mode == "parallel" else 1
    threads = 1 if mode == "serial" else (k if backend == "threads" else
                                          (1 if mode == "concurrent" else cores))
    requests = auto_requests(c, w, k, cores)
    params = {"c_us": c, "w_us": w, "k": k, "requests": requests, "distribution": "fixed",
              "crossover": crossover}
    c_meas = c * 1.03
    overshoot = 52.0
    per_request_serial = (c_meas + w + overshoot) * 1e-6
    if mode == "serial":
        bound, speedup = 1.0, 1.0
    else:
        bound = float(min(k, cores * (c_meas + w) / c_meas))
        speedup = max(min(k, cores * (c_meas + w + overshoot) / c_meas) * eff, 0.9)
    wall = requests * per_request_serial / speedup
    rps = requests / wall
    little = k / rps * 1e6 if mode != "serial" else c_meas + w + overshoot
    p50 = max(little, c_meas + w)
    name = (f"requests/c_us:{c}/w_us:{w}/k:{k}/requests:{requests}/mode:{mode}/backend:{backend}"
            f"/threads:{threads}")
    b.add(name, f"requests/c_us:{c}/w_us:{w}", "requests", "io", params, mode, backend, threads,
          k, cores, wall, requests, bound, "requests/s", requests,
          extra={"latency_us": {"p50": round(p50, 1), "p95": round(p50 * 1.12, 1),
                                "p99": round(p50 * 1.35, 1)},
                 "io": {"c_measured_us": round(c_meas, 2), "wait_overshoot_us": overshoot,
                        "throughput_rps": round(rps, 2), "requests": requests, "errors": 0}})


def requests_sweeps(b, crossover_k=64, crossover=True, w=1000):
    """The I/O plan of `cvpbench --quick`: k in {8, 64, 512} at c = 50 us, then the crossover
    sweep c = w x {0.01, 0.1, 0.5, 2} at k = 64."""
    sweeps = [(50, (8, 64, 512), False)]
    if crossover:
        sweeps += [(max(1, round(w * f)), (crossover_k,), True) for f in (0.01, 0.1, 0.5, 2.0)]
    for c, ks, is_crossover in sweeps:
        requests_point(b, c, w, 1, "serial", "threads", is_crossover, 1)
        for k in ks:
            for backend, eff in (("threads", 0.86 if k < 512 else 0.7), ("eventloop", 0.94)):
                requests_point(b, c, w, k, "concurrent", backend, is_crossover, eff)
                if b.cores > 1:
                    requests_point(b, c, w, k, "parallel", backend, is_crossover, eff * 0.97)


def summary(m, results, verdicts, commit):
    return {
        "schema_version": 1,
        "tool": {"name": "cvpbench", "version": "0.1.0", "git_commit": commit},
        "machine": m,
        "config": {"quick": True, "repetitions": REPS, "min_time_s": 0.05,
                   "random_interleaving": True, "filter": "", "sizes": [],
                   "threads": [],
                   "time_measurement": "wall-clock (steady clock) per iteration through Google "
                                       "Benchmark's UseRealTime (matmul) or manual time of the "
                                       "request run (requests)",
                   "summary_method": "median of repetitions; 95% CI of the median from order "
                                     "statistics; speedup = ratio of the serial baseline's "
                                     "median to the point's median (per unit of work), 95% CI "
                                     "by percentile bootstrap (2000 resamples)"},
        "verdicts": verdicts,
        "interrupted": False,
        "errors": [],
        "results": results,
    }


def gbench(m, results, seed):
    """Raw Google Benchmark JSON for the same runs (iterations + aggregates)."""
    rng = np.random.default_rng(seed)
    out = []
    for family, r in enumerate(results):
        name = r["name"] + "/real_time"
        for i, s in enumerate(r["wall_s"]["samples"]):
            out.append({"name": name, "family_index": family, "per_family_instance_index": 0,
                        "run_name": name, "run_type": "iteration", "repetitions": REPS,
                        "repetition_index": i, "threads": 1,
                        "iterations": max(1, int(0.05 / s)),
                        "real_time": s * 1e6, "cpu_time": s * 1e6 * r["cpu_per_wall"],
                        "time_unit": "us"})
        vals = np.array(r["wall_s"]["samples"]) * 1e6
        for agg, v in (("mean", vals.mean()), ("median", np.median(vals)),
                       ("stddev", vals.std(ddof=1))):
            out.append({"name": f"{name}_{agg}", "family_index": family,
                        "per_family_instance_index": 0, "run_name": name,
                        "run_type": "aggregate", "repetitions": REPS, "threads": 1,
                        "aggregate_name": agg, "aggregate_unit": "time",
                        "iterations": REPS, "real_time": float(v),
                        "cpu_time": float(v * r["cpu_per_wall"]), "time_unit": "us"})
        out.append({"name": f"{name}_cv", "family_index": family, "per_family_instance_index": 0,
                    "run_name": name, "run_type": "aggregate", "repetitions": REPS,
                    "threads": 1, "aggregate_name": "cv", "aggregate_unit": "percentage",
                    "iterations": REPS, "real_time": float(vals.std(ddof=1) / vals.mean()),
                    "cpu_time": 0.01, "time_unit": "us"})
    ctx = {"date": m["date"], "host_name": m["host"], "executable": "./cvpbench",
           "num_cpus": m["logical_cpus"], "mhz_per_cpu": 2800, "cpu_scaling_enabled": False,
           "caches": [{"type": c["type"], "level": c["level"], "size": c["size_bytes"],
                       "num_sharing": c.get("shared_by", 1)} for c in m["caches"]],
           "load_avg": [0.31, 0.2, 0.1], "library_build_type": "release",
           "json_schema_version": 1}
    del rng
    return {"context": ctx, "benchmarks": out}


def write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def main():
    runner = Builder(seed=1, cores=2, logical=2)
    matmul(runner, 512, 4, (1, 2, 4), {"threads": 0.09, "openmp": 0.07, "tbb": 0.08}, 5.4e-2)
    requests_sweeps(runner)
    verdicts = [
        "matmul n=512: concurrency x0.97 on 1 core (bound x1.00); parallelism x1.86 on 2 cores "
        "(bound x2.00) [tbb backend, serial 54.2 ms]. Parallelism helps compute-bound work; "
        "interleaving does not.",
        "requests c=50us w=1ms: concurrency x19.3 on 1 core (bound x20.4 at k=512); "
        "parallelism x37.8 on 2 cores. Interleaving hides waiting.",
    ]
    write(HERE / "runner" / "summary.json",
          summary(machine("runner"), runner.results, verdicts, "3f2c1ab"))
    write(HERE / "runner" / "benchmark.json",
          gbench(machine("runner"), [r for r in runner.results if r["workload"] == "matmul"], 2))

    ws = Builder(seed=3, cores=8, logical=16)
    matmul(ws, 512, 16, (1, 2, 4, 8, 16, 32), {"threads": 0.05, "openmp": 0.03, "tbb": 0.04},
           3.3e-2)
    requests_sweeps(ws, crossover=False)
    write(HERE / "workstation" / "summary.json",
          summary(machine("workstation"), ws.results,
                  ["matmul n=512: parallelism x6.6 on 8 cores (bound x8.00) [openmp backend]."],
                  "3f2c1ab"))

    hostile_machine = machine("runner")
    hostile_machine["host"] = "<script>alert(1)</script>"
    hostile_machine["cpu_model"] = 'Evil "CPU" & <b>bold</b> $x^2$ </td></tr></table>'
    hostile_machine["compiler"] = "<img src=x onerror=alert(3)>"
    hostile = Builder(seed=5, cores=2, logical=2)
    matmul(hostile, 512, 4, (1, 2), {"tbb<i>": 0.08}, 5.4e-2)
    write(HERE / "hostile" / "summary.json",
          summary(hostile_machine, hostile.results,
                  ["<img src=x onerror=alert(2)> speedup & more"], "<b>commit</b>"))


if __name__ == "__main__":
    main()
