"""Stopping a run at a safe point: Ctrl-C, SIGTERM, and the death of the batch
that started it. Standard library only, so the driver can import it before
NumPy and TensorFlow and catch a signal from its first lines on.

Signal handlers only record the request; the run checks it between
tournaments, between experiments and before a row is written. Raising from
the handler while TensorFlow's C++ code was on the stack aborted or crashed
runs.
"""
import os
import signal
import sys
import time

STARTED = time.time()   # the driver imports this module first: its imports count as start-up

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A stop was requested: the run ends with one line and exit 130."""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process: it exists
        pass
    return True


class Stop:
    """Whether this run has been asked to stop."""

    def __init__(self):
        self.signal, self.parent, self.child = None, None, False

    def watch(self, parent):
        """Stop when the batch with this pid is gone."""
        self.parent, self.child = parent, os.getppid() == parent

    def install(self):
        for sig in SIGNALS:
            signal.signal(sig, self._record)
        return self

    def _record(self, sig, _frame):
        self.signal = self.signal or sig

    def requested(self):
        # A batch killed with -9 cannot signal its runs: they notice that it
        # is gone, or (its direct children) that they have a new parent
        # while it is not yet reaped.
        if self.parent is not None and (self.child and os.getppid() != self.parent
                                        or not alive(self.parent)):
            self.signal = self.signal or signal.SIGTERM
        return self.signal is not None

    def check(self):
        if self.requested():
            raise Interrupted


def ignore_signals():
    """Once a run's outcome is decided: at exit Python restores the default
    handlers, and a signal during TensorFlow's teardown (up to a second)
    would kill a finished run; ignored signals it leaves alone."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _running_the_driver():
    main = sys.modules.get('__main__')
    return os.path.basename(getattr(main, '__file__', None) or '') == 'binary_mnist_pathnet.py'


# The driver run as a program imports this module first: its handlers are in
# place before the slow imports. Imported by anything else (the tests, the
# benchmark), it installs nothing; they make their own Stop.
STOP = Stop().install() if _running_the_driver() else None
