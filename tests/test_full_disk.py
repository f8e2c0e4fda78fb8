"""A full disk never changes a log and never loses a finished row.

On a really full file system: a tmpfs of 64 KB mounted for the test (needs
root; skipped with the reason otherwise, and failed in CI, which runs as
root). The log's last page has room for the first bytes of a row and not for
the rest, so an append that is not rolled back leaves a fragment."""
import csv
import io
import json
import os
import subprocess

import pytest

import binary_mnist_pathnet as driver
import results_log
from results_log import COLUMNS

pytestmark = pytest.mark.slow
SMALL = ['--max_steps', '3', '--T', '2', '--candi', '4', '--quiet']


def unavailable(reason):
    if os.environ.get('PATHNET_CI'):
        pytest.fail('full-disk tests cannot run in CI: %s' % reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def disk(tmp_path):
    """A 64 KB tmpfs (a folder), unmounted afterwards."""
    if os.geteuid() != 0:
        unavailable('mounting a small tmpfs needs root')
    path = tmp_path / 'disk'
    path.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        unavailable('cannot mount a tmpfs: %s' % r.stdout.strip())
    try:
        yield path
    finally:
        subprocess.run(['umount', str(path)], check=True)


def fill(folder):
    """Fill the file system until a write fails."""
    with open(os.path.join(folder, 'filler'), 'wb', buffering=0) as f:
        try:
            while True:
                f.write(b'x' * 512)
        except OSError as e:
            assert e.errno == 28    # ENOSPC


def a_log(path, seeds=range(100, 200), size=4058, torn=False):
    """A log in today's format of `size` bytes (a page, less a row's length): whole rows
    of the first seeds, the last padded to the size in its settings column; torn: the
    last row cut short."""
    def line(seed, settings=''):
        row = {c: '1' for c in COLUMNS}
        row.update(seed=seed, control='pathnet', settings=settings)
        return ','.join(str(row[c]) for c in COLUMNS) + '\n'
    tail = '%d,pathnet,5v6' % seeds[-1] if torn else ''
    text = ','.join(COLUMNS) + '\n'
    for seed in seeds[:-1]:
        if len(text) + 2 * len(line(seed)) + len(tail) > size:
            break
        text += line(seed)
    text += line(seed, '--x=' + 'y' * (size - len(text) - len(line(seed, '--x=')) - len(tail)))
    text += tail
    assert len(text) == size
    with open(path, 'w') as f:
        f.write(text)
    return text.encode()


def run(mnist_dir, *flags):
    return driver.main(SMALL + ['--data_dir', mnist_dir] + list(flags), stop=driver.Stop())


@pytest.mark.parametrize('torn', [False, True], ids=['whole', 'torn-last-line'])
def test_a_full_disk_leaves_the_log_as_it_was_and_prints_the_row(disk, mnist_dir, capsys,
                                                                 torn):
    log = disk / 'log.csv'
    before = a_log(log, torn=torn)
    fill(disk)
    assert run(mnist_dir, '--seeds', '2-3', '--results', str(log)) == 1
    assert log.read_bytes() == before
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ('error: seed 2: cannot write to %s: No space left on device; the '
                      'file is as it was; what was not saved follows' % log)
    row = dict(zip(COLUMNS, next(csv.reader([err[1]]))))
    assert len(err) == 2 and len(next(csv.reader([err[1]]))) == len(COLUMNS)
    assert row['seed'] == '2' and row['control'] == 'pathnet'
    assert int(row['task1_generations']) >= 1


def test_a_new_log_on_a_full_disk_is_not_left_behind(disk, mnist_dir, capsys):
    log = disk / 'log.csv'
    fill(disk)
    assert run(mnist_dir, '--seed', '2', '--results', str(log)) == 1
    assert not log.exists()
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('error: seed 2: cannot write to %s: No space' % log)
    assert next(csv.reader([err[1]]))[COLUMNS.index('seed')] == '2'


def test_a_full_disk_rolls_back_the_path_history(disk, tmp_path, mnist_dir, capsys):
    log, history = tmp_path / 'log.csv', disk / 'history.jsonl'
    history.write_text('{"seed": 1}\n' * 338)   # 4,056 bytes: 40 left in its page
    before = history.read_bytes()
    fill(disk)
    assert run(mnist_dir, '--seed', '2', '--results', str(log),
               '--path_history', str(history)) == 1
    assert history.read_bytes() == before
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ('error: seed 2: cannot write to %s: No space left on device; the '
                      'file is as it was; what was not saved follows' % history)
    snapshots = [json.loads(line) for line in err[1:]]
    assert snapshots and all(s['seed'] == 2 for s in snapshots)
    assert {s['task'] for s in snapshots} == {1, 2}


def test_merge_into_a_full_disk_leaves_the_destination_as_it_was(disk, tmp_path, capsys):
    dest, src = disk / 'all.csv', tmp_path / 'part.csv'
    before = a_log(dest)
    a_log(src, seeds=range(150, 200))   # seeds new to dest
    fill(disk)
    assert results_log.main(['merge', str(dest), str(src)]) == 1
    assert dest.read_bytes() == before
    out, err = capsys.readouterr()
    assert out == '' and err == ('error: cannot write to %s: No space left on device; the '
                                 'file is as it was\n' % dest)
