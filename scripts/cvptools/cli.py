"""The `cvp` command line: the top parser, built from the command modules (cvptools.commands,
a module per command with its parser and its run function), the dispatch, and the one place
that turns an error into one line on stderr and an exit code.

Exit codes: 0 success (gate: pass), 1 gate: confirmed regression, 2 bad input or usage,
3 gate: inconclusive, 69 a Python package is missing (the message names the fix), 70 internal
error, 130 interrupted. Errors are one line on stderr.
"""

import os
import sys

from . import CvpError, __version__
from . import runio
from .commands import COMMANDS
from .commands.common import Parser
from .text import visible

# Not bad input (2) and not a bug (70): the environment lacks a package (sysexits' EX_UNAVAILABLE).
EXIT_MISSING_DEPENDENCY = 69

_DEBIAN_PACKAGES = {"numpy": "python3-numpy", "scipy": "python3-scipy",
                    "matplotlib": "python3-matplotlib", "jsonschema": "python3-jsonschema"}

_OTHER_INTERPRETERS = ("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3")



def _interpreter_with(module):
    """Another Python 3 on this machine that can import `module` and numpy, scipy, matplotlib."""
    import subprocess
    here = os.path.realpath(sys.executable or "")
    for candidate in [os.environ.get("CVP_PYTHON", "")] + list(_OTHER_INTERPRETERS):
        if not candidate or not os.path.exists(candidate) or os.path.realpath(candidate) == here:
            continue
        try:
            ok = subprocess.run([candidate, "-c", f"import {module}, numpy, scipy, matplotlib"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return candidate
    return None


def missing_dependency_message(error):
    """One sentence: which package is missing for which interpreter, and how to fix it."""
    module = (getattr(error, "name", None) or "").split(".")[0]
    if not module:
        return f"a Python package is missing ({' '.join(str(error).split())})"
    text = f"this command needs the Python package '{module}', which {sys.executable} cannot import"
    other = _interpreter_with(module)
    if other:
        return f"{text}; {other} has it: run '{other} scripts/cvp ...'"
    package = _DEBIAN_PACKAGES.get(module, f"python3-{module}")
    return (f"{text}; install it (Debian/Ubuntu: apt-get install {package}; elsewhere: "
            f"pip install -r scripts/requirements.txt) or set CVP_PYTHON to a Python that has it")


class StdoutError(Exception):
    """Standard output could not be written (closed, or the disk behind it is full)."""


class _CheckedStdout:
    """Stands in for sys.stdout so that a failed write is reported as such (exit 2), not as an
    internal error; a closed stdout (sys.stdout is None) fails at the first write."""

    def __init__(self, stream):
        self._stream = stream

    def _call(self, method, *args):
        if self._stream is None:
            raise StdoutError("standard output is closed")
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as e:
            raise StdoutError(f"cannot write to standard output "
                              f"({getattr(e, 'strerror', None) or e})") from None

    def write(self, text):
        return self._call("write", text)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _discard_stdout():
    """After a failed write, point fd 1 at /dev/null so that the interpreter's own flush at exit
    does not print a second error for the same failure."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def build_parser():
    """The top parser and its subparsers, one per command module."""
    parser = Parser(prog="cvp", description="Charts, reports, comparisons, CI gates and exports "
                                            "for cvpbench results.")
    parser.add_argument("--version", action="version", version=f"cvp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser, sub


def _split_passthrough(argv):
    """For `gate`, arguments after the first `--` belong to the binaries."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command == "gate" and "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _stop_on_sigterm():
    """SIGTERM (and SIGHUP) stop the command as Ctrl-C does: its cleanup runs (a database
    transaction rolled back, worker processes ended, a half-built site removed), then exit 130."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def _run(args):
    """The command's exit code; every error it raises becomes one line on stderr here."""
    try:
        code = args.handler(args)
        sys.stdout.flush()
        return code, True
    except CvpError as e:
        print(f"cvp: error: {visible(str(e))}", file=sys.stderr)
        return 2, False
    except StdoutError as e:
        print(f"cvp: error: {visible(str(e))}", file=sys.stderr)
        _discard_stdout()
        return 2, False
    except ImportError as e:
        print(f"cvp: error: {missing_dependency_message(e)}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY, False
    except KeyboardInterrupt:
        print("cvp: interrupted", file=sys.stderr)
        return 130, False
    except BrokenPipeError:
        return 0, False
    except Exception as e:  # a bug, not bad input: say so in one line unless debugging
        if os.environ.get("CVP_DEBUG"):
            raise
        text = visible(" ".join(str(e).split())[:200])
        print(f"cvp: internal error: {type(e).__name__}: {text} (set CVP_DEBUG=1 for a "
              f"traceback)", file=sys.stderr)
        return 70, False


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, extra = _split_passthrough(argv)
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    args.extra = extra
    return run_handler(args)


def run_handler(args):
    """Run a parsed command (args.handler) as cvp runs it: stdout checked, errors as one line,
    SIGTERM as Ctrl-C where the command asks, no empty output folder left when it fails. The
    exit code."""
    real_stdout = sys.stdout
    sys.stdout = _CheckedStdout(real_stdout)
    if getattr(args, "stoppable", False):
        _stop_on_sigterm()
    finished = False
    try:
        code, finished = _run(args)
        return code
    finally:
        sys.stdout = real_stdout
        if not finished:  # a failed command leaves no empty output folder it made
            runio.remove_made_folders()
