"""Documented settings no other test exercised, black-box through the real
entry points (the batch script's --help, the driver's flags):

- the batch script's refusals: --seed/--seeds in FLAGS, a bad SCHEDULER, a
  bad SEED_BASE (exit 2, before anything runs), and RUN_LOG_DIR;
- under SLURM: --cpus-per-task from the driver's --threads in FLAGS,
  SBATCH_ARGS handed to sbatch, SLURM_LOG_DIR as the tasks' folder;
- the driver's --log_dir: TensorBoard scalars per generation, per seed.

Written against the documented behaviour, not the script's internals, so
they hold for any implementation of it."""
import collections
import os
import re
import subprocess
import sys
import time

import pytest

import binary_mnist_pathnet as driver
from conftest import ROOT
from results_log import read_log
from test_driver import GEN_LINE      # the progress line

SCRIPT = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
SMALL = ['--max_steps', '3', '--T', '2', '--candi', '4']


def script_env(**extra):
    e = dict(os.environ, PYTHON=sys.executable, MNIST_MIRRORS='file:///nonexistent/')
    for k in ('SEED_BASE', 'RUN_LOG_DIR', 'SCHEDULER', 'SLURM_LOG_DIR', 'SBATCH_ARGS', 'WAIT',
              'SEEDS_PER_TASK', 'PATHNET_BATCH_PID'):
        e.pop(k, None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def script(tmp_path, args, timeout=600, **envs):
    return subprocess.run([SCRIPT] + [str(a) for a in args], capture_output=True, text=True,
                          env=script_env(**envs), cwd=str(tmp_path), timeout=timeout)


# ---------------------------------------------------------------------------
# The batch script's refusals: exit 2, one line naming the culprit, nothing
# run or written.

@pytest.mark.parametrize('flags', [['--seed', '5'], ['--seed=0']])
def test_script_refuses_a_seed_in_flags(tmp_path, flags):
    p = script(tmp_path, [2, 1, '--', '--results', tmp_path / 'log.csv'] + SMALL + flags)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == '' and len(p.stderr.splitlines()) == 1, p.stderr
    assert '--seed' in p.stderr and 'Traceback' not in p.stderr
    assert os.listdir(tmp_path) == []


def test_script_refuses_seeds_in_flags(tmp_path):
    p = script(tmp_path, [2, 1, '--', '--results', tmp_path / 'log.csv', '--seeds', '1-2']
               + SMALL)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == '' and '--seeds' in p.stderr and 'Traceback' not in p.stderr
    assert os.listdir(tmp_path) == []


def test_script_refuses_an_unknown_scheduler(tmp_path):
    p = script(tmp_path, [2, 1, '--', '--results', tmp_path / 'log.csv'] + SMALL,
               SCHEDULER='pbs')
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == '' and len(p.stderr.splitlines()) == 1, p.stderr
    assert 'SCHEDULER' in p.stderr and 'pbs' in p.stderr and 'Traceback' not in p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('base', ['x', '-1', '1.5', '2147483647', ' 3'])
def test_script_refuses_a_bad_seed_base(tmp_path, base):
    """Not a number, negative, not whole, or runs past 2^31 - 1 (run 1 of 2
    from 2147483647)."""
    p = script(tmp_path, [2, 1, '--', '--results', tmp_path / 'log.csv'] + SMALL,
               SEED_BASE=base)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == '' and len(p.stderr.splitlines()) == 1, p.stderr
    assert 'SEED_BASE' in p.stderr and 'Traceback' not in p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_run_log_dir_holds_the_per_experiment_console_logs(tmp_path, mnist_dir):
    log, consoles = tmp_path / 'out' / 'log.csv', tmp_path / 'consoles' / 'here'
    p = script(tmp_path, [2, 1, '--', '--results', log] + SMALL, RUN_LOG_DIR=consoles,
               MNIST_DATA_DIR=mnist_dir)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert sorted(os.listdir(consoles)) == ['pathnet-seed0.log', 'pathnet-seed1.log']
    for seed in (0, 1):
        text = (consoles / ('pathnet-seed%d.log' % seed)).read_text()
        assert 'task 1  gen    1' in text and re.search(r'^Entire Iter:\d+', text, re.M), text
    assert 'task 1  gen' not in p.stdout                  # not the terminal's
    assert 'runs' not in os.listdir(log.parent)           # not beside the log
    assert sorted(int(r['seed']) for r in read_log(str(log))) == [0, 1]


# ---------------------------------------------------------------------------
# Under SLURM (the `slurm` fixture: a real single-node cluster).

def scontrol_job(slurm, job):
    r = subprocess.run(['scontrol', 'show', 'job', str(job)], env=slurm.env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cancel_and_wait(slurm, job):
    subprocess.run(['scancel', str(job)], env=slurm.env, capture_output=True, timeout=60)
    deadline = time.time() + 300
    while time.time() < deadline:
        r = subprocess.run(['squeue', '-h', '-j', str(job), '-o', '%i'], env=slurm.env,
                           capture_output=True, text=True, timeout=60)
        if not r.stdout.strip():
            return
        time.sleep(1)
    pytest.fail('job %s still queued 300 s after scancel' % job)


def submitted(out):
    m = re.search(r'^submitted job array (\d+)', out, re.M)
    assert m, out
    return m.group(1)


@pytest.mark.slow
def test_slurm_threads_sbatch_args_and_log_dir(slurm, mnist_dir, tmp_path):
    """Submitted on hold (SBATCH_ARGS), so the queued array can be read back:
    2 CPUs per task from --threads 2, the comment and the hold from
    SBATCH_ARGS (two options, split at the space), and the tasks' output,
    job script and seeds in SLURM_LOG_DIR, not beside the log."""
    log, parts = tmp_path / 'log.csv', tmp_path / 'elsewhere' / 'parts'
    p = script(tmp_path, [2, 2, '--', '--results', log, '--threads', '2'] + SMALL,
               SCHEDULER='slurm', SLURM_CONF=slurm.env['SLURM_CONF'],
               MNIST_DATA_DIR=mnist_dir, SBATCH_ARGS='--hold --comment=pathnet-settings-test',
               SLURM_LOG_DIR=parts)
    assert p.returncode == 0, (p.stdout, p.stderr)
    job = submitted(p.stdout)
    try:
        info = scontrol_job(slurm, job)
        assert 'Comment=pathnet-settings-test' in info, info
        assert 'JobState=PENDING' in info and 'Reason=JobHeldUser' in info, info
        assert re.search(r'\bCPUs/Task=2\b', info), info
        assert 'StdOut=%s/' % parts in info, info
    finally:
        cancel_and_wait(slurm, job)
    scripts = [n for n in os.listdir(parts) if n.endswith('.sh')]
    assert len(scripts) == 1, os.listdir(parts)
    text = (parts / scripts[0]).read_text()
    assert re.search(r'^#SBATCH --cpus-per-task=2$', text, re.M), text
    assert not (tmp_path / 'log-slurm').exists()


@pytest.mark.slow
def test_slurm_log_dir_is_the_parts_folder(slurm, mnist_dir, tmp_path):
    """One seed, --wait: its task's log and rows go to SLURM_LOG_DIR, which
    is merged into the log, and which counts as done when resuming."""
    log, parts = tmp_path / 'log.csv', tmp_path / 'parts'
    envs = dict(SCHEDULER='slurm', SLURM_CONF=slurm.env['SLURM_CONF'], SLURM_POLL=1,
                MNIST_DATA_DIR=mnist_dir, SLURM_LOG_DIR=parts)
    p = script(tmp_path, [1, 1, '--wait', '--', '--results', log] + SMALL, timeout=900, **envs)
    assert p.returncode == 0, (p.stdout, p.stderr)
    job = submitted(p.stdout)
    names = os.listdir(parts)
    assert 'part-%s_0.csv' % job in names and 'slurm-%s_0.out' % job in names, names
    assert [int(r['seed']) for r in read_log(str(parts / ('part-%s_0.csv' % job)))] == [0]
    assert [int(r['seed']) for r in read_log(str(log))] == [0]
    assert not (tmp_path / 'log-slurm').exists()
    os.rename(str(log), str(tmp_path / 'moved.csv'))      # the folder alone holds seed 0
    p = script(tmp_path, [1, 1, '--wait', '--', '--results', log] + SMALL, **envs)
    assert p.returncode == 0 and p.stdout.startswith('0 run(s) to do, 1 skipped'), \
        (p.stdout, p.stderr)


# ---------------------------------------------------------------------------
# --log_dir: TensorBoard scalars.

def scalars(folder):
    """{tag: [(step, value), ...]} of the event files in folder."""
    from pathnet import tf
    out = collections.defaultdict(list)
    files = [f for f in os.listdir(folder) if f.startswith('events.out.tfevents')]
    assert files, os.listdir(folder)
    for name in sorted(files):
        for event in tf.train.summary_iterator(os.path.join(folder, name)):
            for v in event.summary.value:
                out[v.tag].append((event.step, v.simple_value))
    return out


def printed(lines):
    """{tag: [(generation, value), ...]} from the driver's progress lines."""
    out = collections.defaultdict(list)
    for line in lines:
        m = GEN_LINE.match(line)
        if m:
            task, gen = m.group(1), int(m.group(2))
            for name, value in zip(('fitness_a', 'fitness_b', 'best'), m.group(3, 4, 5)):
                out['task%s/%s' % (task, name)].append((gen, float(value)))
    return out


def assert_same_scalars(got, want, row):
    tags = {'task%d/%s' % (t, s) for t in (1, 2) for s in ('fitness_a', 'fitness_b', 'best')}
    val = {'task%d/val_accuracy' % t for t in (1, 2)}
    assert set(got) == tags | val and set(want) == tags, sorted(got)
    for tag in val:      # evaluated from generation 1 on; the last, the row's value
        t = tag.split('/')[0]
        steps = [s for s, _ in got[tag]]
        assert steps[0] == 1 and steps[-1] == int(row[t + '_generations']), (tag, got[tag])
        assert steps == sorted(set(steps))
        assert abs(got[tag][-1][1] - float(row[t + '_val_accuracy'])) <= 5.1e-5
    for tag in tags:
        gens = int(row['%s_generations' % tag.split('/')[0]])
        assert [s for s, _ in got[tag]] == list(range(1, gens + 1)), (tag, got[tag])
        assert [s for s, _ in want[tag]] == list(range(1, gens + 1)), (tag, want[tag])
        for (_, g), (_, w) in zip(got[tag], want[tag]):
            assert abs(g - w) <= 5.1e-5, (tag, got[tag], want[tag])


@pytest.mark.slow
@pytest.mark.parametrize('several', [False, True])
def test_log_dir_scalars_are_the_printed_fitnesses_per_generation(tmp_path, mnist_dir, capsys,
                                                                 monkeypatch, several):
    """One seed: the events in --log_dir itself; --seeds: one folder seed<N>
    per seed. Tags task1/fitness_a, fitness_b, best and task2/..., step = the
    generation, values = what the progress lines print."""
    monkeypatch.delenv('PATHNET_BATCH_PID', raising=False)
    tb, log = tmp_path / 'tb', tmp_path / 'log.csv'
    seeds = ['--seeds', '3-4'] if several else ['--seed', '3']
    assert driver.main(seeds + ['--max_steps', '4', '--T', '3', '--candi', '4', '--log_dir',
                                str(tb), '--results', str(log), '--data_dir', mnist_dir]) == 0
    rows = read_log(str(log))
    out = capsys.readouterr().out
    if not several:
        (row,) = rows
        assert_same_scalars(scalars(tb), printed(out.splitlines()), row)
        return
    assert sorted(os.listdir(tb)) == ['seed3', 'seed4']
    parts = re.split(r'^experiment \d+ of \d+: seed (\d+)$', out, flags=re.M)
    per_seed = dict(zip(parts[1::2], parts[2::2]))
    assert sorted(per_seed) == ['3', '4']
    for row in rows:
        seed = row['seed']
        assert_same_scalars(scalars(tb / ('seed' + seed)), printed(per_seed[seed].splitlines()),
                            row)
