"""plot_benefits.py: scarce data (held-out curves), retention (forgetting) and the learning
rate, on small synthetic logs."""
import csv
import itertools

import matplotlib
matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analysis import (benefits_rate, benefits_retention, benefits_stats,  # noqa: E402
                      plot_benefits, stats)
from conftest import one_line_error  # noqa: E402
from results_log import COLUMNS, curve_text  # noqa: E402

SCHEDULE = (1, 2, 3, 5, 10, 20, 50, 100)


def write_log(path, runs):
    """A log of runs: dicts of any COLUMNS; the rest filled as a converged 5v6 -> 6v7 run."""
    with open(str(path), 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for run in runs:
            row = dict.fromkeys(COLUMNS, '')
            row.update(timestamp='2026-12-01T00:00:00Z', task1='5v6', task2='6v7', overlap=2,
                       task1_generations=100, task2_generations=100, task1_converged=1,
                       task2_converged=1, task1_fitness='0.9988', task2_fitness='0.9988',
                       task1_test_accuracy='0.9300', task2_test_accuracy='0.9700',
                       task1_path='1|2|3', task2_path='1|2|3', L=3, M=10, N=3, seconds='1.0',
                       task1_diverged=0, task2_diverged=0, task1_val_accuracy='0.9500',
                       task2_val_accuracy='0.9500')
            row.update(run)
            w.writerow([row[c] for c in COLUMNS])
    return str(path)


def curve_run(seed, control, curve, settings='--task2_generations=100', **kw):
    """A scarce-study run whose held-out curve is curve(g) at the schedule's generations."""
    points = {g: curve(g) for g in SCHEDULE}
    run = dict(seed=seed, control=control, settings=settings, task2_val_curve=curve_text(points),
               task2_val_accuracy='%.4f' % points[100])
    run.update(kw)
    return run


def run_main(capsys, argv):
    assert plot_benefits.main(argv) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------------------
# The statistics.

def test_meet_in_the_middle_p_is_the_exact_sign_flip_p():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 8, 13):
        d = rng.integers(-30, 30, n)
        assert benefits_stats.sign_flip_p(d) == pytest.approx(stats.sign_flip_p(d), abs=1e-12)
        # by brute force over every sign vector
        sums = [abs(sum(s * x for s, x in zip(signs, d)))
                for signs in itertools.product((1, -1), repeat=n)]
        assert benefits_stats.sign_flip_p(d) == pytest.approx(
            np.mean(np.array(sums) >= abs(d.sum())), abs=1e-12)
    assert benefits_stats.sign_flip_p([5] * 6) == 2 / 64
    assert benefits_stats.sign_flip_p([3, -3]) == 1.0
    # AUC-sized whole numbers (millions) and 20 pairs: fast and exact, no sum-sized table
    big = rng.integers(-2_000_000, 3_000_000, 20)
    assert 0 < benefits_stats.sign_flip_p(big) <= 1


def test_auc_is_the_mean_of_the_linearly_interpolated_curve():
    gens = [1, 2, 3, 5, 10, 20, 50, 100]
    linear = [0.5 + 0.5 * (g - 1) / 99 for g in gens]     # 0.5 at 1 to 1.0 at 100
    units = benefits_stats.accuracy_units(linear)
    cell = {'end': 100}
    auc = plot_benefits.auc_units(gens, units) / plot_benefits.scale(cell, 'auc')
    assert auc == pytest.approx(0.75, abs=1e-4)
    # a step: 0.6 until 50, then a straight line to 1.0 at 100: (0.6 * 49 + 0.8 * 50) / 99
    step = [0.6] * 7 + [1.0]
    auc = plot_benefits.auc_units(gens, benefits_stats.accuracy_units(step)) / \
        plot_benefits.scale(cell, 'auc')
    assert auc == pytest.approx((0.6 * 49 + 0.8 * 50) / 99)


# ---------------------------------------------------------------------------
# Scarce data.

def scarce_log(tmp_path, n=10):
    """PathNet 0.10 better than both at N=20 on every seed; all three equal with all images."""
    runs = []
    for s in range(n):
        for c in plot_benefits.CONTROLS:
            lift = 0.1 * (c == 'pathnet')
            runs.append(curve_run(s, c, lambda g, s=s, lift=lift: 0.6 + lift + 0.001 * s,
                                  '--task2_generations=100 --train_images=20'))
            runs.append(curve_run(s, c, lambda g, s=s: 0.9 + 0.0005 * g * (s % 3)))
    return write_log(tmp_path / 'scarce.csv', runs)


def test_pair_kinds():
    kinds = [plot_benefits.pair_kind(((5, 6), t)) for t in ((6, 5), (6, 7), (3, 6), (3, 4))]
    assert kinds == ['positive control', 'original', 'shared', 'disjoint']


def test_scarce_finds_the_n_where_pathnet_wins_and_holm_over_the_family(tmp_path, capsys):
    out_png = tmp_path / 'scarce.png'
    out = run_main(capsys, ['scarce', scarce_log(tmp_path), '-o', str(out_png),
                            '--bootstrap', '500'])
    # 2 N x 2 controls x {end, AUC}: 8 tests; 10 identical differences: exact p = 2/2^10
    assert 'Holm over these 8 tests' in out
    assert '+0.100 [+0.100, +0.100]* p=0.002' in out
    assert ('in one line: PathNet beat scratch at N = 20 and finetune at N = 20; lost to '
            'scratch at no N and finetune at no N') in out
    assert 'scratch, end: won 1 of 2 cells (5v6 -> 6v7 N=20); lost 0' in out
    assert 'finetune, AUC: won 1 of 2 cells (5v6 -> 6v7 N=20); lost 0' in out
    assert '| 5v6 -> 6v7 | 20 | 0.705 / 0.705 | +0.100* | +0.100* | +0.100* | +0.100* |' in out
    assert '|  | all |' in out and out.index('| 20 |') < out.index('| all |')   # all: last
    assert out_png.read_bytes().startswith(b'\x89PNG')


def test_scarce_pairs_by_seed_not_by_row_order(tmp_path, capsys):
    # pathnet's rows in reverse seed order, each 0.05 above its own seed's scratch run
    runs = [curve_run(s, c, lambda g, s=s, c=c: 0.5 + 0.04 * s + 0.05 * (c == 'pathnet'))
            for c in plot_benefits.CONTROLS for s in (range(6) if c != 'pathnet'
                                                      else reversed(range(6)))]
    out = run_main(capsys, ['scarce', write_log(tmp_path / 'a.csv', runs), '-o',
                            str(tmp_path / 'a.png'), '--bootstrap', '200'])
    assert '+0.050 [+0.050, +0.050] p=0.031' in out   # 2/2^6; Holm over 4: not significant


def test_scarce_curve_must_end_with_the_runs_held_out_accuracy(tmp_path, capsys):
    runs = [curve_run(s, c, lambda g: 0.8) for s in range(3) for c in plot_benefits.CONTROLS]
    runs[4]['task2_val_accuracy'] = '0.7000'
    err = one_line_error(plot_benefits.main, capsys, [
        'scarce', write_log(tmp_path / 'a.csv', runs), '-o', str(tmp_path / 'a.png')])
    assert 'does not end at task 2\'s last generation 100' in err


def test_scarce_adds_the_end_off_the_schedule_and_refuses_missing_controls(tmp_path, capsys):
    # a 300-generation pilot: the curve stops at 100 here, the end is task2_val_accuracy
    runs = [curve_run(s, c, lambda g: 0.8, '--task2_generations=300', task2_generations=300,
                      task2_val_accuracy='0.9000') for s in range(4)
            for c in plot_benefits.CONTROLS]
    out = run_main(capsys, ['scarce', write_log(tmp_path / 'p.csv', runs), '-o',
                            str(tmp_path / 'p.png'), '--at', '1,100'])
    assert 'G = 300 task-2 generations' in out
    # AUC: 0.8 until 100, a line to 0.9 at 300: (0.8 * 99 + 0.85 * 200) / 299
    assert ' 0.800  0.800  0.900  %.3f' % ((0.8 * 99 + 0.85 * 200) / 299) in out
    log = write_log(tmp_path / 'b.csv', [r for r in runs if r['control'] != 'finetune'])
    err = one_line_error(plot_benefits.main, capsys, ['scarce', log, '-o', str(tmp_path / 'b.png')])
    assert 'has no finetune runs' in err


# ---------------------------------------------------------------------------
# Retention.

def test_forgetting_from_own_before_or_the_pathnet_twin_and_its_checks(tmp_path, capsys):
    old = [dict(seed=s, control='pathnet', task1_test_accuracy='0.9300') for s in range(3)] + \
        [dict(seed=s, control='scratch', task1_test_accuracy='0.5000') for s in range(3)] + \
        [dict(seed=3, control='finetune', task1_test_accuracy='0.5000')]   # no twin: unknown
    new = [dict(seed=s, control=c, task1_test_accuracy_before='0.9300',
                task1_test_accuracy='0.9300' if c == 'pathnet' else '0.8300')
           for s in range(4) for c in ('pathnet', 'finetune')]
    out = run_main(capsys, ['retention', write_log(tmp_path / 'old.csv', old),
                            write_log(tmp_path / 'new.csv', new), '-o', str(tmp_path / 'r.png')])
    assert (tmp_path / 'r.png').read_bytes().startswith(b'\x89PNG')
    lines = out.splitlines()
    scratch = next(x for x in lines if 'old.csv' in x and ' scratch ' in x)
    assert '   3       3  +0.4300 [+0.4300, +0.4300]' in scratch   # imputed from the twin
    finetune = next(x for x in lines if 'new.csv' in x and ' finetune ' in x)
    assert '   4       0  +0.1000' in finetune                     # its own before
    assert 'their before equal to pathnet\'s before: 4 of 4' in out
    assert 'no before value: 1 rows' in out
    assert 'with forgetting other than 0: 0' in out and 'ERROR' not in out
    assert benefits_retention.FROZEN == ('pathnet', 'pathnet_noreinit')


def test_a_frozen_control_that_forgets_is_an_error_and_exit_1(tmp_path, capsys):
    rows = [dict(seed=0, control='pathnet', task1_test_accuracy_before='0.9300',
                 task1_test_accuracy='0.9299'),
            dict(seed=0, control='pathnet_noreinit', task1_test_accuracy='0.9000')]
    assert plot_benefits.main(['retention', write_log(tmp_path / 'a.csv', rows), '-o',
                               str(tmp_path / 'r.png')]) == 1
    out = capsys.readouterr().out
    assert 'pathnet forgot +0.0001 of task 1 (seed 0)' in out
    # noreinit's before comes from the twin's after (0.9299): it forgot 0.0299
    assert 'pathnet_noreinit forgot +0.0299' in out
    assert 'other than 0: 2' in out


def test_a_before_value_that_disagrees_with_the_twin_is_counted(tmp_path, capsys):
    rows = [dict(seed=0, control='pathnet', task1_test_accuracy_before='0.9300',
                 task1_test_accuracy='0.9300'),
            dict(seed=0, control='finetune', task1_test_accuracy_before='0.9100',
                 task1_test_accuracy='0.9000')]
    out = run_main(capsys, ['retention', write_log(tmp_path / 'a.csv', rows), '-o',
                            str(tmp_path / 'r.png')])
    assert 'their before equal to pathnet\'s before: 0 of 1' in out
    assert 'their before equal to pathnet\'s after: 0 of 1' in out


def test_no_twin_when_task_1_was_another_run(tmp_path, capsys):
    rows = [dict(seed=0, control='pathnet', task1_test_accuracy='0.9300'),
            dict(seed=0, control='scratch', task1_test_accuracy='0.5000', task1_path='4|5|6'),
            dict(seed=1, control='pathnet', task1_test_accuracy='0.9300'),
            dict(seed=1, control='scratch', task1_test_accuracy='0.5000')]
    out = run_main(capsys, ['retention', write_log(tmp_path / 'a.csv', rows), '-o',
                            str(tmp_path / 'r.png')])
    assert 'task 1 differs from its pathnet twin: 1 rows' in out
    assert '   1       1  +0.4300' in next(x for x in out.splitlines() if ' scratch ' in x)


# ---------------------------------------------------------------------------
# The learning rate.

RATES = (0.0001, 0.001, 0.01)


def rate_log(tmp_path, g2, n=8):
    """Seeds 0..n-1 at each rate and control; g2(control, rate, seed) -> (generations,
    converged); task 1 takes 10 / rate ** 0.25 generations. No held-out levels measured."""
    runs = []
    for rate, c, s in itertools.product(RATES, plot_benefits.CONTROLS, range(n)):
        g, done = g2(c, rate, s)
        runs.append(dict(seed=s, control=c, task2_generations=g, task2_converged=int(done),
                         task1_generations=int(10 / rate ** 0.25),
                         settings='' if rate == 0.001 else '--learning_rate=%g' % rate,
                         task1_val_accuracy='', task2_val_accuracy=''))
    return write_log(tmp_path / 'rate.csv', runs)


def rate_out(capsys, tmp_path, log):
    return run_main(capsys, ['learning_rate', log, '-o', str(tmp_path / 'rate.png'),
                             '--bootstrap', '300', '--level', 'val_0.85'])


def test_rate_costs_spread_and_tests(tmp_path, capsys):
    # pathnet 100 at every rate; scratch 100 / 200 / 400; finetune 50 everywhere
    cost = {'pathnet': lambda r: 100, 'scratch': lambda r: {0.0001: 100, 0.001: 200}.get(r, 400),
            'finetune': lambda r: 50}
    log = rate_log(tmp_path, lambda c, r, s: (cost[c](r) + s, True))
    out = rate_out(capsys, tmp_path, log)
    assert '0.0001          pathnet         103.5' in out
    assert 'scratch         203.5 (1.97*)' in out and 'scratch         103.5 (1.00)' in out
    # spread: pathnet 1, scratch 403.5 / 103.5, finetune 1; the ratios of the spreads
    assert list(benefits_rate.spread(np.array([[1.0, 4.0, 2.0]]))) == [4.0]
    spread = next(x for x in out.splitlines() if x.startswith('threshold '))
    assert spread.split()[1] == '1.00' and spread.split()[4] == '%.2f' % (403.5 / 103.5)
    assert spread.split()[7] == '1.00' and spread.split()[10] == '%.2f' % (403.5 / 103.5)
    assert 'Holm over 6 tests' in out               # the threshold only: no held-out column
    assert 'Task-1 generations per rate' in out and '%.1f' % int(10 / 0.01 ** 0.25) in out


def test_rate_means_are_restricted_at_the_earliest_censoring(tmp_path, capsys):
    # one pathnet run ended unconverged at 150: censored there, and every mean of the
    # table (all rates and controls) is restricted at tau = 150
    def g2(c, r, s):
        if c == 'pathnet' and r == 0.01 and s == 0:
            return 150, False
        return (200 + s, True) if c == 'scratch' else (100 + s, True)
    out = rate_out(capsys, tmp_path, rate_log(tmp_path, g2))
    assert '1 runs censored, means restricted at tau = 150' in out
    # scratch restricted at 150 on every seed: 150.0, not its plain mean 203.5
    assert 'scratch         150.0' in out and '203.5' not in out
