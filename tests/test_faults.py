"""The fault trial's findings: interrupts at random moments, torn and foreign
logs, a batch killed with -9, a class with no images, divergence, unwritable
outputs, unreadable data, logs where nothing converged.

Driver runs are tiny (SMALL); most refusals are checked in-process, since
they happen before TensorFlow is imported. The tests that start driver
processes or the batch script are marked slow. The interrupt trial sends
PATHNET_INTERRUPT_TRIALS interrupts (default 30) at moments drawn from
PATHNET_TRIAL_SEED (drawn and printed when not set; a failure names it, so
it can be replayed); run a big one by hand with

    PATHNET_INTERRUPT_TRIALS=400 pytest -s tests/test_faults.py -k trial

Interrupts count from the moment the driver catches signals (its first act,
about 20 ms after exec here; seen in its /proc status, so a loaded machine
only delays the trial). Before it, in the interpreter's own start-up, no
program can help it: a signal in the first ~5 ms kills the process (-2, -15),
and a SIGINT while site runs the venv's .pth files gives Python's own
KeyboardInterrupt traceback (exit 1).
"""
import concurrent.futures
import csv
import gzip
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import binary_mnist_pathnet as driver
import input_data
import results_log
from conftest import ROOT, one_line_error
from results_log import COLUMNS, COLUMNS_V1

DRIVER = os.path.join(ROOT, 'binary_mnist_pathnet.py')
SCRIPT = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
SMALL = ['--max_steps', '3', '--T', '2', '--candi', '4', '--quiet']
SUMMARY = re.compile(r'^Entire Iter:\d+,TASK1:\d+,TASK2:\d+,Overlap:\d+$')
# One finished experiment of the reference study (both tasks solved).
V1_ROW = ['2026-11-27T09:01:53Z', '1', 'pathnet', '5v6', '6v7', '132', '63', '3', '1', '1',
          '0.9988', '0.9988', '0.9319', '0.9773', '1-9|0-4|7-8', '1-4-7|0-6-8|1-8',
          '3', '10', '3', '11.6', '']
BINARY = b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 4   # not UTF-8 from byte 1
ROW = dict(zip(COLUMNS, V1_ROW + ['0', '0', '20', '40', '60', '10', '20', '30'] +
               ['0123456789ab', '2.21.0', '2.4.6', '0.9300', '0.9700',
                '5', '10', '', '', '3', '4', '6', '9'] +
               ['0.9319', '1:0.9100 2:0.9300', '1:0.9500']))


def env(mnist_dir, **extra):
    e = dict(os.environ, MNIST_DATA_DIR=mnist_dir, MNIST_MIRRORS='file:///nonexistent/')
    e.pop('PATHNET_BATCH_PID', None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start(args, mnist_dir, **kw):
    return subprocess.Popen([sys.executable, DRIVER] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(mnist_dir), **kw)


def run(args, mnist_dir, timeout=300):
    return subprocess.run([sys.executable, DRIVER] + args, capture_output=True, text=True,
                          env=env(mnist_dir), timeout=timeout)


def table(path):
    """The log's records; asserts it is whole: the header once, then full rows only."""
    with open(path, newline='') as f:
        text = f.read()
    assert text.endswith('\n'), 'the last row is not finished'
    records = list(csv.reader(text.splitlines()))
    assert records[0] == COLUMNS
    assert all(r != COLUMNS for r in records[1:]), 'header written twice'
    assert all(len(r) == len(COLUMNS) for r in records[1:]), 'a partial row'
    return [dict(zip(COLUMNS, r)) for r in records[1:]]


def write_log(path, rows, columns=COLUMNS, tail=''):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(columns)
        w.writerows([r[c] for c in columns] for r in rows)
        f.write(tail)


def catches(pid, sig):
    """Whether process pid has a handler for sig (its SigCgt mask in /proc)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('SigCgt:'):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


HANDLERS_WAIT = 60     # seconds: start-up on a loaded machine, not a speed limit


def wait_for_handlers(proc):
    """Until the driver's own handlers are in place: its SigCgt mask shows
    SIGINT and SIGTERM caught (Python catches SIGINT by itself, the driver
    adds SIGTERM as its first act). Fails if that takes HANDLERS_WAIT s or
    the driver ends first. Returns the seconds waited."""
    t0 = time.time()
    while not (catches(proc.pid, signal.SIGINT) and catches(proc.pid, signal.SIGTERM)):
        if proc.poll() is not None:
            pytest.fail('the driver ended (exit %d) before it caught SIGINT and SIGTERM'
                        % proc.returncode, pytrace=False)
        if time.time() - t0 > HANDLERS_WAIT:
            pytest.fail('the driver (pid %d) did not catch SIGINT and SIGTERM within %d s '
                        '(SigCgt in /proc/%d/status)' % (proc.pid, HANDLERS_WAIT, proc.pid),
                        pytrace=False)
        time.sleep(0.001)
    return time.time() - t0


# ---------------------------------------------------------------------------
# 1, 2. Interrupts.

KINDS = {'INT': (signal.SIGINT,), 'TERM': (signal.SIGTERM,),
         'INT+TERM': (signal.SIGINT, signal.SIGTERM)}


def finished_seeds(out, seeds):
    """The seeds whose row was written: those followed by their summary line."""
    done, seed = [], seeds[0]
    for line in out.splitlines():
        m = re.match(r'^experiment \d+ of \d+: seed (\d+)$', line)
        if m:
            seed = int(m.group(1))
        elif SUMMARY.match(line):
            done.append(seed)
    return done


def interrupt_once(i, kind, several, anchor, delay, log, mnist_dir):
    seeds = [10 * i + k for k in range(3)] if several else [10 * i]
    flags = (['--seeds', '%d-%d' % (seeds[0], seeds[-1])] if several else ['--seed', str(seeds[0])])
    proc = start(flags + ['--results', log, '--max_steps', '3', '--T', '2', '--candi', '4',
                          '--quiet'], mnist_dir)
    # The clock starts when the driver catches signals (before that the Python
    # interpreter is starting, and no program can catch anything), however
    # long that takes on a loaded machine.
    waited = wait_for_handlers(proc)
    if anchor == 'ready':       # however long start-up takes on a loaded machine
        for line in iter(proc.stdout.readline, ''):
            if line.startswith('ready'):
                break
        else:
            pytest.fail('no ready line')
    time.sleep(delay)
    for k, sig in enumerate(KINDS[kind]):
        if k:
            time.sleep(0.001)
        proc.send_signal(sig)       # nothing once it has ended and been reaped
    out, err = proc.communicate(timeout=300)
    out = ('ready\n' if anchor == 'ready' else '') + out
    return dict(i=i, kind=kind, several=several, delay=delay, waited=waited, rc=proc.returncode,
                out=out, err=err, seeds=seeds, done=finished_seeds(out, seeds))


def check_interrupted(r, log, seed):
    what = '%(kind)s at %(delay).3fs to %(seeds)s' % r + ' (PATHNET_TRIAL_SEED=%d)' % seed
    assert r['rc'] in (0, 130), (what, r['rc'], r['err'])
    assert 'Traceback' not in r['err'] and 'Error' not in r['err'], (what, r['err'])
    assert len(set(r['done'])) == len(r['done']), (what, r['out'])
    if r['rc'] == 0:
        assert r['done'] == r['seeds'] and r['err'] == '', (what, r['err'])
        return
    message = ('interrupted: nothing was written to %s' % log if not r['done'] else
               'interrupted: %d finished experiment(s) kept in %s' % (len(r['done']), log))
    assert r['err'].strip() == message, (what, r['err'])
    assert 'seeds: ' not in r['out']         # a batch's last line only once all have run


@pytest.mark.slow
def test_interrupt_trial_exit_130_or_complete_and_whole_rows(tmp_path, mnist_dir):
    n = int(os.environ.get('PATHNET_INTERRUPT_TRIALS', '30'))
    seed = int(os.environ.get('PATHNET_TRIAL_SEED') or random.SystemRandom().randrange(2 ** 32))
    print('\ninterrupt trial: PATHNET_TRIAL_SEED=%d' % seed)
    rng = random.Random(seed)
    log = str(tmp_path / 'log.csv')
    trials = []
    for i in range(n):
        # A quarter in the first tenth of a second (imports), a quarter in the
        # first 3 s, half up to 3 s after the ready line: in training, between
        # experiments, or after the end (experiments take about half a second).
        u = rng.random()
        anchor, delay = ('start', rng.uniform(0, 0.1)) if u < 0.25 else \
            ('start', rng.uniform(0, 3)) if u < 0.5 else ('ready', rng.uniform(0, 3))
        trials.append((i, list(KINDS)[i % 3], rng.random() < 0.5, anchor, delay))
    # Several at once: they also share the log.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: interrupt_once(*t, log, mnist_dir), trials))
    counts = {}
    for r in results:
        when = ('in start-up' if 'ready' not in r['out'] else 'after %d experiment(s)'
                % len(r['done']))
        key = (r['kind'], 'seeds' if r['several'] else 'seed', r['rc'], when)
        counts[key] = counts.get(key, 0) + 1
    print('interrupt trial (PATHNET_TRIAL_SEED=%d): %d interrupts' % (seed, n))
    for key in sorted(counts):
        print('  %-8s %-5s exit %3d %-22s %d' % (key + (counts[key],)))
    print('  experiments finished: %d; handlers in place %.3f s after start at most'
          % (sum(len(r['done']) for r in results), max(r['waited'] for r in results)))
    for r in results:
        check_interrupted(r, log, seed)
    done = sorted(s for r in results for s in r['done'])
    rows = table(log) if os.path.exists(log) else []
    assert sorted(int(r['seed']) for r in rows) == done, \
        'rows only for finished runs (PATHNET_TRIAL_SEED=%d)' % seed


@pytest.mark.slow
def test_sigint_as_soon_as_the_driver_catches_signals(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    proc = start(['--seed', '1', '--results', str(log)] + SMALL, mnist_dir)
    # At its first line, seconds before its imports are done.
    wait_for_handlers(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert 'Traceback' not in err, err
    assert proc.returncode == 130, err
    assert err == 'interrupted: nothing was written to %s\n' % log
    assert 'ready' not in out and out == ''           # before TensorFlow, before training
    assert not log.exists()


@pytest.mark.slow
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_signal_after_the_last_line_leaves_a_finished_run(tmp_path, mnist_dir, sig):
    """Found by the big trial (1 in 300): a signal during TensorFlow's teardown,
    after Python restored the default handlers, killed a finished run (-2)."""
    log = tmp_path / 'log.csv'
    proc = start(['--seed', '1', '--results', str(log)] + SMALL, mnist_dir)
    for line in proc.stdout:
        if SUMMARY.match(line):
            break
    while proc.poll() is None:          # signals all along its way out
        proc.send_signal(sig)
        time.sleep(0.02)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (proc.returncode, err)
    assert err == '' and out == ''     # the summary line was the last
    assert [r['seed'] for r in table(log)] == ['1']


# ---------------------------------------------------------------------------
# 3, 4. Logs: torn, foreign, old.

@pytest.mark.slow
def test_append_after_a_torn_last_line(tmp_path, mnist_dir, capsys):
    import plot_overlap
    from analysis import plot_paths
    from analysis import plot_transfer
    log = tmp_path / 'log.csv'
    torn = ','.join(V1_ROW[:9])          # a crash cut this row short, with no newline
    write_log(log, [ROW], tail=torn)
    p = run(['--seed', '5', '--results', str(log)] + SMALL, mnist_dir)
    assert p.returncode == 0, p.stderr
    lines = log.read_text().splitlines()
    assert lines[:3] == [','.join(COLUMNS), ','.join(ROW[c] for c in COLUMNS), torn]
    assert len(lines) == 4 and lines[3].split(',')[1] == '5', lines
    assert len(next(csv.reader([lines[3]]))) == len(COLUMNS)
    rows = results_log.read_log(str(log))
    assert [r['seed'] for r in rows] == ['1', '5']
    assert 'torn row (9 fields, expected %d), skipped' % len(COLUMNS) in capsys.readouterr().err
    out = tmp_path / 'fig.png'
    for main, argv in ((plot_transfer.main, [str(log), '-o', str(out)]),
                       (plot_overlap.main, [str(log), '-o', str(out)]),
                       (plot_paths.main, [str(log), '--seed', '5', '-o', str(out)])):
        assert main(argv) == 0, capsys.readouterr().err
        err = capsys.readouterr().err
        assert 'line 3: torn row' in err and 'Traceback' not in err, err


@pytest.mark.parametrize('content, what', [
    (b'a,b,c\n1,2,3\n',
     "is not a results log: its first line is not a results-log header ('a,b,c')"),
    (b'hello, I am not a log\n\x01 at all', 'is not a results log: its first line'),
    (BINARY, 'is not a results log: it is not UTF-8 text'),
    (None, 'is a directory, not a results log'),
])
def test_driver_refuses_a_results_file_that_is_not_a_log(tmp_path, mnist_dir, capsys,
                                                         content, what):
    path = tmp_path / 'results.csv'
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    err = one_line_error(driver.main, capsys, ['--seed', '1', '--results', str(path),
                                               '--data_dir', mnist_dir] + SMALL)
    assert err == 'error: %s %s\n' % (path, what) if content is None else \
        err.startswith('error: %s %s' % (path, what)), err
    if content is None:
        assert os.listdir(path) == []
    else:
        assert path.read_bytes() == content


@pytest.mark.slow
def test_log_of_the_previous_version_is_upgraded_and_stays_aligned(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    write_log(log, [dict(zip(COLUMNS_V1, V1_ROW))], columns=COLUMNS_V1)
    p = run(['--seed', '7', '--results', str(log)] + SMALL, mnist_dir)
    assert p.returncode == 0, p.stderr
    old, new = table(log)
    assert [old[c] for c in COLUMNS_V1] == V1_ROW
    assert all(old[c] == '' for c in COLUMNS[len(COLUMNS_V1):])
    assert new['seed'] == '7' and (new['task1'], new['task2']) == ('5v6', '6v7')
    assert (new['L'], new['M'], new['N']) == ('3', '10', '3')
    assert new['settings'] == '--T=2 --candi=4 --max_steps=3'
    assert new['task1_diverged'] == new['task2_diverged'] == '0'


# ---------------------------------------------------------------------------
# 5. A batch killed with -9.

def children(pid):
    kids = []
    for d in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % d) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b'binary_mnist_pathnet.py' in cmd:
            kids.append(int(d))
    return kids


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def batch(log, mnist_dir, *flags):
    e = env(mnist_dir, PYTHON=sys.executable)
    e.pop('SEED_BASE', None)
    e.pop('RUN_LOG_DIR', None)
    return subprocess.Popen([SCRIPT, '4', '2', '--', '--results', str(log), '--max_steps', '40',
                             '--T', '2', '--candi', '4', '--quiet'] + list(flags),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                            cwd=str(log.parent))


@pytest.mark.slow
def test_batch_killed_with_9_its_runs_stop_and_block_a_second_batch(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    # Seed 0 of this condition is done already: the batches run 1, 2, 3 in two processes.
    write_log(log, [dict(ROW, seed='0', settings='--T=2 --candi=4 --max_steps=40')])
    first = batch(log, mnist_dir)
    deadline = time.time() + 180
    # Both processes started (their handlers in place): an experiment takes
    # well under a second here, so catch them before they could finish.
    while True:
        kids = children(first.pid)
        if len(kids) == 2 and all(catches(k, signal.SIGTERM) for k in kids):
            break
        assert first.poll() is None and time.time() < deadline, first.communicate()
        time.sleep(0.001)
    for k in kids:                  # hold them, so they are certainly alive below
        os.kill(k, signal.SIGSTOP)
    first.kill()
    first.wait()
    # While they live, the same seeds and condition are refused.
    second = batch(log, mnist_dir)
    try:
        out, err = second.communicate(timeout=300)
    finally:                        # never leave them stopped
        for k in kids:
            os.kill(k, signal.SIGCONT)
    assert second.returncode == 2, (out, err)
    assert out == '' and len(err.splitlines()) == 1, err
    assert 'is being run by another batch' in err and 'Traceback' not in err
    deadline = time.time() + 60     # they notice that their batch is gone
    while any(alive(k) for k in kids):
        assert time.time() < deadline, 'runs outlived their batch'
        time.sleep(0.1)
    # ... and stopped, not finished their shares.
    consoles = [f.read_text() for f in (tmp_path / 'runs').iterdir()]
    assert sum('interrupted: ' in c for c in consoles) == len(kids), consoles
    before = sorted(int(r['seed']) for r in table(log))
    assert before[0] == 0 and len(before) < 4
    # Once they are gone, the rerun does the rest, and nothing twice.
    again = batch(log, mnist_dir)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, (out, err)
    assert 'summary: %d done, 0 failed, %d skipped' % (4 - len(before), len(before)) in out
    assert sorted(int(r['seed']) for r in table(log)) == [0, 1, 2, 3]
    # Seeds 1, 3 ran in one process: the start-up lines stay in the first one's console.
    first_console = (tmp_path / 'runs' / 'pathnet-seed1.log').read_text()
    assert first_console.startswith('ready ') and 'Entire Iter:' in first_console, first_console


# ---------------------------------------------------------------------------
# 6, 7. A class without images; divergence.

def test_task_with_no_training_images_of_a_class_is_refused(tmp_path, mnist_dir, capsys):
    data = tmp_path / 'mnist'
    data.mkdir()
    for name in input_data.FILES.values():
        if name != 'train-labels-idx1-ubyte.gz':
            os.symlink(os.path.join(mnist_dir, name), data / name)
    with gzip.open(os.path.join(mnist_dir, 'train-labels-idx1-ubyte.gz')) as f:
        raw = bytearray(f.read())
    labels = raw[8:]
    for i in range(input_data.VALIDATION_SIZE, len(labels)):
        if labels[i] == 5:
            labels[i] = 3
    assert 5 in labels[:input_data.VALIDATION_SIZE]    # only the validation images have 5s
    with gzip.open(data / 'train-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(bytes(raw[:8] + labels))
    err = one_line_error(driver.main, capsys, ['--seed', '1', '--data_dir', str(data),
                                               '--results', str(tmp_path / 'log.csv')] + SMALL)
    assert 'class 5 has no images in %s' % (data / 'train-labels-idx1-ubyte.gz') in err, err
    assert not (tmp_path / 'log.csv').exists()


@pytest.mark.slow
def test_divergence_is_recorded_and_the_experiment_goes_on(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    p = run(['--seed', '3', '--learning_rate', '1e6', '--results', str(log)] + SMALL, mnist_dir)
    assert p.returncode == 0, p.stderr
    assert re.search(r'^warning: seed 3: task 1 diverged at generation \d+', p.stderr, re.M), \
        p.stderr
    assert 'task 1 (5 vs 6) DIVERGED' in p.stdout
    (row,) = table(log)
    assert row['task1_diverged'] == '1' and row['task1_converged'] == '0'
    assert row['task2_diverged'] in ('0', '1') and row['task2_converged'] in ('0', '1')
    assert int(row['task2_generations']) >= 1 and len(row['task2_path'].split('|')) == 3
    assert row['task2_test_accuracy'] != ''


# ---------------------------------------------------------------------------
# 8. Unwritable outputs; no empty files left behind.

@pytest.mark.parametrize('flag', ['--log_dir', '--path_history'])
@pytest.mark.parametrize('where', ['under', 'is'])
def test_unwritable_log_dir_or_history_is_refused_before_training(tmp_path, mnist_dir, capsys,
                                                                  flag, where):
    plain = tmp_path / 'plain'
    plain.write_text('x')
    if where == 'is' and flag == '--path_history':
        target = tmp_path                       # a folder where a file is wanted
    else:
        target = plain / 'sub' if where == 'under' else plain
    log = tmp_path / 'new' / 'log.csv'
    err = one_line_error(driver.main, capsys, ['--seed', '1', flag, str(target),
                                               '--results', str(log),
                                               '--data_dir', mnist_dir] + SMALL)
    assert err.startswith('error: cannot write %s' % target), err
    assert plain.read_text() == 'x'
    assert not (tmp_path / 'new').exists()


@pytest.mark.slow
def test_failed_or_interrupted_run_leaves_no_empty_files(tmp_path, mnist_dir):
    log, history = tmp_path / 'log.csv', tmp_path / 'history.jsonl'
    # Failed: the data is missing, after the outputs were checked.
    p = run(['--seed', '1', '--results', str(log), '--path_history', str(history),
             '--data_dir', str(tmp_path / 'nodata')] + SMALL, mnist_dir)
    assert p.returncode == 1 and 'could not download' in p.stderr, p.stderr
    assert sorted(os.listdir(tmp_path)) == ['nodata']      # the download's folder only
    # Interrupted in training.
    proc = start(['--seed', '1', '--results', str(log), '--path_history', str(history),
                  '--max_steps', '1000', '--T', '2', '--candi', '4'], mnist_dir)
    for line in proc.stdout:
        if line.startswith('task 1  gen'):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert not log.exists() and not history.exists()


# ---------------------------------------------------------------------------
# 9. Unreadable data.

def test_unreadable_mnist_file_is_not_called_corrupt(tmp_path, mnist_dir, capsys, monkeypatch):
    real = gzip.open

    def denied(path, *a, **kw):
        if os.path.basename(str(path)) == 'train-labels-idx1-ubyte.gz':
            raise PermissionError(13, 'Permission denied', str(path))
        return real(path, *a, **kw)
    monkeypatch.setattr(gzip, 'open', denied)
    err = one_line_error(driver.main, capsys, ['--seed', '1', '--data_dir', mnist_dir,
                                               '--results', str(tmp_path / 'log.csv')] + SMALL)
    path = os.path.join(mnist_dir, 'train-labels-idx1-ubyte.gz')
    assert err == 'error: cannot read %s: Permission denied\n' % path, err


needs_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which('setpriv'),
    reason='needs root and setpriv to run as nobody (root reads everything)')


AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']


def as_nobody(args, mnist_dir, cwd):
    # Not measured by coverage (--cov): user nobody cannot write its data beside the code.
    e = {k: v for k, v in env(mnist_dir).items() if not k.startswith('COVERAGE_PROCESS')}
    return subprocess.run(AS_NOBODY + [sys.executable, DRIVER] + args, capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=300)


@pytest.fixture
def shared_tmp():
    """A folder user nobody can enter (pytest's tmp_path is root's only)."""
    path = tempfile.mkdtemp(prefix='faults-')
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


def nobody_cannot_run_the_driver(mnist_dir):
    """Why user nobody cannot run this interpreter with numpy on the driver
    (e.g. a venv under /root, a clone nobody may read), or None."""
    p = subprocess.run(AS_NOBODY + [sys.executable, '-c', 'import numpy; open(%r).close()'
                                    % DRIVER], capture_output=True, text=True,
                       env=env(mnist_dir), cwd='/', timeout=300)
    if p.returncode:
        lines = (p.stderr.strip() or 'exit %d' % p.returncode).splitlines()
        return 'user nobody cannot run %s with numpy on %s: %s' % (sys.executable, DRIVER,
                                                                    lines[-1])
    return None


@pytest.mark.slow
@needs_setpriv
@pytest.mark.parametrize('unreadable', ['file', 'folder'])
def test_unreadable_data_as_another_user(shared_tmp, mnist_dir, unreadable):
    reason = nobody_cannot_run_the_driver(mnist_dir)
    if reason:
        pytest.skip(reason)
    data = os.path.join(shared_tmp, 'mnist')
    shutil.copytree(mnist_dir, data)
    os.chmod(data, 0o755)
    target = os.path.join(data, 'train-labels-idx1-ubyte.gz') if unreadable == 'file' else data
    os.chmod(target, 0o000)
    p = as_nobody(['--seed', '1', '--data_dir', data, '--results',
                   os.path.join(shared_tmp, 'log.csv')] + SMALL, mnist_dir, shared_tmp)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    if unreadable == 'file':
        assert p.stderr == 'error: cannot read %s: Permission denied\n' % target
    else:
        assert p.stderr == 'error: cannot read the data folder %s: Permission denied\n' % data
    assert 'corrupt' not in p.stderr and 'download' not in p.stderr and p.stdout == ''
    assert os.listdir(shared_tmp) == ['mnist']


def test_data_path_that_is_a_file_is_not_a_folder(tmp_path, mnist_dir, capsys):
    path = tmp_path / 'mnist.gz'
    path.write_bytes(b'\x1f\x8b')
    err = one_line_error(driver.main, capsys, ['--seed', '1', '--data_dir', str(path),
                                               '--results', str(tmp_path / 'log.csv')] + SMALL)
    assert err == 'error: the data folder %s is not a folder\n' % path
    assert path.read_bytes() == b'\x1f\x8b'


# ---------------------------------------------------------------------------
# 10. The batch script given a log it cannot use.

@pytest.mark.slow
@pytest.mark.parametrize('kind', ['folder', 'binary'])
def test_batch_refuses_a_results_path_that_is_not_a_log(tmp_path, mnist_dir, kind):
    path = tmp_path / 'results.csv'
    if kind == 'folder':
        path.mkdir()
    else:
        path.write_bytes(BINARY)
    p = subprocess.run([SCRIPT, '2', '1', '--', '--results', str(path)] + SMALL,
                       capture_output=True, text=True, env=env(mnist_dir, PYTHON=sys.executable),
                       cwd=str(tmp_path), timeout=300)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == '' and len(p.stderr.splitlines()) == 1, p.stderr
    assert str(path) in p.stderr and 'Traceback' not in p.stderr
    assert ('is a directory' if kind == 'folder' else 'not UTF-8') in p.stderr, p.stderr
    assert sorted(os.listdir(tmp_path)) == ['results.csv']


# ---------------------------------------------------------------------------
# 11. Nothing converged.

def test_plots_of_a_log_where_nothing_converged(tmp_path, capsys):
    import plot_overlap
    from analysis import plot_paths
    from analysis import plot_transfer
    log = tmp_path / 'log.csv'
    rows = [dict(ROW, seed=str(s), control=c, task1_converged='0', task2_converged='0',
                 task1_generations='3', task2_generations='3')
            for s in range(3) for c in ('pathnet', 'scratch')]
    write_log(log, rows)
    out = str(tmp_path / 'fig.png')
    # overlap: only experiments that solved both tasks have paths worth comparing.
    err = one_line_error(plot_overlap.main, capsys, [str(log), '-o', out])
    assert 'none of the 3 pathnet experiments in %s solved both tasks (task 1: 0, task 2: 0)' \
        % log in err, err
    assert not os.path.exists(out)
    # transfer: drawn, every run counted at the cap and said to be censored.
    assert plot_transfer.main([str(log), '-o', out]) == 0
    text = capsys.readouterr().out
    assert re.search(r'^pathnet +3 +0/3 ', text, re.M) and re.search(r'^scratch +3 +0/3 ', text,
                                                                     re.M), text
    assert 'not converged (censored): pathnet 3, scratch 3; counted at the cap of 3 ' \
           'generations, so the means are lower bounds' in text, text
    # paths: drawn, and the figures say the paths are not converged ones.
    assert plot_paths.main([str(log), '--usage', '-o', out]) == 0
    fig = plot_paths.draw_usage([r for r in plot_paths.load_log(str(log))
                                 if r['control'] == 'pathnet'], 'pathnet', 'log.csv')
    assert '3 of them did not solve both tasks (not converged: task 1 3, task 2 3)' \
        in fig._suptitle.get_text()
    assert plot_paths.main([str(log), '--seed', '1', '-o', out]) == 0
    row = [r for r in plot_paths.load_log(str(log))
           if r['seed'] == 1 and r['control'] == 'pathnet'][0]
    title = plot_paths.draw_paths(row)[0].axes[0].get_title()
    assert 'task 1: 5v6 in 3 generations (not converged);  task 2: 6v7 in 3 generations ' \
           '(not converged)' in title, title


# ---------------------------------------------------------------------------
# Found by the trial on a loaded machine: a run's last lines reached the batch
# more than 0.5 s after the run ended, and its written row was reported FAILED.

@pytest.mark.slow
def test_batch_waits_for_the_output_of_a_run_that_ended(tmp_path, mnist_dir):
    wrapper = tmp_path / 'python'
    # The run's output reaches the batch 3 s after the run has ended.
    wrapper.write_text('#!/bin/bash\nexec > >(out=$(cat); sleep 3; printf "%%s\\n" "$out")\n'
                       'exec %s "$@"\n' % sys.executable)
    wrapper.chmod(0o755)
    log = tmp_path / 'log.csv'
    p = subprocess.run([SCRIPT, '1', '1', '--', '--results', str(log)] + SMALL,
                       capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
                       env=env(mnist_dir, PYTHON=wrapper))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert 'summary: 1 done, 0 failed, 0 skipped' in p.stdout, p.stdout
    assert 'FAILED' not in p.stderr, p.stderr
    assert [r['seed'] for r in table(log)] == ['0']
