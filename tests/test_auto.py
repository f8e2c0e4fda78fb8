"""auto_binary_mnist_pathnet.sh: parallel batches into one log, resume,
a failing run, bad arguments, SIGTERM.

Each driver run costs ~5 s of TensorFlow startup, so the runs are tiny
(SMALL) and the two parallel batches are shared by the resume test."""
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCRIPT = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
VENV_PY = os.path.join(ROOT, '.venv', 'bin', 'python')
PYTHON = VENV_PY if os.path.exists(VENV_PY) else sys.executable
# Absolute: the batches run in other folders than the one pytest started in.
MNIST = os.path.abspath(os.environ['MNIST_DATA_DIR']) if os.environ.get('MNIST_DATA_DIR') else ''
# conftest's fixture: skipped without MNIST_DATA_DIR, failed under PATHNET_CI or when wrong.
needs_mnist = pytest.mark.usefixtures('mnist_dir')
pytestmark = pytest.mark.slow       # batches of driver processes
SMALL = ['--max_steps', '3', '--T', '2', '--candi', '4']

from results_log import COLUMNS  # noqa: E402


def env(**extra):
    e = dict(os.environ, MNIST_DATA_DIR=MNIST, PYTHON=PYTHON)
    e.pop('SEED_BASE', None)
    e.pop('RUN_LOG_DIR', None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start(log, runs, jobs, *flags, **envs):
    """The script in the background; its stdout and stderr merged."""
    cmd = [SCRIPT, str(runs), str(jobs), '--', '--results', str(log)] + SMALL + list(flags)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env(**envs), cwd=os.path.dirname(str(log)))


def finish(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def rows(log):
    """The log's rows; asserts it is well-formed: one header, whole rows."""
    if not os.path.exists(log) or os.path.getsize(log) == 0:
        return []
    with open(log, newline='') as f:
        text = f.read()
    assert text.endswith('\n')
    table = list(csv.reader(text.splitlines()))
    assert table[0] == COLUMNS
    assert all(r != COLUMNS for r in table[1:]), 'header written twice'
    assert all(len(r) == len(COLUMNS) for r in table[1:]), 'a partial row'
    return [dict(zip(COLUMNS, r)) for r in table[1:]]


@pytest.fixture(scope='module')
def two_batches(tmp_path_factory):
    """Two batches (2 runs x 2 jobs, seeds 0-1 and 100-101) at the same time,
    into one log."""
    tmp = tmp_path_factory.mktemp('parallel')
    log = tmp / 'log.csv'
    procs = [start(log, 2, 2, SEED_BASE=base) for base in (0, 100)]
    return log, [finish(p) for p in procs]


@needs_mnist
def test_parallel_batches_append_whole_rows_to_one_log(two_batches):
    log, results = two_batches
    for rc, out in results:
        assert rc == 0, out
        assert 'summary: 2 done, 0 failed, 0 skipped' in out
        for i in (0, 1):
            assert re.search(r'^%d Iteration, Entire Iter:\d+,TASK1:\d+,TASK2:\d+,Overlap:\d+$' % i,
                             out, re.M), out
        assert '[2/2] 2 done, 0 failed' in out
    got = rows(log)
    assert sorted(int(r['seed']) for r in got) == [0, 1, 100, 101]
    assert {r['control'] for r in got} == {'pathnet'}
    # Console output goes to one log per run, named by seed, not the terminal.
    for seed in (0, 1, 100, 101):
        with open(log.parent / 'runs' / ('pathnet-seed%d.log' % seed)) as f:
            assert 'task 1  gen    1' in f.read()
    assert 'task 1  gen' not in results[0][1]


@needs_mnist
def test_resume_skips_seeds_done_in_the_same_condition(two_batches, tmp_path):
    log = tmp_path / 'log.csv'
    shutil.copy(two_batches[0], log)
    # Seed 2 in another condition (other control, other settings) is not done.
    other = [dict(rows(log)[0], seed='2', control='scratch',
                  settings='--control=scratch ' + rows(log)[0]['settings']),
             dict(rows(log)[0], seed='2', settings='--T=3')]
    with open(log, 'a', newline='') as f:
        csv.writer(f, lineterminator='\n').writerows([[r[c] for c in COLUMNS] for r in other])
    rc, out = finish(start(log, 3, 2))
    assert rc == 0, out
    assert 'summary: 1 done, 0 failed, 2 skipped' in out
    assert '\n2 Iteration, Entire Iter:' in out
    assert '0 Iteration' not in out and '1 Iteration' not in out
    got = [r for r in rows(log) if r['control'] == 'pathnet' and r['settings'] != '--T=3']
    assert sorted(int(r['seed']) for r in got if int(r['seed']) < 100) == [0, 1, 2]
    # Everything done: nothing runs, not even TensorFlow.
    rc, out = finish(start(log, 3, 2))
    assert rc == 0 and 'summary: 0 done, 0 failed, 3 skipped' in out, out


def inject(tmp_path, body):
    """A PYTHONPATH whose sitecustomize breaks the driver of the process whose
    --seeds list starts with 10 (seeds 10 and 12 in a 3-run, 2-job batch)."""
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(
        'import sys\n'
        'if "10,12" in sys.argv:\n'
        '    sys.path.insert(0, %r)\n' % ROOT + body)
    return str(site)


@needs_mnist
def test_a_failing_experiment_is_reported_and_its_process_goes_on(tmp_path):
    """Seed 10's experiment raises; seed 12, next in the same process, runs."""
    site = inject(tmp_path, '    import input_data\n'
                            '    real, calls = input_data.binary_task, []\n'
                            '    def broken(*a, **k):\n'
                            '        calls.append(1)\n'
                            '        if len(calls) == 1:\n'
                            '            raise RuntimeError("injected failure")\n'
                            '        return real(*a, **k)\n'
                            '    input_data.binary_task = broken\n')
    log = tmp_path / 'log.csv'
    rc, out = finish(start(log, 3, 2, SEED_BASE=10, PYTHONPATH=site))
    assert rc == 1, out
    fail = [line for line in out.splitlines() if line.startswith('FAILED')]
    assert len(fail) == 1 and 'seed 10' in fail[0] and 'injected failure' in fail[0], out
    assert 'summary: 2 done, 1 failed, 0 skipped' in out
    assert sorted(int(r['seed']) for r in rows(log)) == [11, 12]


@needs_mnist
def test_a_dying_process_fails_its_seeds_and_the_batch_goes_on(tmp_path):
    site = inject(tmp_path, '    import os\n'
                            '    print("error: injected failure", file=sys.stderr, flush=True)\n'
                            '    os._exit(1)\n')
    log = tmp_path / 'log.csv'
    rc, out = finish(start(log, 3, 2, SEED_BASE=10, PYTHONPATH=site))
    assert rc == 1, out
    fail = [line for line in out.splitlines() if line.startswith('FAILED')]
    assert len(fail) == 2, out
    for seed, line in zip((10, 12), sorted(fail)):
        assert 'seed %d' % seed in line and 'error: injected failure' in line, out
    assert 'summary: 1 done, 2 failed, 0 skipped' in out
    assert [int(r['seed']) for r in rows(log)] == [11]


@needs_mnist
def test_resuming_an_interrupted_chunked_batch_runs_each_seed_once(tmp_path):
    log = tmp_path / 'log.csv'
    slow = ('--max_steps', '200', '--T', '20')       # an experiment takes seconds
    proc = start(log, 6, 2, *slow)
    for line in proc.stdout:
        if ' Iteration, Entire Iter:' in line:
            break
    proc.send_signal(signal.SIGTERM)
    rc, out = finish(proc)
    assert rc == 130, out
    first = [int(r['seed']) for r in rows(log)]
    assert 1 <= len(first) < 6
    rc, out = finish(start(log, 6, 2, *slow))
    assert rc == 0, out
    assert 'summary: %d done, 0 failed, %d skipped' % (6 - len(first), len(first)) in out
    assert sorted(int(r['seed']) for r in rows(log)) == list(range(6))


@pytest.mark.parametrize('args, what', [
    (['0'], 'RUNS'), (['x'], 'RUNS'), (['1.5'], 'RUNS'), (['-3'], 'RUNS'),
    (['2', '0'], 'JOBS'), (['2', 'two'], 'JOBS'), (['1', '2', '3'], 'too many')])
def test_bad_runs_or_jobs_exit_2_with_one_line(tmp_path, args, what):
    p = subprocess.run([SCRIPT] + args, capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert p.returncode == 2
    assert p.stdout == ''
    assert len(p.stderr.splitlines()) == 1 and what in p.stderr
    assert not os.path.exists(tmp_path / 'results')


def test_help_documents_the_knobs():
    p = subprocess.run([SCRIPT, '--help'], capture_output=True, text=True, env=env())
    assert p.returncode == 0
    for word in ('usage:', 'RUNS', 'JOBS', 'SEED_BASE', 'RUN_LOG_DIR', 'PYTHON',
                 '--threads', '--results', '--control'):
        assert word in p.stdout


def children(pid):
    """The processes whose parent is pid."""
    kids = []
    for d in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return kids


@needs_mnist
def test_sigterm_stops_every_run_and_keeps_the_log_whole(tmp_path):
    log = tmp_path / 'log.csv'
    # Default T: a task takes far longer than this test waits.
    proc = start(log, 4, 2, '--max_steps', '1000', '--T', '50')
    runs = [tmp_path / 'runs' / ('pathnet-seed%d.log' % s) for s in (0, 1)]
    deadline = time.time() + 120
    while not all(r.exists() and 'task 1  gen' in r.read_text() for r in runs):
        assert proc.poll() is None and time.time() < deadline, 'no progress'
        time.sleep(0.2)
    kids = children(proc.pid)
    assert len(kids) == 2
    proc.send_signal(signal.SIGTERM)
    rc, out = finish(proc, timeout=60)
    assert rc == 130, out
    assert 'interrupted: 0 experiment(s) finished' in out
    assert not any(os.path.exists('/proc/%d' % k) for k in kids)
    assert rows(log) == []
    for r in runs:
        assert 'interrupted: nothing was written' in r.read_text()


@needs_mnist
def test_runs_started_through_a_wrapper_are_not_taken_for_orphans(tmp_path):
    """A PYTHON that does not exec (an environment-activating wrapper, say)
    puts a process between the batch and its runs; they must still run."""
    wrapper = tmp_path / 'python'
    wrapper.write_text('#!/bin/bash\n%s "$@"\n' % PYTHON)
    wrapper.chmod(0o755)
    log = tmp_path / 'log.csv'
    rc, out = finish(start(log, 2, 2, PYTHON=wrapper))
    assert rc == 0, out
    assert sorted(int(r['seed']) for r in rows(log)) == [0, 1]
