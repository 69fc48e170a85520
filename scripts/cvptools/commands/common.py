"""What the commands share: the parser class, the number checks of their options, and the few
ways they write (stderr lines, text to stdout or a new file)."""

import argparse
import json
import math
import sys

from .. import CvpError
from .. import runio

FORMATTER = argparse.RawDescriptionHelpFormatter
INPUTS_HELP = "summary.json files, or result folders that hold one"
DB_HELP = ("the database: a SQLite file, or a postgresql:// URL for a shared server "
           "(default: $CVP_DB, else $XDG_DATA_HOME/cvpbench/results.sqlite, else "
           "~/.local/share/cvpbench/results.sqlite)")


class Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other cvp error."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


# --- numbers on the command line ----------------------------------------------------------------

def number(integer=False, percent=True, finite=False, no_percent=None, rules=()):
    """An argparse type that reads a number and checks it.

    integer: int() instead of float(); percent: a float may end in % ("5%" is 0.05);
    no_percent: refuse a trailing % with this description ("not a number of seconds");
    finite: refuse NaN and the infinities first (they compare false with every bound, so a range
    check alone lets them through); rules: (test, message) pairs, checked in order, the first
    failed test's message is the error. Every error quotes the text as given."""
    def parse(text):
        if no_percent and text.endswith("%"):
            raise argparse.ArgumentTypeError(f"{no_percent}: {text!r}")
        try:
            if integer:
                value = int(text)
            elif percent:
                value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
            else:
                value = float(text)
        except ValueError:
            what = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if finite and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
        for test, message in rules:
            if not test(value):
                raise argparse.ArgumentTypeError(f"{message}: {text!r}")
        return value
    return parse


def at_least(minimum, at_most=None):
    """An integer of at least `minimum` (and at most `at_most`)."""
    rules = [(lambda v: v >= minimum, f"must be at least {minimum}")]
    if at_most is not None:
        rules.append((lambda v: v <= at_most, f"must be at most {at_most}"))
    return number(integer=True, rules=rules)


COUNT = at_least(1, 10**9)  # a count from the user: run limits, import numbers

IS_FRACTION = (lambda v: 0.0 <= v < 1.0, "must be a fraction in [0, 1) such as 0.05 or 5%")
ABOVE_0 = (lambda v: not v <= 0, "must be above 0")

fraction = number(rules=[IS_FRACTION])
finite_fraction = number(finite=True, rules=[IS_FRACTION])
finite_probability = number(finite=True, rules=[IS_FRACTION, ABOVE_0])
finite_seconds = number(percent=False, finite=True, no_percent="not a number of seconds",
                        rules=[ABOVE_0])


# --- writing ------------------------------------------------------------------------------------

def say(line):
    print(line, file=sys.stderr, flush=True)


def emit_text(text, dest, force):
    """Write to stdout ('-') or to a new file, atomically."""
    if dest in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        runio.write_outputs({dest: text.encode("utf-8")}, force)


def json_out(doc, dest, force):
    emit_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", dest, force)


def json_option(q):
    q.add_argument("--json", metavar="FILE", help="also write JSON ('-': JSON on stdout only)")
    q.add_argument("--force", action="store_true", help="overwrite an existing file")


def summaries(paths):
    """The summaries, loaded one at a time (a generator: plot and report keep a digest of each
    and only a few whole documents), with load_runs' checks: summaries only, one schema version."""
    first = None
    for path in paths:
        run = runio.load_runs([path], formats=(runio.SUMMARY,))[0]
        if first is None:
            first = run
        elif run.schema_version != first.schema_version:
            raise CvpError(f"{run.path}: schema_version {run.schema_version} mixed with "
                           f"schema_version {first.schema_version} in {first.path}")
        yield run


def open_db(location, create=False):
    """The results database at `location` (a file or a postgresql:// URL)."""
    from .. import db
    return db.open_database(location, create=create)
