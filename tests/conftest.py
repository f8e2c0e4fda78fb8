import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def skip_or_fail(reason):
    """Skip with `reason`; under CI ($PATHNET_CI set, as .ci/run does) fail
    with it instead: CI runs every test, and a skip there hides a broken
    setup."""
    if os.environ.get('PATHNET_CI'):
        pytest.fail('%s (PATHNET_CI is set: CI runs every test, nothing is skipped)' % reason,
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope='session')
def mnist_dir():
    """The offline MNIST copy, $MNIST_DATA_DIR (made absolute); the tests
    never look anywhere else. Unset: skipped (failed under PATHNET_CI). Set
    to a folder without the four files: failed, as a wrong setting."""
    import input_data
    path = os.environ.get('MNIST_DATA_DIR')
    if not path:
        skip_or_fail('needs MNIST: set MNIST_DATA_DIR to a folder with the four MNIST .gz files')
    missing = [f for f in input_data.FILES.values() if not os.path.isfile(os.path.join(path, f))]
    if missing:
        pytest.fail('MNIST_DATA_DIR=%s is set, but %s not there' % (
            path, ', '.join(missing) + (' is' if len(missing) == 1 else ' are')), pytrace=False)
    return os.path.abspath(path)


def one_line_error(main, capsys, argv):
    """Run a command's main() in-process: it must exit 1 with exactly one
    `error: ...` line on stderr and nothing on stdout. Returns that line."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ''
    assert err.startswith('error: ') and err.count('\n') == 1, err
    return err


SLURM_SCRIPT = os.path.join(ROOT, 'tests', 'slurm_cluster.sh')
# Test sessions on one machine share the one test cluster (its ports): one at
# a time, or one session's stop would pull it from under another.
SLURM_LOCK = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'pathnet-slurm-test.lock')
SLURM_LOCK_WAIT = 900


class SlurmCluster:
    """What the `slurm` fixture yields.

    conf     the cluster's slurm.conf
    env      os.environ plus SLURM_CONF, which every client (sbatch, squeue,
             scontrol, scancel) needs: pass env=slurm.env
    jobcomp  one line per finished job or array task, written by slurmctld
             (JobState=, ExitCode=exit:signal, ArrayJobId=, ArrayTaskId=...);
             there is no accounting, so no sacct"""

    def __init__(self, conf):
        self.conf = conf
        self.env = dict(os.environ, SLURM_CONF=conf)
        self.jobcomp = os.path.join(os.path.dirname(conf), 'log', 'jobcomp.txt')

    def tasks(self, array_job_id):
        """{task id: (JobState, exit code)} of the array's finished tasks,
        e.g. {0: ('COMPLETED', 0), 1: ('FAILED', 7)}; from jobcomp, so
        complete once `sbatch --wait` has returned."""
        out = {}
        if not os.path.exists(self.jobcomp):
            return out
        with open(self.jobcomp) as f:
            for line in f:
                kv = dict(w.split('=', 1) for w in line.split() if '=' in w)
                if kv.get('ArrayJobId') == str(array_job_id):
                    out[int(kv['ArrayTaskId'])] = (kv['JobState'],
                                                   int(kv['ExitCode'].split(':')[0]))
        return out


@pytest.fixture(scope='session')
def slurm():
    """A single-node SLURM cluster for the session (tests/slurm_cluster.sh),
    a SlurmCluster. Skips, with the script's one-line reason, when it cannot
    be had: not root (exit 2) or no packages (exit 3); under PATHNET_CI
    those fail instead, as any other failure does. Stops the cluster at
    the end, unless it was up before."""
    import fcntl
    import subprocess
    import time
    lock = os.open(SLURM_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)   # any user may read it
    deadline = time.time() + SLURM_LOCK_WAIT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.time() > deadline:
                os.close(lock)
                skip_or_fail('no SLURM cluster: another test session held %s for %d s'
                             % (SLURM_LOCK, SLURM_LOCK_WAIT))
            time.sleep(1)
    try:
        r = subprocess.run(['bash', SLURM_SCRIPT, 'start'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=900)
        # Stopped afterwards, whatever start said (stop only stops what start
        # started), unless it was up before this session.
        started = 'already up' not in r.stdout
        try:
            if r.returncode in (2, 3):
                lines = (r.stderr.strip() or r.stdout.strip()).splitlines()   # reason: stderr
                skip_or_fail('no SLURM cluster: %s'
                             % (lines[-1] if lines else 'exit %d' % r.returncode))
            if r.returncode != 0:
                pytest.fail('%s start failed (exit %d):\n%s%s'
                            % (SLURM_SCRIPT, r.returncode, r.stdout, r.stderr), pytrace=False)
            conf = [l.split('=', 1)[1] for l in r.stdout.splitlines()
                    if l.startswith('export SLURM_CONF=')][-1]
            yield SlurmCluster(conf)
        finally:
            if started and r.returncode != 2:       # 2: not root, stop cannot either
                st = subprocess.run(['bash', SLURM_SCRIPT, 'stop'], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, universal_newlines=True,
                                    timeout=300)
                assert st.returncode == 0, '%s stop failed:\n%s' % (SLURM_SCRIPT, st.stdout)
    finally:
        os.close(lock)
