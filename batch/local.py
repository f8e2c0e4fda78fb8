"""The local half of the batch (cli.py says the rest): the seeds still to
do dealt out to JOBS processes of binary_mnist_pathnet.py --seeds on this
machine, and how the batch follows them.

Each process writes its console, stdout and stderr, to a file of its own,
and appends one JSON line per event to another, named by $PATHNET_EVENTS (the
driver's emit()): {"event": "start" | "done" | "failed", "seed": S,
"console": N, ...}, N being the console's byte position when the event was
written (null if the console is not a file). Every TICK the batch copies the
new console bytes into one log per experiment, switching logs at each start
event's position, and reports the done and failed events. It never parses
the console's text; it only shows the last line of a process that died. Both
files go once the process has ended and been read. They are files, not
pipes, so that runs outlive a batch killed with -9 without dying of a broken
pipe: they notice that their batch is gone, stop at their next tournament,
and what they said meanwhile stays in batch<PID>-<J>.out.
"""
import contextlib
import fcntl
import glob
import os
import signal
import subprocess
import sys
import time

from events import parse as parse_events
from batch.common import DRIVER, TICK, Exit, last_line, warn_bad


def deal(todo, jobs):
    """Seed k of todo goes to process k mod jobs: the processes go through the
    seeds in order together, so an interrupted batch has done the low ones."""
    return [todo[j::jobs] for j in range(min(jobs, len(todo)))]


class Run:
    """One process of the batch and its two files, the console and the
    events; pump() copies the console into one log per experiment."""

    def __init__(self, share, stem, logdir, control):
        self.share, self.pending, self.logdir, self.control = share, set(share), logdir, control
        self.files = (stem + '.out', stem + '.events')
        for path in self.files:
            open(path, 'wb').close()
        self.console, self.events = (os.open(p, os.O_RDONLY) for p in self.files)
        self.copied, self.rest, self.on, self.proc = 0, b'', None, None
        self.seed = self.log = None
        self.switch(share[0])     # the first log also keeps the process's start-up lines

    def start(self, python, flags, claim):
        env = dict(os.environ, PATHNET_BATCH_PID=str(os.getpid()),
                   PATHNET_EVENTS=os.path.abspath(self.files[1]))
        with open(self.files[0], 'ab') as out:
            self.proc = subprocess.Popen(
                [python, DRIVER, '--seeds', ','.join(map(str, self.share))] + list(flags),
                stdout=out, stderr=subprocess.STDOUT, env=env, pass_fds=[claim])

    def log_path(self, seed):
        return os.path.join(self.logdir, '%s-seed%d.log' % (self.control, seed))

    def switch(self, seed):
        if self.log:
            self.log.close()
        self.seed, self.log = seed, open(self.log_path(seed), 'wb', buffering=0)

    def copy(self, upto):
        """The console up to byte upto into the current experiment's log."""
        while self.copied < upto:
            chunk = os.pread(self.console, min(upto - self.copied, 1 << 20), self.copied)
            if not chunk:
                break
            self.log.write(chunk)
            self.copied += len(chunk)

    def pump(self, tally, running):
        """Copy the new console output and report the new events."""
        # The size first: an event not yet written when the events are read
        # below comes after every byte up to here, so they are not its.
        end = os.fstat(self.console).st_size
        data = self.rest
        while True:
            chunk = os.read(self.events, 1 << 16)
            if not chunk:
                break
            data += chunk
        events, self.rest, bad = parse_events(data)
        warn_bad(bad, self.files[1])
        for e in events:
            self.copy(e['console'] if type(e.get('console')) is int else end)
            self.handle(e, tally, running)
        self.copy(end)

    def handle(self, e, tally, running):
        seed = e['seed']
        if seed not in self.share:
            return
        if e['event'] == 'start':
            self.on = seed
            if seed != self.seed:
                self.switch(seed)
        elif seed in self.pending:
            self.pending.discard(seed)
            if e['event'] == 'done':
                tally.done(seed, e)
            else:
                tally.fail(seed, e['error'], self.log_path(seed))
            tally.progress(running)

    def ended(self, status, tally, running):
        """Its process is gone (and pumped): the seeds it did not report failed."""
        if self.rest:       # its last event, cut short
            warn_bad([self.rest], self.files[1])
        how = 'ended with status %d' % status if status >= 0 else 'was killed by %s' % signal_name(
            -status)
        where = self.log_path(self.share[0] if self.on is None else self.on)
        line = last_line(where) or 'no output'
        during = 'before its first experiment' if self.on is None else 'during seed %d' % self.on
        for s in self.share:
            if s not in self.pending:
                continue
            if s == self.on:
                tally.fail(s, 'its process %s: %s' % (how, line), where)
            else:
                tally.fail(s, 'not run: its process %s %s: %s' % (how, during, line), where)
            tally.progress(running)

    def close(self):
        if self.proc and self.proc.poll() is None:     # only when the batch itself failed
            self.proc.terminate()
            self.proc.wait()
        self.log.close()
        for fd, path in zip((self.console, self.events), self.files):
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return 'signal %d' % number


def claim(results, condition, todo):
    """Claim the seeds of todo in <results>.batch.<pid>, locked through a
    descriptor that every run inherits: while any of the runs lives (even
    after the batch itself was killed with -9), another batch of the same
    condition refuses those seeds, which would be written twice. Batches of
    other seeds or other conditions share the log. Returns (fd, path)."""
    mine, wanted = '%s.batch.%d' % (results, os.getpid()), set(todo)
    try:
        with open(results + '.lock', 'ab') as lock:     # one batch at a time looks and claims
            fcntl.flock(lock, fcntl.LOCK_EX)
            for path in sorted(glob.glob(glob.escape(results) + '.batch.*')):
                try:        # a batch that ends removes its claim without the lock
                    f = open(path, 'rb')
                except FileNotFoundError:
                    continue
                with f:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:             # its batch or one of its runs lives
                        head, _, seeds = f.read().decode('utf-8', 'replace').partition('\n')
                        clash = [s for s in seeds.split() if s.isdigit() and int(s) in wanted]
                        if head == condition and clash:
                            raise Exit('seed %s of this condition is being run by another batch '
                                       '(claim %s; its runs are still alive); wait for it or '
                                       'stop it, then rerun' % (clash[0], path))
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)                 # its batch and runs are gone
            fd = os.open(mine, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise Exit('cannot claim %s: the runs of an earlier batch hold it' % mine)
            os.ftruncate(fd, 0)
            os.write(fd, ('%s\n%s\n' % (condition, ' '.join(map(str, todo)))).encode('utf-8'))
            return fd, mine
    except OSError as e:
        raise Exit('cannot claim the seeds beside %s: %s' % (results, e)) from None


def run_local(todo, jobs, flags, python, logdir, results, condition, control, tally, signals):
    """The seeds in `jobs` processes here; the exit status."""
    try:
        os.makedirs(logdir, exist_ok=True)
        os.makedirs(os.path.dirname(results) or '.', exist_ok=True)
    except OSError as e:
        raise Exit('cannot create %s: %s' % (e.filename, e.strerror)) from None
    fd, claimed = claim(results, condition, todo)
    runs = []
    try:
        print('%d run(s) to do, %d skipped (already in %s), in %d process(es); per-run logs '
              'in %s/' % (len(todo), tally.skipped, results, jobs, logdir), flush=True)
        for j, share in enumerate(deal(todo, jobs)):
            if signals.caught:
                break
            runs.append(Run(share, os.path.join(logdir, 'batch%d-%d' % (os.getpid(), j)),
                            logdir, control))
            try:
                runs[-1].start(python, flags, fd)
            except OSError as e:
                raise Exit('cannot run %s: %s' % (python, e.strerror)) from None
        live = list(runs)
        while live and not signals.caught:
            for r in list(live):
                status = r.proc.poll()     # first: what it wrote before it ended is read below
                # Its last events are reported with it no longer counted as running.
                r.pump(tally, len(live) - (status is not None))
                if status is not None:
                    live.remove(r)
                    r.ended(status, tally, len(live))
            if live:
                signals.sleep(TICK)
        if signals.caught:
            return stop(live, tally, signals)
        tally.summary()
        return 1 if tally.failed else 0
    finally:
        for r in runs:
            r.close()
        os.close(fd)
        os.unlink(claimed)


def stop(live, tally, signals):
    """Ctrl-C, SIGTERM, hangup: every process is sent SIGTERM; it stops at its
    next tournament and writes nothing for the experiment it was in."""
    signals.ignore()
    print('interrupted: stopping %d running process(es)' % len(live), file=sys.stderr, flush=True)
    for r in live:
        r.proc.send_signal(signal.SIGTERM)
    while live:
        for r in list(live):
            status = r.proc.poll()
            r.pump(tally, len(live))
            if status is not None:
                live.remove(r)
        if live:
            time.sleep(TICK)
    tally.summary()
    print('interrupted: %d experiment(s) finished in this batch; rerun the same command to '
          'resume' % tally.ok, file=sys.stderr, flush=True)
    return 130
