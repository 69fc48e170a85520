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


class Builder:
    def __init__(self, seed, cores, noise=0.015):
        self.rng = np.random.default_rng(seed)
        self.cores = cores
        self.noise = noise
        self.results = []
        self.serial = {}

    def samples(self, centre):
        return [round(float(centre * math.exp(self.rng.normal(0, self.noise))), 9)
                for _ in range(REPS)]

    def add(self, workload, kind, params, mode, backend, threads, in_flight, cores, wall,
            bound, throughput_unit, work, extra=None):
        name = "/".join([workload] + [f"{k}:{v}" for k, v in params.items()
                                      if k in ("n", "c_us", "w_us", "k")]
                        + [f"mode:{mode}", f"backend:{backend}", f"threads:{threads}"])
        samples = self.samples(wall)
        med = float(np.median(samples))
        base_key = (workload, tuple((k, v) for k, v in params.items() if k != "k"), backend)
        if mode == "serial":
            self.serial[base_key] = samples
        base = self.serial[base_key]
        speedup = float(np.median(base)) / med
        busy = min(1.0, cores * 0.97) if kind == "cpu" else 0.05 * min(in_flight, 20)
        r = {
            "name": name, "workload": workload, "kind": kind, "params": params, "mode": mode,
            "backend": backend, "threads": threads, "in_flight": in_flight, "cores": cores,
            "label": f"{mode} ({backend}, {threads} thread{'s' if threads > 1 else ''})",
            "wall_s": {"median": med, "ci95": ci_of_median(samples), "ci_coverage": 0.9375,
                       "samples": samples},
            "cpu_s": round(med * cores * busy, 9),
            "cpu_per_wall": round(cores * busy, 4),
            "throughput": {"value": round(work / med, 3), "unit": throughput_unit},
            "speedup": {"value": round(speedup, 4),
                        "ci95": [1.0, 1.0] if mode == "serial"
                        else bootstrap_speedup(base, samples, self.rng),
                        "baseline": f"serial/backend:{backend}",
                        "baseline_wall_s": float(np.median(base))},
            "efficiency": round(speedup / cores, 4),
            "bound": bound,
            "karp_flatt": None if cores <= 1 or mode != "parallel"
            else round((1 / speedup - 1 / cores) / (1 - 1 / cores), 4),
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


def matmul(b, n, threads_list, concurrent_k, f_by_backend, serial_s):
    flops = 2.0 * n ** 3 / 1e9
    for backend, f in f_by_backend.items():
        b.add("matmul", "cpu", {"n": n}, "serial", backend, 1, 1, 1, serial_s, 1.0,
              "GFLOP/s", flops)
        b.add("matmul", "cpu", {"n": n}, "concurrent", backend, concurrent_k, concurrent_k, 1,
              serial_s / 0.97, 1.0, "GFLOP/s", flops)
        for p in threads_list:
            s = 1.0 / (f + (1 - f) / p) * (0.99 if p == 1 else 1.0)
            b.add("matmul", "cpu", {"n": n}, "parallel", backend, p, p, p, serial_s / s,
                  float(p), "GFLOP/s", flops)


def requests_point(b, c, w, k, requests, dist, mode, backend, cores, eff):
    params = {"c_us": c, "w_us": w, "k": k, "requests": requests, "distribution": dist}
    c_meas = c * 1.03
    overshoot = 52.0
    cores = cores if mode == "parallel" else 1
    serial_wall = requests * (c_meas + w + overshoot) * 1e-6
    if mode == "serial":
        threads, in_flight, bound, speedup = 1, 1, 1.0, 1.0
    else:
        in_flight = k
        threads = (k if backend == "threads" else 1) if mode == "concurrent" else \
            (k if backend == "threads" else cores)
        bound = float(min(k, cores * (c + w) / c))
        speedup = max(min(k, cores * (c + w + overshoot) / c_meas) * eff, 0.9)
    wall = serial_wall / speedup
    rps = requests / wall
    p50 = in_flight / rps * 1e6 if mode != "serial" else c_meas + w + overshoot
    io = {"c_measured_us": round(c_meas, 2), "wait_overshoot_us": overshoot,
          "throughput_rps": round(rps, 2)}
    lat = {"p50": round(max(p50, c_meas + w), 1), "p95": round(max(p50, c_meas + w) * 1.12, 1),
           "p99": round(max(p50, c_meas + w) * 1.35, 1)}
    b.add("requests", "io", params, mode, backend, threads, in_flight, cores, wall, bound, "req/s", requests,
          extra={"latency_us": lat, "io": io})


def requests_sweeps(b, cores, crossover):
    for backend, eff in (("threads", 0.86), ("eventloop", 0.94)):
        requests_point(b, 50, 1000, 1, 400, "fixed", "serial", backend, cores, 1)
        for k in (1, 4, 16, 64):
            requests_point(b, 50, 1000, k, 400, "fixed", "concurrent", backend, cores, eff)
            requests_point(b, 50, 1000, k, 400, "fixed", "parallel", backend, cores, eff * 0.97)
    if crossover:
        for c in (10, 50, 100, 250, 500, 1000, 2000):
            requests_point(b, c, 1000, 8, 200, "fixed", "serial", "eventloop", cores, 1)
            requests_point(b, c, 1000, 8, 200, "fixed", "concurrent", "eventloop", cores, 0.93)
            requests_point(b, c, 1000, 8, 200, "fixed", "parallel", "eventloop", cores, 0.9)


def summary(m, results, verdicts, commit):
    return {
        "schema_version": 1,
        "tool": {"name": "cvpbench", "version": "0.1.0", "git_commit": commit},
        "machine": m,
        "config": {"quick": True, "repetitions": REPS, "min_time_s": 0.05,
                   "random_interleaving": True, "threads": sorted({r["threads"] for r in results}),
                   "time_measurement": "wall clock (UseRealTime), one benchmark thread driving "
                                       "the mode's own pool",
                   "summary_method": "median of repetitions; 95% CI by bootstrap"},
        "verdicts": verdicts,
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
    runner = Builder(seed=1, cores=2)
    matmul(runner, 256, (1, 2), 2, {"threads": 0.09, "openmp": 0.07, "tbb": 0.08}, 6.9e-3)
    requests_sweeps(runner, 2, crossover=True)
    verdicts = [
        "matmul n=256: parallel (tbb, 2 threads) 1.85x [1.80, 1.90] of a bound of 2; "
        "serial 6.9 ms. Parallelism helps compute-bound work.",
        "matmul n=256: concurrent (2 threads on 1 core) 0.97x of a bound of 1. "
        "Interleaving does not help compute-bound work.",
        "requests c=50us w=1000us k=64: concurrent (eventloop, 1 core) 18.7x of a bound of 21. "
        "Interleaving hides waiting.",
    ]
    write(HERE / "runner" / "summary.json",
          summary(machine("runner"), runner.results, verdicts, "3f2c1ab"))
    write(HERE / "runner" / "benchmark.json",
          gbench(machine("runner"), [r for r in runner.results if r["workload"] == "matmul"], 2))

    ws = Builder(seed=3, cores=8)
    matmul(ws, 256, (1, 2, 4, 8), 8, {"threads": 0.05, "openmp": 0.03, "tbb": 0.04}, 4.1e-3)
    requests_sweeps(ws, 8, crossover=False)
    write(HERE / "workstation" / "summary.json",
          summary(machine("workstation"), ws.results,
                  ["matmul n=256: parallel (openmp, 8 threads) 6.6x of a bound of 8."], "3f2c1ab"))

    hostile_machine = machine("runner")
    hostile_machine["host"] = "<script>alert(1)</script>"
    hostile_machine["cpu_model"] = 'Evil "CPU" & <b>bold</b> $x^2$ </td></tr></table>'
    hostile_machine["compiler"] = "<img src=x onerror=alert(3)>"
    hostile = Builder(seed=5, cores=2)
    matmul(hostile, 256, (1, 2), 2, {"tbb<i>": 0.08}, 6.9e-3)
    write(HERE / "hostile" / "summary.json",
          summary(hostile_machine, hostile.results,
                  ["<img src=x onerror=alert(2)> speedup & more"], "<b>commit</b>"))


if __name__ == "__main__":
    main()
