"""The driver end to end: flags, the results log, errors, interruption."""
import csv
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

import binary_mnist_pathnet as driver
import results_log
from conftest import ROOT

SMALL = ['--max_steps', '4', '--T', '3', '--candi', '4', '--quiet']
SUMMARY = re.compile(r'^Entire Iter:(\d+),TASK1:(\d+),TASK2:(\d+),Overlap:(\d+)$')


def run(args, mnist_dir, **kw):
    env = dict(os.environ, MNIST_DATA_DIR=mnist_dir, MNIST_MIRRORS='file:///nonexistent/')
    env.update(kw.pop('env', {}))
    return subprocess.run([sys.executable, os.path.join(ROOT, 'binary_mnist_pathnet.py')] + args,
                          capture_output=True, text=True, env=env, cwd=kw.pop('cwd', ROOT), **kw)


def rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_end_to_end_appends_one_well_formed_row_and_prints_summary_last(tmp_path, mnist_dir):
    log = tmp_path / 'results' / 'log.csv'
    history = tmp_path / 'history.jsonl'
    p = run(SMALL + ['--seed', '7', '--results', str(log), '--path_history', str(history),
                     '--history_every', '2', '--log_dir', str(tmp_path / 'tb')], mnist_dir)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().split('\n')
    m = SUMMARY.match(lines[-1])
    assert m, lines[-1]
    assert any(l.startswith('task 1 test accuracy') for l in lines)
    with open(log) as f:
        assert f.readline().strip() == ','.join(results_log.COLUMNS)
    (row,) = rows(log)
    assert int(row['task1_generations']) + int(row['task2_generations']) == int(m.group(1))
    assert (row['task1_generations'], row['task2_generations'], row['overlap']) == m.group(2, 3, 4)
    assert row['seed'] == '7' and row['task1'] == '5v6' and row['task2'] == '6v7'
    assert row['control'] == 'pathnet' and (row['L'], row['M'], row['N']) == ('3', '10', '3')
    for t in ('task1_', 'task2_'):
        assert row[t + 'converged'] in ('0', '1')
        assert 0 <= float(row[t + 'fitness']) <= 1 and 0 <= float(row[t + 'test_accuracy']) <= 1
        layers = row[t + 'path'].split('|')
        assert len(layers) == 3 and all(1 <= len(l.split('-')) <= 3 for l in layers)
    assert row['settings'] == '--T=3 --candi=4 --max_steps=4'
    assert float(row['seconds']) > 0
    # --path_history: every 2nd generation and the last one, each task
    snaps = [json.loads(l) for l in history.read_text().splitlines()]
    expected = []
    for task, gens in ((1, int(row['task1_generations'])), (2, int(row['task2_generations']))):
        expected += [(task, g) for g in range(1, gens + 1) if g % 2 == 0 or g == gens]
    assert [(s['task'], s['generation']) for s in snaps] == expected
    for s in snaps:
        total = sum(map(sum, s['counts']))
        assert 4 * 3 <= total <= 4 * 3 * 3 and len(s['counts']) == 3
    assert os.listdir(tmp_path / 'tb')                    # TensorBoard events written


@pytest.mark.slow
def test_same_seed_same_row(tmp_path, mnist_dir, capsys):
    log = str(tmp_path / 'log.csv')
    argv = SMALL + ['--seed', '11', '--results', log, '--data_dir', mnist_dir]
    assert driver.main(argv) == 0 and driver.main(argv) == 0
    a, b = rows(log)
    for row in (a, b):
        row.pop('timestamp'), row.pop('seconds')
    assert a == b


@pytest.mark.slow
def test_unsolved_task_is_recorded_and_experiment_goes_on(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    p = run(['--max_steps', '2', '--T', '2', '--candi', '3', '--threshold', '1.0',
             '--noise', '1.0', '--seed', '1', '--results', str(log)], mnist_dir)
    assert p.returncode == 0, p.stderr
    assert 'task 1 (5 vs 6) NOT solved after 2 generations' in p.stdout
    (row,) = rows(log)
    assert row['task1_converged'] == '0' and row['task1_generations'] == '2'
    assert row['task2_generations'] == '2' and row['task2_converged'] == '0'


@pytest.mark.parametrize('flags, message', [
    (['--N', '11'], '--N (11) must not exceed --M (10)'),
    (['--a1', '6'], 'the two classes of a task must differ'),
    (['--b2', '10'], 'a class is a digit 0..9'),
    (['--threshold', '0'], '--threshold must be in (0, 1]'),
    (['--threshold', '1.5'], '--threshold must be in (0, 1]'),
    (['--T', '0'], 'must be at least 1'),
    (['--candi', '1'], 'must be at least 2'),
    (['--noise', '2'], 'must be in [0, 1]'),
    (['--optimizer', 'rmsprop'], "invalid choice: 'rmsprop'"),
    (['--learning_rate', '-1'], '--learning_rate must be positive'),
])
def test_invalid_flags_rejected_by_parser(flags, message, capsys):
    with pytest.raises(SystemExit) as e:
        driver.parse_args(flags)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().split('\n')
    assert message in err[-1] and err[-1].startswith('usage:') is False


def check_one_line_error(p, *needles):
    assert p.returncode == 1
    err = p.stderr.strip()
    assert '\n' not in err and 'Traceback' not in err and err.startswith('error: '), err
    for needle in needles:
        assert needle in err, err
    assert 'task 1' not in p.stdout


def test_missing_mnist_without_network(tmp_path, mnist_dir):
    log = tmp_path / 'log.csv'
    p = run(['--data_dir', str(tmp_path / 'empty'), '--results', str(log)], mnist_dir)
    check_one_line_error(p, 'could not download train-images-idx3-ubyte.gz', 'MNIST_DATA_DIR')
    assert not log.exists()           # a failed run leaves no empty log behind


def test_corrupt_mnist(tmp_path, mnist_dir):
    data = tmp_path / 'mnist'
    shutil.copytree(mnist_dir, data)
    path = data / 't10k-images-idx3-ubyte.gz'
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:5000])
    p = run(['--data_dir', str(data), '--results', str(tmp_path / 'log.csv')], mnist_dir)
    check_one_line_error(p, 't10k-images-idx3-ubyte.gz is corrupt or truncated')


def test_unwritable_results_fails_before_training(tmp_path, mnist_dir):
    (tmp_path / 'file').write_text('')
    p = run(['--results', str(tmp_path / 'file' / 'log.csv')], mnist_dir)
    check_one_line_error(p, 'cannot write', 'file/log.csv')
    assert 'ready' not in p.stdout            # before TensorFlow and the graph


@pytest.mark.slow
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_appends_nothing(tmp_path, mnist_dir, sig):
    log = tmp_path / 'log.csv'
    env = dict(os.environ, MNIST_DATA_DIR=mnist_dir)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'binary_mnist_pathnet.py'),
                             '--seed', '3', '--results', str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith('task 1  gen    3'):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert err.strip() == 'interrupted: nothing was written to %s' % log
    assert not log.exists()


def _append_many(path, worker):
    for i in range(50):
        row = {c: '%d-%d' % (worker, i) for c in results_log.COLUMNS}
        row['settings'] = 'x' * 3000                 # long rows, still whole
        results_log.append_row(path, row)


def test_concurrent_appends_keep_whole_rows(tmp_path):
    path = str(tmp_path / 'log.csv')
    procs = [multiprocessing.Process(target=_append_many, args=(path, w)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    got = rows(path)
    assert len(got) == 300
    assert sorted(r['seed'] for r in got) == sorted('%d-%d' % (w, i) for w in range(6) for i in range(50))
    assert all(len(r['settings']) == 3000 and None not in r for r in got)
    with open(path) as f:
        assert sum(1 for line in f if line.startswith('timestamp,')) == 1
