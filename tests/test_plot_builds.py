"""plot_builds.py and its statistics: the same seeds on two builds."""
import csv

import matplotlib
matplotlib.use('Agg')
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analysis import plot_builds  # noqa: E402
from analysis import stats  # noqa: E402
from conftest import one_line_error  # noqa: E402
from results_log import COLUMNS  # noqa: E402


def write(path, g1, g2, tf='2.21.0', controls=('pathnet',), paths=None, first=0):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for control in controls:
            for seed, (a, b) in enumerate(zip(g1, g2), first):
                row = dict.fromkeys(COLUMNS, '0')
                row.update(seed=seed, control=control, task1_generations=a,
                           task2_generations=b, tensorflow=tf, numpy='2.4.6', settings='',
                           task1_path=(paths or {}).get(seed, '1|2|3'), task2_path='1|2|3')
                w.writerow([row[c] for c in COLUMNS])
    return str(path)


def test_ks_is_scipys_exact_test():
    assert stats.ks_2samp([1, 2, 3], [1, 2, 3]) == (0, 1)
    assert stats.ks_2samp([1, 2, 3, 4], [3, 4, 5, 6])[0] == pytest.approx(0.5)
    d, p = stats.ks_2samp([3, 4, 5], [1, 2, 0])
    assert d == 1 and p == pytest.approx(0.1)      # 2 of C(6, 3) = 20 splits as extreme


def test_two_sample_p_finds_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a, b = rng.normal(100, 10, 40).round(), rng.normal(100, 10, 40).round()
    assert stats.two_sample_p(a, b) > 0.05
    assert stats.two_sample_p(a, b + 15) < 0.001
    assert stats.two_sample_p(b + 15, a) == pytest.approx(stats.two_sample_p(a, b + 15))
    assert stats.two_sample_p(a, a) == pytest.approx(1)


def test_the_table_compares_each_control_and_task(tmp_path, capsys):
    rng = np.random.default_rng(1)
    g1, g2 = rng.integers(120, 180, 30), rng.integers(80, 130, 30)
    a = write(tmp_path / 'a.csv', g1, g2, tf='2.16.1', controls=('pathnet', 'scratch'))
    later = g2 + np.where(np.arange(30) < 2, 0, 40)   # seeds 0 and 1 as on build a
    b = write(tmp_path / 'b.csv', g1, later, controls=('pathnet', 'scratch'),
              paths={0: '4|5|6'})                      # ... but seed 0 took another path
    assert plot_builds.main([a, b, '-o', str(tmp_path / 'b.png')]) == 0
    out = capsys.readouterr().out.splitlines()
    assert 'Holm over all 8 tests of this table' in out[0]
    header, lines = out[1], out[2:6]
    stars = [l.count('*') for l in lines]
    lines = [l.replace('*', ' ') for l in lines]
    assert 'TF 2.16.1, NumPy 2.4.6' in header and 'TF 2.21.0, NumPy 2.4.6' in header
    assert [l.split()[:2] for l in lines] == [['pathnet', 'task1'], ['pathnet', 'task2'],
                                              ['scratch', 'task1'], ['scratch', 'task2']]
    task1, task2 = lines[0].split(), lines[1].split()
    assert task1[2:4] == ['30', '1']          # n; only seed 1's row is the same
    assert float(task1[-4]) == 0 and float(task1[-3]) == 1    # task 1: the same generations
    assert float(task2[-4]) == pytest.approx(-40 * 28 / 30, abs=0.05)
    assert float(task2[-3]) < 0.01 and float(task2[-1]) < 0.01
    assert stars == [0, 2, 0, 2]              # task 2: both tests significant after Holm
    assert (tmp_path / 'b.png').exists()


def test_a_log_of_two_builds_is_refused(tmp_path, capsys):
    a = write(tmp_path / 'a.csv', [1, 2], [3, 4])
    with open(a, 'a') as f:
        f.write(open(write(tmp_path / 'x.csv', [5], [6], tf='2.16.1', first=2)).read().split('\n', 1)[1])
    b = write(tmp_path / 'b.csv', [1, 2], [3, 4])
    err = one_line_error(plot_builds.main, capsys, [a, b, '-o', str(tmp_path / 'o.png')])
    assert 'want the rows of one build' in err
