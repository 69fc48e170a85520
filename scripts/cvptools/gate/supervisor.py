"""Running the binaries: each run in a new empty folder and a process group of its own, stderr
to a file, a time limit that follows the work, and the whole group (and every orphan it left)
stopped when the run ends, times out or the gate is stopped."""

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from .. import CvpError
from ..runio import GBENCH_FILE, SUMMARY_FILE, display_path, load_run
from ..text import visible as _visible


def check_program(program):
    """CvpError unless `program` (a path, or a name on PATH) can be executed."""
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.exists(program):
            raise CvpError(f"{program}: no such program")
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise CvpError(f"{program}: not executable")
    elif shutil.which(program) is None:
        raise CvpError(f"{program}: no such program on PATH")


# Time limits of one binary run, when --timeout-s is not given: a run gets FIRST_LIMIT_S until
# some run has finished; from then on LIMIT_FACTOR times the longest run so far (of either
# binary: a candidate 10 times slower than the baseline is a hang or a regression no gate needs
# to wait out), at least MIN_LIMIT_S. `--list` gets LIST_LIMIT_S.
FIRST_LIMIT_S = 1800.0
LIMIT_FACTOR = 10.0
MIN_LIMIT_S = 60.0
LIST_LIMIT_S = 60.0
KILL_GRACE_S = 2.0          # from SIGTERM to SIGKILL of a binary's process group
_POLL_S = 0.02
_TAIL_BYTES = 8192          # of a binary's stderr, for the one line an error quotes
_LIST_BYTES = 4 << 20       # of `--list` output read
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))


def default_limit(durations):
    """The limit (seconds) of the next binary run when none is given: FIRST_LIMIT_S before any
    run has finished, then LIMIT_FACTOR x the longest finished run, at least MIN_LIMIT_S."""
    if not durations:
        return FIRST_LIMIT_S
    return max(MIN_LIMIT_S, LIMIT_FACTOR * max(durations))


class Stopped(BaseException):
    """The gate was told to stop (SIGINT, SIGTERM or SIGHUP) while it ran binaries. A
    BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self):
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def _processes():
    """[(pid, state, ppid, pgid)] of every process, from /proc; None without /proc."""
    if not os.path.exists("/proc/self/stat"):
        return None
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    out = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                text = f.read().decode("ascii", "replace")
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 2:
            out.append((int(entry), fields[0], int(fields[1]), int(fields[2])))
    return out


def _live_targets(pgids, sweep):
    """{pid: process group} of the live (not zombie) processes of the process groups `pgids`,
    and with `sweep` of every live descendant of this process too (as a child subreaper every
    orphan of the binaries becomes one, even one that made a session of its own). None without
    /proc."""
    table = _processes()
    if table is None:
        return None
    live = {pid: group for pid, state, _, group in table if state not in ("Z", "X")}
    found = {pid: group for pid, group in live.items() if group in pgids}
    if sweep:
        children = {}
        for pid, _, parent, _ in table:
            children.setdefault(parent, []).append(pid)
        todo = list(children.get(os.getpid(), []))
        while todo:
            pid = todo.pop()
            if pid in live:
                found[pid] = live[pid]
            todo += children.get(pid, [])
    found.pop(os.getpid(), None)
    return found


def become_subreaper():
    """Make this process the child subreaper of its descendants (Linux): an orphan of a binary
    is then re-parented here, not to init, so that the gate can still find and stop it. True
    when it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class Supervisor:
    """Runs the binaries for the gate, so that nothing they start outlives it.

    * Every run starts in a session (and process group) of its own (start_new_session), with
      stdin and stdout on /dev/null and stderr into a file in the gate's private folder: the
      gate waits for the process it started, never for the end of a pipe that a process left
      behind could hold open.
    * run_together() starts several runs at the same moment (a duet) and waits for all of them;
      one that fails stops the others at once.
    * When those processes end, time out (see default_limit), or the gate is stopped, their
      whole process groups get SIGTERM and, KILL_GRACE_S later, SIGKILL. A process is reaped
      only after that, so its process group id cannot be reused by another process meanwhile.
      With `sweep` (the command line sets it, after become_subreaper()) every other live
      descendant of the gate is stopped the same way: an orphan that made a session of its own
      (a daemon's double fork) has left the group but is still the gate's descendant. Runs that
      were started together are stopped together, once all of them have ended, so that the
      sweep after one cannot cut its partner short.
    * Every file is under `root`, a new folder made with mkdtemp (inside `parent` when given):
      each run gets a new empty folder of its own in it (folder()), so nothing a run did not
      write itself can be read as its output. `root` is removed by close() unless `keep`.
    * install() makes SIGINT, SIGTERM and SIGHUP raise Stopped (main thread only); while a
      child is being started or stopped a signal is held and raised right after, so no child
      escapes between its start and its registration. close() restores the handlers.
    Only cli.py prints: messages go through `log`."""

    def __init__(self, parent=None, keep=False, timeout=None, grace=KILL_GRACE_S, log=None,
                 sweep=False):
        try:
            self.root = tempfile.mkdtemp(prefix="cvp-gate-", dir=parent)
        except OSError as e:
            raise CvpError(f"{parent or tempfile.gettempdir()}: cannot make a folder for the "
                           f"gate ({e.strerror})") from None
        self.keep = keep
        self.timeout = timeout
        self.grace = grace
        self.log = log or (lambda line: None)
        self.sweep = sweep
        self.durations = []
        self.pending = None        # the first stop signal received
        self._raised = False       # ... and whether it was raised as Stopped yet
        self._hold = 0
        self._procs = []           # started and not yet stopped
        self._previous = {}
        self._closed = False

    # -- signals --
    def install(self):
        """A signal ignored when the gate started (nohup, a background job) stays ignored."""
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        """The first stop signal raises Stopped (or is held, see _check); later ones are only
        noted: the gate is already stopping, and its cleanup must not be cut short."""
        if self.pending is not None:
            return
        self.pending = signum
        if not self._hold and not self._closed:
            self._raised = True
            raise Stopped(signum)

    def _check(self):
        if self.pending is not None and not self._hold and not self._raised:
            self._raised = True
            raise Stopped(self.pending)

    # -- folders --
    def folder(self, prefix):
        """A new, empty folder of this gate's own."""
        return tempfile.mkdtemp(prefix=prefix, dir=self.root)

    def limit(self):
        return self.timeout if self.timeout else default_limit(self.durations)

    # -- processes --
    def run(self, cmd, stderr_path, what, limit=None, stdout_path=None, record=True):
        """Run `cmd` (an argument list, no shell); return its exit status once it and its
        process group are gone. CvpError when it cannot start or outlives its limit."""
        return self.run_together([(cmd, stderr_path, what, stdout_path)], limit=limit,
                                 record=record)[0]

    def run_together(self, jobs, limit=None, record=True):
        """Start every job, (cmd, stderr_path, what, stdout_path), at the same moment (their
        files are opened first, then the processes started one right after the other); wait for
        all of them; return their exit statuses once they and their process groups are gone.
        When one exits with a status other than 0 the others are stopped at once and get None.
        CvpError when one cannot start or when they outlive `limit` (from the start). Without
        `limit` or --timeout-s, the default limit (default_limit) is taken again each time a
        run of the set finishes, its time counted: the partner of a duet run that hangs is
        stopped at LIMIT_FACTOR x the finished run's time (at least MIN_LIMIT_S), not at the
        FIRST_LIMIT_S that the first round starts with."""
        adaptive = not limit and not self.timeout and record
        limit = limit or self.limit()
        self._check()
        procs = []
        self._hold += 1
        try:
            with contextlib.ExitStack() as files:
                streams = [(files.enter_context(open(stderr_path, "wb")),
                            files.enter_context(open(stdout_path or os.devnull, "wb")))
                           for _, stderr_path, _, stdout_path in jobs]
                try:
                    for (cmd, _, _, _), (err, out) in zip(jobs, streams):
                        procs.append(self._start(cmd, err, out))
                        self._procs.append(procs[-1])
                except BaseException:
                    if procs:
                        self._stop(procs, [""] * len(procs))
                    raise
            started = time.monotonic()
        finally:
            self._hold -= 1
        ended = [None] * len(procs)
        deadline = [started + limit]
        try:
            self._check()
            finished = self._wait(procs, ended, deadline, started if adaptive else None)
        except BaseException:
            self._stop(procs, [""] * len(procs))
            raise
        self._stop(procs, [what if finished and ended[i] is not None else ""
                           for i, (_, _, what, _) in enumerate(jobs)])
        if not finished:
            i = ended.index(None)
            cmd, what = jobs[i][0], jobs[i][2]
            moved = deadline[0] < started + limit
            limit = deadline[0] - started
            if self.timeout:
                how = "the limit of --timeout-s"
            elif not record:
                how = "the limit of --list without --timeout-s"
            else:
                partner = " (the run started with it included)" if moved else ""
                how = (f"the default limit: {LIMIT_FACTOR:g} x the longest run so far"
                       f"{partner}, at least {MIN_LIMIT_S:g} s, or {FIRST_LIMIT_S:g} s before "
                       f"any run has finished; set one with --timeout-s")
            whom = ("it and its process group" if len(jobs) == 1 else
                    "the runs started with it and their process groups")
            raise CvpError(f"{cmd[0]}: still running after {limit:g} s ({what}; {how}); "
                           f"stopped {whom}")
        codes = [None if end is None else proc.returncode for proc, end in zip(procs, ended)]
        if record:
            self.durations += [end - started for end, code in zip(ended, codes) if code == 0]
        return codes

    @staticmethod
    def _start(cmd, err, out):
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        except FileNotFoundError:
            raise CvpError(f"{cmd[0]}: no such program") from None
        except PermissionError:
            raise CvpError(f"{cmd[0]}: not executable") from None
        except OSError as e:
            raise CvpError(f"{cmd[0]}: cannot run ({e.strerror})") from None

    def _wait(self, procs, ended, deadline, started=None):
        """True once every process has exited (left unreaped where the system allows), or one
        has exited with a status other than 0; False at the deadline, deadline[0]. `ended` gets
        the time at which each was seen to exit. With `started` (the default limit applies),
        a process that exits 0 brings the deadline of the others forward to started +
        default_limit(the runs so far and its own), where that is earlier. A stop signal
        raises Stopped out of the sleep."""
        pause = _POLL_S
        while True:
            failed = False
            for i, proc in enumerate(procs):
                if ended[i] is None:
                    status = self._status(proc)
                    if status is not None:
                        ended[i] = time.monotonic()
                        failed = failed or status != 0
                        if status == 0 and started is not None:
                            deadline[0] = min(deadline[0], started + default_limit(
                                self.durations + [ended[i] - started]))
            if failed or all(end is not None for end in ended):
                return True
            left = deadline[0] - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.2)
            self._check()

    @staticmethod
    def _status(proc):
        """The exit status of `proc` (negative: the signal that killed it) once it has exited,
        else None; the process is left unreaped where the system allows."""
        if proc.returncode is not None:
            return proc.returncode
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            try:
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                pass
            else:
                if info is None:
                    return None
                if info.si_code == getattr(os, "CLD_EXITED", 1):
                    return info.si_status
                return -info.si_status
        return proc.poll()

    def _stop(self, procs, whats):
        """SIGTERM to the processes' groups (and, with `sweep`, to every other live descendant),
        SIGKILL after the grace period, then reap. `whats` (one per process; '' for none) name
        the runs in the message that counts what a run left running."""
        self._hold += 1
        try:
            pgids = {proc.pid for proc in procs}  # a session leader's process group id is its pid
            targets = _live_targets(pgids, self.sweep)
            if targets:
                others = {pid: group for pid, group in targets.items() if pid not in pgids}
                strays = [pid for pid, group in others.items() if group not in pgids]
                for proc, what in zip(procs, whats):
                    left = [pid for pid, group in others.items() if group == proc.pid]
                    if len(procs) == 1:
                        left += strays
                    if what and left:
                        self.log(f"cvp gate: {len(left)} process(es) that {proc.args[0]} left "
                                 f"running ({what}) stopped")
                named = [what for what in whats if what]
                if len(procs) > 1 and strays and named:
                    self.log(f"cvp gate: {len(strays)} process(es) that the binaries left "
                             f"running ({'; '.join(named)}) stopped")
            if targets is None or targets:
                self._signal(pgids, targets, signal.SIGTERM)
                deadline = time.monotonic() + self.grace
                while time.monotonic() < deadline and self._alive(pgids, procs):
                    time.sleep(_POLL_S)
                targets = _live_targets(pgids, self.sweep)
                if targets is None or targets:
                    self._signal(pgids, targets, signal.SIGKILL)
            for proc in procs:
                proc.wait()
            if self.sweep:
                self._reap_orphans()
            self._procs = [p for p in self._procs if p not in procs]
        finally:
            self._hold -= 1

    @staticmethod
    def _signal(pgids, targets, sig):
        sends = [(os.killpg, pgid) for pgid in sorted(pgids)]
        sends += [(os.kill, pid) for pid in sorted(targets or ())]
        for send, target in sends:
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _alive(self, pgids, procs):
        targets = _live_targets(pgids, self.sweep)
        if targets is not None:
            return bool(targets)
        for proc in procs:  # without /proc: reap the leaders, then ask whether a group is left
            proc.poll()
        for pgid in pgids:
            try:
                os.killpg(pgid, 0)
                return True
            except (ProcessLookupError, PermissionError):
                pass
        return False

    @staticmethod
    def _reap_orphans():
        """Collect the orphans re-parented to this subreaper (no other child is running)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def close(self):
        """Stop the binaries still running, remove the private folder (unless `keep`), restore
        the signal handlers. Safe to call twice."""
        self._hold += 1
        try:
            if self._procs:
                self._stop(list(self._procs), [""] * len(self._procs))
            if not self.keep and not self._closed:
                shutil.rmtree(self.root, ignore_errors=True)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = {}
            self._closed = True
        finally:
            self._hold -= 1


def _tail(path):
    """The last non-empty line of a file (its last _TAIL_BYTES), on one line, or ''."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return _visible(lines[-1][:200]) if lines else ""


def list_benchmarks(sup, binary, extra, more=()):
    """The benchmark names `BIN --quick --list [more] [extra]` prints, or None when the binary
    cannot list them (then the power check waits for the measurements, and there is no duet)."""
    folder = sup.folder("list-")
    listing = os.path.join(folder, "stdout.txt")
    try:
        code = sup.run([binary, "--quick", "--list", *more, *extra],
                       os.path.join(folder, "stderr.txt"), "--list",
                       limit=sup.timeout or LIST_LIMIT_S, stdout_path=listing, record=False)
    except CvpError as e:
        sup.log(f"cvp gate: {binary} could not list its benchmarks ({e}); counting them from "
                f"the first round")
        return None
    if code != 0:
        return None
    with open(listing, "rb") as f:
        text = f.read(_LIST_BYTES).decode("utf-8", "replace")
    names = [line.strip() for line in text.splitlines()]
    names = [n for n in names if n and " " not in n]
    return names or None


def read_output(out, binary, what):
    """The run a binary wrote into `out`, a path inside a folder the gate made empty just before
    the run: it must be a folder (not a link) holding a regular file (not a link) that the
    binary wrote in this run."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        raise CvpError(f"{binary}: exited with status 0 but wrote no --out folder ({what})") \
            from None
    if not stat.S_ISDIR(st.st_mode):
        raise CvpError(f"{binary}: its --out {display_path(out)} is not a folder ({what})")
    for name in (SUMMARY_FILE, GBENCH_FILE):
        path = os.path.join(out, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise CvpError(f"{binary}: {display_path(path)} is not a regular file ({what})")
        return load_run(path)
    raise CvpError(f"{binary}: wrote neither {SUMMARY_FILE} nor {GBENCH_FILE} into its --out "
                   f"folder ({what})")
