"""What both halves of the batch share (local.py runs the seeds here,
slurm.py on a SLURM array; cli.py decides what to run): where the driver is,
the batch's error, its tick, and what it prints of the runs (Tally). It
imports nothing from the halves or the command."""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the project's root
DRIVER = os.path.join(HERE, 'binary_mnist_pathnet.py')
PROG = 'auto_binary_mnist_pathnet.sh'
SEED_LIMIT = 2 ** 31          # seeds are 0 .. 2^31-1, as in the driver
NO_SEED = SEED_LIMIT - 2      # given to the driver's parser first: FLAGS that change it set --seed
TICK = 0.1                    # seconds between looks at the runs' files: the batch's latency
CORES = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1

class Exit(Exception):
    """The batch ends before any run starts: bad usage, a log it cannot use,
    seeds another batch holds (status 2, message on stderr), or the driver's
    --help (status 0, printed by its parser)."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.message, self.status = message, status


def hms(seconds):
    s = int(seconds)
    return '%d:%02d:%02d' % (s // 3600, s // 60 % 60, s % 60)


def warn_bad(lines, where):
    for line in lines:
        print('warning: %s: not an event, skipped: %r'
              % (where, line[:100].decode('utf-8', 'replace')), file=sys.stderr, flush=True)


def last_line(path):
    """The last non-blank line of a file (from its last 4 KB), to show what a
    dead run said; '' if there is none."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode('utf-8', 'replace').splitlines()
    except OSError:
        return ''
    return next((l.strip() for l in reversed(lines) if l.strip()), '')


class Tally:
    """What the batch prints: the 2017 line or a FAILED line per experiment,
    progress lines, the summary."""

    def __init__(self, base, results, todo, skipped):
        self.base, self.results, self.n, self.skipped = base, results, len(todo), skipped
        self.ok = self.failed = 0
        self.start = time.monotonic()

    def done(self, seed, e):
        self.ok += 1
        t1, t2 = e['task1_generations'], e['task2_generations']
        print('%d Iteration, Entire Iter:%d,TASK1:%d,TASK2:%d,Overlap:%d'
              % (seed - self.base, t1 + t2, t1, t2, e['overlap']), flush=True)

    def fail(self, seed, why, where):
        self.failed += 1
        print('FAILED run %d, seed %d: %s [%s]' % (seed - self.base, seed, why, where),
              file=sys.stderr, flush=True)

    def progress(self, running):
        m, elapsed = self.ok + self.failed, time.monotonic() - self.start
        print('[%d/%d] %d done, %d failed, %d process(es) running, %s left'
              % (m, self.n, self.ok, self.failed, running, hms(elapsed * (self.n - m) / m)),
              flush=True)

    def summary(self):
        print('summary: %d done, %d failed, %d skipped (already in %s), wall time %s'
              % (self.ok, self.failed, self.skipped, self.results,
                 hms(time.monotonic() - self.start)), flush=True)


class Signals:
    """Ctrl-C, SIGTERM and hangup only record the request: the batch looks at
    it every TICK and stops its runs itself. The previous handlers come back
    at the end, so run() can be called again (from the main thread)."""
    KINDS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.caught = None
        self.old = [(s, signal.signal(s, self.record)) for s in self.KINDS]
        return self

    def __exit__(self, *exc):
        for s, handler in self.old:
            signal.signal(s, signal.SIG_DFL if handler is None else handler)

    def record(self, sig, _frame):
        self.caught = self.caught or sig

    def ignore(self):
        for s in self.KINDS:
            signal.signal(s, signal.SIG_IGN)

    def sleep(self, seconds):
        """Until seconds have passed or a signal came; True if one came."""
        end = time.monotonic() + seconds
        while self.caught is None and time.monotonic() < end:
            time.sleep(max(0.0, min(TICK, end - time.monotonic())))
        return self.caught is not None


