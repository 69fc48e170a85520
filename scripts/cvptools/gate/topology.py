"""Which CPUs the gate may use, and the pair of CPUs a duet runs on."""

import os
import re

from .. import CvpError


def parse_cpu_list(text):
    """{cpu} of a list like cvpbench's --cpus ('0-3,8'); CvpError when it is not one."""
    cpus = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*([0-9]{1,6})\s*(?:-\s*([0-9]{1,6})\s*)?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise CvpError(f"--cpus {text!r} after --: not a CPU list such as 0-3,8")
        cpus.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return cpus


def allowed_cpus():
    """The CPUs this process may run on (os.sched_getaffinity), or None where unknown."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _siblings(cpu):
    """The CPUs that share `cpu`'s core (SMT siblings, itself included), from sysfs."""
    path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
    try:
        with open(path) as f:
            return parse_cpu_list(f.read().strip())
    except (OSError, CvpError):
        return {cpu}


def duet_cpus(cpus):
    """Two CPUs of `cpus` for a duet, on different cores where the machine has SMT: the lowest,
    and the lowest one that is not its sibling (else the next one). None with fewer than 2."""
    cpus = sorted(cpus or ())
    if len(cpus) < 2:
        return None
    siblings = _siblings(cpus[0])
    return cpus[0], next((c for c in cpus[1:] if c not in siblings), cpus[1])
