"""SCHEDULER=slurm ./auto_binary_mnist_pathnet.sh on a real single-node SLURM
(tests/slurm_cluster.sh, fixture `slurm` in conftest.py): one job array for
the seeds still to do, each task a log of its own in <log>-slurm/, --wait
reporting per seed and merging, resume, a failing task, plots of the result.
Needs root and apt (Debian/Ubuntu); skipped otherwise. The runs are tiny
(SMALL); each task still pays TensorFlow's start-up."""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCRIPT = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
VENV_PY = os.path.join(ROOT, '.venv', 'bin', 'python')
PYTHON = os.environ.get('PYTHON') or (VENV_PY if os.path.exists(VENV_PY) else sys.executable)
SMALL = ['--max_steps', '3', '--T', '2', '--candi', '4', '--quiet']
# The 4-task array's runs solve both tasks at once, so plot_overlap has
# generations to plot (with --max_steps 3 alone no run converges, and it refuses).
SOLVES = ['--threshold', '0.01']
TIMEOUT = 900     # the machine may be loaded: tasks queue behind each other

import pytest  # noqa: E402

from results_log import read_log  # noqa: E402

pytestmark = pytest.mark.slow       # a SLURM cluster and driver runs


def env(slurm, mnist_dir, **extra):
    e = dict(slurm.env, MNIST_DATA_DIR=mnist_dir, PYTHON=PYTHON, SCHEDULER='slurm',
             SLURM_POLL='1')
    for k in ('SEED_BASE', 'SLURM_LOG_DIR', 'SBATCH_ARGS', 'WAIT', 'SEEDS_PER_TASK',
              'RUN_LOG_DIR'):
        e.pop(k, None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def auto(slurm, mnist_dir, log, runs, jobs, *flags, wait=True, **envs):
    """The auto script on the test cluster: (exit status, stdout, stderr, seconds)."""
    cmd = [SCRIPT, str(runs), str(jobs)] + (['--wait'] if wait else []) + \
        ['--', '--results', str(log)] + SMALL + list(flags)
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env(slurm, mnist_dir, **envs), cwd=os.path.dirname(str(log)),
                       timeout=TIMEOUT)
    return r.returncode, r.stdout, r.stderr, time.time() - t0


def job_id(out):
    m = re.search(r'^submitted job array (\d+):', out, re.M)
    assert m, out
    return int(m.group(1))


def seeds_in(*paths):
    return sorted(int(r['seed']) for r in read_log([str(p) for p in paths]))


def jobcomp_lines(slurm):
    if not os.path.exists(slurm.jobcomp):
        return 0
    with open(slurm.jobcomp) as f:
        return sum(1 for _ in f)


def queue(slurm):
    return subprocess.run(['squeue', '-h', '-o', '%i'], env=slurm.env, stdout=subprocess.PIPE,
                          text=True, timeout=60).stdout.split()


def wait_gone(slurm, job):
    """Poll squeue until no task of the array is queued or running."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        r = subprocess.run(['squeue', '-h', '-j', str(job), '-o', '%i'], env=slurm.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        # An unknown id (finished and purged after MinJobAge) is an error to squeue.
        if not r.stdout.strip() and (r.returncode == 0 or 'Invalid job id' in r.stderr):
            return
        time.sleep(1)
    pytest.fail('job array %d still queued after %d s' % (job, TIMEOUT))


@pytest.fixture(scope='module')
def four(slurm, mnist_dir, tmp_path_factory):
    """4 runs, one seed per task: a 4-task array, at most 2 at once, with --wait."""
    tmp = tmp_path_factory.mktemp('array4')
    log = tmp / 'log.csv'
    rc, out, err, secs = auto(slurm, mnist_dir, log, 4, 2, *SOLVES, SEEDS_PER_TASK=1)
    return log, tmp / 'log-slurm', rc, out, err


def test_a_4_task_array_runs_each_seed_once_and_merges(slurm, four):
    log, parts, rc, out, err = four
    assert rc == 0, out + err
    job = job_id(out)
    assert slurm.tasks(job) == {t: ('COMPLETED', 0) for t in range(4)}
    assert 'in 4 task(s) of up to 1 seed(s), at most 2 at once' in out
    # One log per task, one row each, every seed once.
    part_files = sorted(n for n in os.listdir(str(parts)) if n.endswith('.csv'))
    assert part_files == ['part-%d_%d.csv' % (job, t) for t in range(4)]
    for t in range(4):
        assert seeds_in(parts / ('part-%d_%d.csv' % (job, t))) == [t]
    assert seeds_in(parts) == [0, 1, 2, 3]
    assert seeds_in(log) == [0, 1, 2, 3]          # merged by --wait
    iterations = re.findall(r'^(\d+) Iteration, Entire Iter:\d+,TASK1:\d+,TASK2:\d+,'
                            r'Overlap:\d+$', out, re.M)
    assert sorted(map(int, iterations)) == [0, 1, 2, 3]
    assert re.search(r'^merged 4 rows from 4 files into .*log\.csv, 0 duplicates skipped$',
                     out, re.M), out
    assert re.search(r'^summary: 4 done, 0 failed, 0 skipped \(already in .*log\.csv\), '
                     r'wall time \d+:\d\d:\d\d$', out, re.M), out
    assert 'FAILED' not in out + err


def test_resubmitting_a_done_array_submits_nothing(slurm, mnist_dir, four):
    log, parts, rc, out, err = four
    assert rc == 0, out + err
    before = jobcomp_lines(slurm)
    rc, out, err, _ = auto(slurm, mnist_dir, log, 4, 2, *SOLVES, SEEDS_PER_TASK=1)
    assert rc == 0, out + err
    assert out.startswith('0 run(s) to do, 4 skipped'), out
    assert 'submitted' not in out
    assert re.search(r'^summary: 0 done, 0 failed, 4 skipped', out, re.M), out
    # Rows in the per-task folder alone count as done (not merged yet).
    moved = log.with_name('elsewhere.csv')
    os.rename(str(log), str(moved))
    try:
        rc, out, err, _ = auto(slurm, mnist_dir, log, 4, 2, *SOLVES, SEEDS_PER_TASK=1)
    finally:
        os.rename(str(moved), str(log))
    assert rc == 0, out + err
    assert out.startswith('0 run(s) to do, 4 skipped'), out
    assert jobcomp_lines(slurm) == before and queue(slurm) == []
    assert seeds_in(log) == [0, 1, 2, 3]


@pytest.mark.parametrize('target', ['log', 'folder'])
def test_the_plot_scripts_read_the_merged_log_and_the_folder(four, target, tmp_path):
    log, parts, rc, out, err = four
    assert rc == 0, out + err
    src = str(log if target == 'log' else parts)
    settings = read_log(src)[0]['settings']
    assert settings                                # SMALL is not the defaults
    for script, args in (('plot_overlap.py', []),
                         ('plot_transfer.py', ['--settings=' + settings, '--bootstrap', '100'])):
        png = tmp_path / (script[:-3] + '.png')
        run = [os.path.join(ROOT, script)] if script == 'plot_overlap.py' else \
            ['-m', 'analysis.' + script[:-3]]    # from another folder: the package by PYTHONPATH
        r = subprocess.run([PYTHON] + run + [src, '-o', str(png)] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=str(tmp_path), timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
        assert r.returncode == 0, script + r.stdout + r.stderr
        assert png.stat().st_size > 0
        assert 'wrote ' + str(png) in r.stdout
        if script == 'plot_overlap.py':
            assert '4 experiments (pathnet' in r.stdout, r.stdout
        else:
            assert re.search(r'^pathnet +4 +4/4 ', r.stdout, re.M), r.stdout


def test_a_failing_task_is_reported_with_its_seed_and_error(slurm, mnist_dir, tmp_path):
    """Task 2 (seed 2) gets a flag the driver refuses; tasks 0 and 1 run."""
    wrapper = tmp_path / 'python'
    wrapper.write_text('#!/bin/bash\n'
                       'if [[ ${SLURM_ARRAY_TASK_ID:-} == 2 ]]; then\n'
                       '    exec %s "$@" --no_such_flag\n'
                       'fi\n'
                       'exec %s "$@"\n' % (PYTHON, PYTHON))
    wrapper.chmod(0o755)
    log = tmp_path / 'log.csv'
    rc, out, err, _ = auto(slurm, mnist_dir, log, 3, 2, SEEDS_PER_TASK=1, PYTHON=wrapper)
    assert rc == 1, out + err
    job = job_id(out)
    assert slurm.tasks(job) == {0: ('COMPLETED', 0), 1: ('COMPLETED', 0), 2: ('FAILED', 2)}
    failed = [l for l in err.splitlines() if l.startswith('FAILED')]
    assert len(failed) == 1, err
    assert failed[0].startswith('FAILED run 2, seed 2: '), failed
    assert 'error: unrecognized arguments: --no_such_flag' in failed[0]
    assert failed[0].endswith('[%s/slurm-%d_2.out]' % (tmp_path / 'log-slurm', job))
    assert sorted(map(int, re.findall(r'^(\d+) Iteration, ', out, re.M))) == [0, 1]
    assert re.search(r'^summary: 2 done, 1 failed, 0 skipped', out, re.M), out
    assert seeds_in(log) == [0, 1]
    assert seeds_in(tmp_path / 'log-slurm') == [0, 1]


def test_without_wait_it_submits_and_returns_at_once(slurm, mnist_dir, tmp_path):
    log = tmp_path / 'log.csv'
    rc, out, err, secs = auto(slurm, mnist_dir, log, 2, 2, wait=False, SEEDS_PER_TASK=1)
    assert rc == 0, out + err
    job = job_id(out)
    parts = tmp_path / 'log-slurm'
    assert re.search(r'^follow it with: squeue -j %d; task logs: %s/slurm-%d_\*\.out$'
                     % (job, re.escape(str(parts)), job), out, re.M), out
    assert re.search(r'^when it is done: .*results_log\.py merge %s %s$'
                     % (re.escape(str(log)), re.escape(str(parts))), out, re.M), out
    assert 'Iteration' not in out and 'summary' not in out
    # Resubmitting while it runs would run its seeds twice: refused.
    rc, again, err, _ = auto(slurm, mnist_dir, log, 2, 2, wait=False, SEEDS_PER_TASK=1)
    assert rc == 2 and again == '', again + err
    assert ('seed 0 of this condition is in job array %d, still queued or running' % job) in err
    assert len([n for n in os.listdir(str(parts)) if n.startswith('job-')]) == 1   # none left
    # Another condition's seeds are free to go meanwhile.
    rc, out2, err, _ = auto(slurm, mnist_dir, log, 1, 1, '--control', 'scratch', wait=False)
    assert rc == 0, out2 + err
    other = job_id(out2)
    wait_gone(slurm, job)
    wait_gone(slurm, other)
    assert slurm.tasks(job) == {0: ('COMPLETED', 0), 1: ('COMPLETED', 0)}
    assert slurm.tasks(other) == {0: ('COMPLETED', 0)}
    assert sorted((r['control'], int(r['seed'])) for r in read_log(str(parts))) == \
        [('pathnet', 0), ('pathnet', 1), ('scratch', 0)]
    assert not log.exists()                        # nothing merged without --wait
    # Resuming now submits nothing: the folder holds both seeds.
    rc, out, err, _ = auto(slurm, mnist_dir, log, 2, 2, wait=False, SEEDS_PER_TASK=1)
    assert rc == 0 and out.startswith('0 run(s) to do, 2 skipped'), out + err


def bad_flag_python(tmp_path, tasks):
    """A PYTHON that gives the driver a flag it refuses in these array tasks."""
    wrapper = tmp_path / 'python'
    wrapper.write_text('#!/bin/bash\n'
                       'case ${SLURM_ARRAY_TASK_ID:-none} in\n'
                       '    %s) exec %s "$@" --no_such_flag ;;\n'
                       'esac\n'
                       'exec %s "$@"\n' % ('|'.join(map(str, tasks)), PYTHON, PYTHON))
    wrapper.chmod(0o755)
    return wrapper


def test_every_task_failing_is_reported_per_seed(slurm, mnist_dir, tmp_path):
    """No task writes a row: the folder has no csv; nothing to merge is not
    one more failure."""
    log = tmp_path / 'log.csv'
    rc, out, err, _ = auto(slurm, mnist_dir, log, 2, 2, SEEDS_PER_TASK=1,
                           PYTHON=bad_flag_python(tmp_path, [0, 1]))
    assert rc == 1, out + err
    failed = sorted(l for l in err.splitlines() if l.startswith('FAILED'))
    assert [l.split(':')[0] for l in failed] == ['FAILED run 0, seed 0', 'FAILED run 1, seed 1']
    assert all('unrecognized arguments: --no_such_flag' in l for l in failed), failed
    assert re.search(r'^summary: 0 done, 2 failed, 0 skipped', out, re.M), out + err
    assert 'error' not in err.replace('error: unrecognized', ''), err
    assert not log.exists()


def test_a_task_cancelled_before_it_ran_fails_its_seeds(slurm, mnist_dir, tmp_path):
    """Task 1 waits behind task 0 (JOBS=1) and is cancelled: it leaves no
    output at all, and its seeds are reported as not run."""
    log = tmp_path / 'log.csv'
    cmd = [SCRIPT, '2', '1', '--wait', '--', '--results', str(log)] + SMALL
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(slurm, mnist_dir, SEEDS_PER_TASK=1), cwd=str(tmp_path))
    try:
        first = proc.stdout.readline()
        job = job_id(first)
        r = subprocess.run(['scancel', '%d_1' % job], env=slurm.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        assert r.returncode == 0, r.stdout
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = first + out
    assert proc.returncode == 1, out + err
    assert slurm.tasks(job)[0] == ('COMPLETED', 0)
    assert not (tmp_path / 'log-slurm' / ('slurm-%d_1.out' % job)).exists()
    assert re.search(r'^FAILED run 1, seed 1: not run: its task ended: no output', err, re.M), err
    assert re.search(r'^summary: 1 done, 1 failed, 0 skipped', out, re.M), out + err
    assert seeds_in(log) == [0]


def test_a_folder_with_a_space_and_a_percent_sign(slurm, mnist_dir, tmp_path):
    folder = tmp_path / 'a b%c'
    folder.mkdir()
    log = folder / 'log.csv'
    rc, out, err, _ = auto(slurm, mnist_dir, log, 2, 2, SEEDS_PER_TASK=1)
    assert rc == 0, out + err
    job = job_id(out)
    parts = folder / 'log-slurm'
    assert sorted(n for n in os.listdir(str(parts)) if n.startswith('slurm-')) == \
        ['slurm-%d_0.out' % job, 'slurm-%d_1.out' % job]
    assert seeds_in(log) == [0, 1]
    assert re.search(r'^summary: 2 done, 0 failed', out, re.M), out


def test_wait_outlasts_squeue_errors(slurm, mnist_dir, tmp_path):
    """squeue failing (a busy controller times out) is not the array's end:
    --wait polls on. Here squeue's first 3 calls fail."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    real = subprocess.run(['bash', '-c', 'command -v squeue'], stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    fake = bin_dir / 'squeue'
    fake.write_text('#!/bin/bash\n'
                    'n=$(cat %(c)s 2>/dev/null || echo 0); echo $(( n + 1 )) >%(c)s\n'
                    'if (( n < 3 )); then\n'
                    '    echo "squeue: error: slurm_load_jobs error: Socket timed out on'
                    ' send/recv operation" >&2; exit 1\n'
                    'fi\n'
                    'exec %(real)s "$@"\n' % {'c': tmp_path / 'calls', 'real': real})
    fake.chmod(0o755)
    log = tmp_path / 'log.csv'
    rc, out, err, _ = auto(slurm, mnist_dir, log, 2, 2, SEEDS_PER_TASK=1,
                           PATH='%s:%s' % (bin_dir, os.environ['PATH']))
    assert rc == 0, out + err
    assert int((tmp_path / 'calls').read_text()) > 3
    assert re.search(r'^summary: 2 done, 0 failed', out, re.M), out + err
    assert seeds_in(log) == [0, 1]


def test_help_documents_the_slurm_knobs():
    p = subprocess.run([SCRIPT, '--help'], stdout=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0
    for word in ('SCHEDULER=slurm', '--wait', 'WAIT=1', 'SEEDS_PER_TASK', 'SLURM_LOG_DIR',
                 'SBATCH_ARGS', 'SLURM_POLL', '-slurm/part-'):
        assert word in p.stdout, word
