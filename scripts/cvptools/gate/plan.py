"""The plan of a binary-mode gate: which points run as duets (the one-core points) and which
interleaved, the binaries' --filter arguments, and the seeded order of the interleaved runs."""

import random
import re
from dataclasses import dataclass

from .. import CvpError
from .supervisor import list_benchmarks
from .topology import allowed_cpus, duet_cpus, parse_cpu_list


_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _regex_literal(text):
    """Escape only what both POSIX ERE and ECMAScript treat as special (re.escape does more,
    and escapes like '\\-' are undefined in POSIX)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def _name_regex(name):
    """A benchmark name as a regex: literal, except that its `/requests:N` segment matches any
    request count (the count follows from the options and the cores, like the pairing, which
    ignores it)."""
    return "/requests:[0-9]+".join(_regex_literal(part)
                                   for part in re.split(r"/requests:[0-9]+(?=/|$)", name))


def filter_regex(names):
    """A regex for `--filter` that matches exactly these benchmarks (whatever their request
    count), with or without Google Benchmark's suffixes (/real_time ...); valid for POSIX, RE2
    and std::regex engines."""
    parts = []
    for n in names:
        part = _name_regex(n)
        if part not in parts:
            parts.append(part)
    return "^(" + "|".join(parts) + ")(/.*)?$"


# --- the plan of a binary-mode gate: duet rounds for one-core points -----------------------------

DEFAULT_SEED = 1
DUET_CHOICES = ("auto", "on", "off")
_ONE_CORE = re.compile(r"/mode:(serial|concurrent)(/|$)")


def is_one_core(name):
    """True for the points that use one core (mode serial or concurrent): the duet's."""
    return bool(_ONE_CORE.search(name))


def option_value(args, name):
    """The value of the last `name X` or `name=X` in `args`, or None."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


def without_option(args, name):
    """`args` less any `name X` and `name=X`."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def without_filter(args):
    """`args` less any --filter option (both `--filter X` and `--filter=X`)."""
    return without_option(args, "--filter")


def interleave_orders(seed, label, rounds):
    """For each round, True when the baseline runs first: drawn at random from a generator
    seeded with (`seed`, `label`), so the same gate runs in the same order (randomized multiple
    interleaved trials; strict alternation would line up with any periodic disturbance)."""
    rng = random.Random(f"cvp-gate/{seed}/{label}")
    return [rng.random() < 0.5 for _ in range(rounds)]


@dataclass
class Plan:
    """How a binary-mode gate runs its rounds. With `cpus` (two CPUs): the one-core points
    (`one_core`, names as the binaries pinned to one CPU list them) run as duets, both binaries
    started together, pinned to cpus[0] and cpus[1] (swapped every round), and the other points
    (`all_core`) in interleaved runs; without: every point in interleaved runs. The order of the
    interleaved runs within a round is drawn from `seed`. `note` says why there is no duet."""
    seed: int = DEFAULT_SEED
    cpus: tuple = None
    one_core: list = None
    all_core: list = None
    note: str = ""
    count: int = None   # benchmarks both binaries list (None: unknown)
    listed: list = None  # every name either binary listed (None: not listed)

    def describe(self):
        """JSON-ready."""
        return {"duet": self.cpus is not None, "cpus": list(self.cpus) if self.cpus else None,
                "one_core": len(self.one_core) if self.one_core is not None else None,
                "all_core": len(self.all_core) if self.all_core is not None else None,
                "seed": self.seed, "note": self.note or None}


def _union(listings, keep):
    out = []
    for names in listings:
        for n in names or ():
            if keep(n) and n not in out:
                out.append(n)
    return out


def _common_count(per_binary):
    from ..compare import work_key
    if not all(per_binary):
        return None
    keys = [{work_key(n) for n in names} for names in per_binary]
    return len(set.intersection(*keys))


def make_plan(sup, binaries, extra, duet="auto", seed=DEFAULT_SEED, count=False):
    """The Plan for these binaries (baseline, candidate) and arguments. Lists the benchmarks
    (`--list`, and `--list --cpus A` for the names pinned to one CPU) when a duet is possible or
    `count` asks for the number of benchmarks. CvpError for `--duet on` where no duet is
    possible."""
    if duet not in DUET_CHOICES:
        raise CvpError(f"--duet must be one of {', '.join(DUET_CHOICES)}: {duet!r}")
    plan = Plan(seed=seed)
    why = cpus = None
    if duet != "off":
        allowed = allowed_cpus()
        user = option_value(extra, "--cpus")
        pool = allowed if user is None or allowed is None else parse_cpu_list(user) & allowed
        cpus = duet_cpus(pool)
        if cpus is None:
            n = "an unknown number of" if pool is None else str(len(pool))
            whose = "the --cpus after -- leave" if user is not None else "the gate may use"
            why = (f"{whose} {n} CPU{'' if pool is not None and len(pool) == 1 else 's'} (a "
                   f"duet needs 2)")
            if duet == "on":
                raise CvpError(f"--duet on: no duet is possible here: {why}")
    plain = [list_benchmarks(sup, b, extra) for b in binaries] if cpus or count \
        else [None, None]
    if count:
        plan.count = _common_count(plain)
    plan.listed = _union(plain, lambda n: True) or None
    if duet == "off":
        plan.note = "Duet off (--duet off): every benchmark ran in interleaved rounds."
        return plan
    if cpus is not None and not any(plain):
        why = "the binaries could not list their benchmarks (--list), so the one-core points " \
              "could not be told apart"
    elif cpus is not None:
        one_plain = _union(plain, is_one_core)
        if not one_plain:
            plan.note = ("No duet: none of the benchmarks is one-core (mode serial or "
                         "concurrent); every benchmark ran in interleaved rounds.")
            return plan
        pinned = [list_benchmarks(sup, b, without_option(extra, "--cpus"),
                                  more=("--cpus", str(cpus[0]))) for b in binaries]
        one = _union(pinned, is_one_core)
        if not one:
            why = (f"the binaries could not list their benchmarks pinned to one CPU "
                   f"(--list --cpus {cpus[0]})")
        else:
            plan.cpus, plan.one_core = cpus, one
            plan.listed = _union([plan.listed] + pinned, lambda n: True)
            plan.all_core = _union(plain, lambda n: not is_one_core(n))
            if count:
                plan.count = _common_count(
                    [[n for n in p if is_one_core(n)] + [n for n in q or () if not is_one_core(n)]
                     if p else None for p, q in zip(pinned, plain)])
            return plan
    if duet == "on":
        raise CvpError(f"--duet on: no duet is possible here: {why}")
    plan.note = f"Duet off: {why}; every benchmark ran in interleaved rounds."
    return plan
