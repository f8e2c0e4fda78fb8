"""plot_study.py: the study's speed-ups per cell, at the threshold and at 0.95/0.98."""
import csv
import re

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pytest

from analysis import plot_study
from conftest import one_line_error
from results_log import COLUMNS


def write_cell(path, g2, gen95, overlap=2, controls=('pathnet', 'scratch', 'finetune')):
    """A log with one row per (control, seed): task-2 generations g2[control][i] and
    first generation at 0.95 gen95[control][i] ('' = never)."""
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for control in controls:
            for seed, (g, g95) in enumerate(zip(g2[control], gen95[control])):
                row = dict.fromkeys(COLUMNS, '')
                row.update(timestamp='2026-11-29T00:00:00Z', seed=seed, control=control,
                           task1='5v6', task2='6v7', task1_generations=100, task2_generations=g,
                           overlap=overlap, task1_converged=1, task2_converged=1,
                           task1_fitness='0.9988', task2_fitness='0.9988',
                           task1_test_accuracy='0.93', task2_test_accuracy='0.97',
                           task1_path='1|2|3', task2_path='1|2|3', L=3, M=10, N=3,
                           seconds='1.0', settings='--tournament=shared', task1_diverged=0,
                           task2_diverged=0, **{'task2_gen_0.95': g95, 'task2_gen_0.98': g})
                w.writerow([row[c] for c in COLUMNS])
    return str(path)


def test_ratios_are_control_over_pathnet_per_cell_and_level(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 30
    pathnet = rng.integers(90, 111, n)
    g2 = {'pathnet': pathnet, 'scratch': pathnet * 2, 'finetune': pathnet // 2}
    gen95 = {'pathnet': [10] * n, 'scratch': [10] * n, 'finetune': [30] * n}
    log = write_cell(tmp_path / 'shared_sgd.csv', g2, gen95)
    cell = plot_study.cell(log, 2000)
    ratio, (lo, hi), censored = cell['ratios']['', 'scratch']
    assert ratio == pytest.approx(2.0) and lo == pytest.approx(2.0) and censored == 0
    ratio, (lo, hi), _ = cell['ratios']['', 'finetune']
    assert ratio == pytest.approx(np.mean(pathnet // 2) / np.mean(pathnet))
    assert hi < 1                                   # fine-tuning faster: PathNet slower
    assert cell['ratios']['0.95', 'scratch'][0] == pytest.approx(1.0)
    assert cell['ratios']['0.95', 'finetune'][0] == pytest.approx(3.0)
    assert cell['n'] == n and cell['name'] == 'shared_sgd'
    assert cell['overlap'][0] == 2
    assert plot_study.main([log, '-o', str(tmp_path / 'study.png'), '--bootstrap', '500']) == 0
    out = capsys.readouterr().out
    assert 'shared_sgd' in out and '2.00 [2.00, 2.00]*' in out
    assert (tmp_path / 'study.png').read_bytes().startswith(b'\x89PNG')


def test_only_seeds_run_under_all_three_controls_are_paired(tmp_path):
    g2 = {'pathnet': [100, 100, 100], 'scratch': [200, 200, 900], 'finetune': [50, 50]}
    gen95 = {c: [1] * len(v) for c, v in g2.items()}
    cell = plot_study.cell(write_cell(tmp_path / 'c.csv', g2, gen95), 200)
    assert cell['n'] == 2                              # seed 2 has no finetune run
    assert cell['ratios']['', 'scratch'][0] == pytest.approx(2.0)


def test_a_level_not_reached_is_censored_at_the_tasks_end_not_at_the_cap(tmp_path):
    # pathnet's seed 0 stopped at its threshold after 100 generations without reaching
    # 0.95: censored at 100 (not at the cap, 1000), the row's horizon tau.
    g2 = {c: [100, 100] for c in ('pathnet', 'scratch', 'finetune')}
    gen95 = {'pathnet': ['', 10], 'scratch': [10, 10], 'finetune': [10, 10]}
    cell = plot_study.cell(write_cell(tmp_path / 'c.csv', g2, gen95), 200)
    ratio, _, censored = cell['ratios']['0.95', 'scratch']
    assert censored == 1 and ratio == pytest.approx(20 / (100 + 10))
    assert cell['tau', '0.95'] == 100 and cell['tau', ''] is None


def test_a_cell_without_three_paired_controls_is_one_line_error(tmp_path, capsys):
    g2 = {'pathnet': [100, 100], 'scratch': [100, 100]}
    log = write_cell(tmp_path / 'c.csv', g2, {c: [1, 1] for c in g2},
                     controls=('pathnet', 'scratch'))
    err = one_line_error(plot_study.main, capsys, [log, '-o', str(tmp_path / 'x.png')])
    assert 'fewer than 2 seeds' in err and 'c.csv' in err


# ---------------------------------------------------------------------------
# Censoring, Holm, other controls and levels, the figure (issue 18).

def write_runs(path, runs, extra=(), settings='--tournament=shared', measured=None):
    """A log of the given runs: dicts of control, seed, g2 and optionally converged (c2),
    gen95, gen98 and any column of extra ('' = never reached)."""
    columns = list(COLUMNS) + [c for c in extra if c not in COLUMNS]
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(columns)
        for run in runs:
            row = dict.fromkeys(columns, '')
            row.update(timestamp='2026-11-29T00:00:00Z', task1='5v6', task2='6v7',
                       task1_generations=100, overlap=2, task1_converged=1,
                       task1_fitness='0.9988', task2_fitness='0.9988',
                       task1_test_accuracy='0.93', task2_test_accuracy='0.97',
                       task1_path='1|2|3', task2_path='1|2|3', L=3, M=10, N=3, seconds='1.0',
                       settings=settings, task1_diverged=0, task2_diverged=0)
            row.update({'control': run['control'], 'seed': run['seed'],
                        'task2_generations': run['g2'], 'task2_converged': run.get('c2', 1),
                        'task2_gen_0.95': run.get('gen95', 5),
                        'task2_gen_0.98': run.get('gen98', 9)})
            row.update({c: run[c] for c in extra if c in run})
            if measured if measured is not None else extra:   # the run measured validation
                row['task2_val_accuracy'] = '0.9500'
            w.writerow([row[c] for c in columns])
    return str(path)


def test_censored_pairs_get_the_sign_test_and_restricted_means_at_the_logs_cap(tmp_path,
                                                                             capsys):
    # The cap is the settings' --max_steps (300); a run that never converged is censored
    # at its end (the cap), one that diverged early (seed 5 of scratch: 37 generations)
    # never reaches it: censored at the cap too, not at 37.
    pathnet = [(100, 1), (300, 0), (300, 0), (120, 1), (80, 1), (90, 1)]
    scratch = [(300, 0), (300, 0), (200, 1), (120, 1), (60, 1), (37, 0)]
    runs = [dict(control=c, seed=s, g2=g, c2=ok, task2_diverged=int(g == 37))
            for c, gs in (('pathnet', pathnet), ('scratch', scratch))
            for s, (g, ok) in enumerate(gs)]
    runs += [dict(control='finetune', seed=s, g2=50) for s in range(6)]
    log = write_runs(tmp_path / 'capped.csv', runs, ('task2_diverged',),
                     settings='--max_steps=300 --tournament=shared', measured=False)
    cell = plot_study.cell(log, 500)
    t = cell['tests']['', 'scratch']
    assert cell['cap'] == 300 and t['censored'] == (3, 2)
    # scratch first: seeds 2, 4; pathnet first: 0, 5; ties: 1 (both capped), 3 (equal)
    assert t['sign'] == (2, 2, 2, 1.0)
    assert t['means'] == pytest.approx(((300 + 300 + 200 + 120 + 60 + 300) / 6,
                                        (100 + 300 + 300 + 120 + 80 + 90) / 6))
    assert cell['ratios']['', 'scratch'][2] == 5
    assert plot_study.main([log, '-o', str(tmp_path / 's.png'), '--bootstrap', '500']) == 0
    out = capsys.readouterr().out
    assert ('c: threshold scratch/pathnet: not reached by the end of the task (censored there): '
            'scratch 3, pathnet 2 of 6; restricted means at tau = 300: scratch 213.3, pathnet '
            '165.0 (not a bound: tau cuts short both sides)') in out
    assert ('sign test (who reached it first): control first 2, pathnet first 2, ties 2, '
            'p=1') in out
    assert ('c: threshold finetune/pathnet: not reached by the end of the task (censored '
            'there): finetune 0, pathnet 2 of 6; restricted means at tau = 300: finetune 50.0, '
            'pathnet 165.0 (an upper bound on the unrestricted ratio: tau cuts short only '
            'pathnet)') in out
    assert 'c: 0.95' not in out                       # nothing censored at 0.95
    assert 'cN@T: N runs of the comparison' in out


def test_holm_runs_over_the_whole_table():
    def fake(name, p):
        return {'name': name, 'levels': ('',), 'controls': ['scratch'],
                'tests': {('', 'scratch'): {'p': p}}}
    # Each alone passes 0.05; the family of two needs 0.025 for the smaller.
    cells = [fake('a', 0.03), fake('b', 0.04)]
    assert plot_study.correct(cells) == 2
    assert [c['tests']['', 'scratch']['holm'] for c in cells] == [False, False]
    cells = [fake('a', 0.02), fake('b', 0.04)]
    plot_study.correct(cells)
    assert [c['tests']['', 'scratch']['holm'] for c in cells] == [True, True]
    assert cells[0]['tests']['', 'scratch']['p_holm'] == pytest.approx(0.04)


@pytest.mark.parametrize('resamples', ['60', '999'])
def test_a_ci_excluding_1_is_starred_only_if_holm_rejects_it(tmp_path, capsys, resamples):
    # The exact sign-flip p of n equal differences is 2 / 2^n, whatever the resamples: 6
    # seeds give 0.031 > 0.05/6, no star; 8 give 0.0078 <= 0.05/6, a star.
    for n, star in ((6, ''), (8, '*')):
        g2 = {'pathnet': [100] * n, 'scratch': [200] * n, 'finetune': [100] * n}
        log = write_cell(tmp_path / ('c%d.csv' % n), g2, {c: [10] * n for c in g2})
        assert plot_study.main([log, '-o', str(tmp_path / 'a.png'), '--bootstrap',
                                resamples]) == 0
        out = capsys.readouterr().out
        assert '2.00 [2.00, 2.00]%s p=%.2g' % (star, 2 / 2 ** n) in out
        assert out.count(']*') == (2 if star else 0)   # the threshold and 0.98
        assert "over all 6 ratio tests of this table" in out
        assert '1.00 [1.00, 1.00] p=1' in out


def test_other_controls_and_validation_levels_are_reported(tmp_path, capsys):
    extra = ('task2_val_gen_0.90', 'task2_val_gen_0.85')
    runs = []
    for s in range(4):
        runs += [dict(control='pathnet', seed=s, g2=100, **{extra[0]: 20, extra[1]: 10}),
                 dict(control='scratch', seed=s, g2=200, **{extra[0]: 40, extra[1]: 10}),
                 dict(control='finetune', seed=s, g2=50, **{extra[0]: '', extra[1]: 10})]
        if s < 3:
            runs.append(dict(control='finetune_reinit', seed=s, g2=300))
        if s < 1:
            runs.append(dict(control='pathnet_noreinit', seed=s, g2=100))
    log = write_runs(tmp_path / 'new.csv', runs, extra)
    cell = plot_study.cell(log, 200)
    assert cell['levels'] == ('', '0.95', '0.98', 'val_0.85', 'val_0.90')
    assert cell['controls'] == ['scratch', 'finetune', 'pathnet_noreinit', 'finetune_reinit']
    assert cell['ratios']['val_0.90', 'scratch'][0] == pytest.approx(2)
    # never reached: censored at the task's end (50), the row's horizon: 50 / 20
    assert cell['ratios']['val_0.90', 'finetune'][0] == pytest.approx(50 / 20)
    assert cell['ratios']['val_0.90', 'finetune'][2] == 4
    assert cell['ratios']['', 'finetune_reinit'][0] == pytest.approx(3)
    assert cell['tests']['', 'finetune_reinit']['n'] == 3
    assert cell['tests']['', 'pathnet_noreinit'] is None      # one seed: no test
    assert plot_study.main([log, '-o', str(tmp_path / 'n.png'), '--bootstrap', '200']) == 0
    out = capsys.readouterr().out
    assert 'finetune_reinit/pathnet' in out and 'pathnet_noreinit/pathnet' in out
    assert 'val 0.90' in out and 'val 0.85' in out
    assert '3.00 [3.00, 3.00] p=0.25 n=3' in out and 'fewer than 2 paired seeds' in out
    # 5 levels x 3 testable controls
    assert 'over all 15 ratio tests' in out
    # An old log (no validation columns, two controls) in the same table: no such levels.
    old = write_cell(tmp_path / 'old.csv', {c: [100, 110, 120] for c in plot_study.CORE +
                                            ('pathnet',)}, {c: [5, 5, 5] for c in
                                                            plot_study.CORE + ('pathnet',)})
    assert plot_study.cell(old, 100)['levels'] == plot_study.LEVELS
    assert plot_study.main([old, log, '-o', str(tmp_path / 'm.png'), '--bootstrap', '200']) == 0
    out = capsys.readouterr().out
    assert '(not run)' in out and 'over all 21 ratio tests' in out


def test_the_figure_has_a_log_ratio_axis_censoring_and_generations(tmp_path):
    n = 10
    g2 = {'pathnet': [100] * n, 'scratch': [200] * n, 'finetune': [50] * n}
    gen95 = {'pathnet': [10] * n, 'scratch': [''] * 3 + [10] * (n - 3), 'finetune': [10] * n}
    cells = [plot_study.cell(write_cell(tmp_path / 'c.csv', g2, gen95), 2000)]
    plot_study.table(cells, 2000)
    fig = plot_study.plot(cells)
    ratio_ax, mean_ax = fig.axes
    assert ratio_ax.get_xscale() == 'log' and mean_ax.get_xscale() == 'log'
    lo, hi = ratio_ax.get_xlim()
    assert lo * hi == pytest.approx(1)                 # 0.5 as far from 1 as 2
    ticks, labels = ratio_ax.get_xticks(), [t.get_text() for t in ratio_ax.get_xticklabels()]
    assert '1' in labels and all(re.fullmatch(r'[0-9.]+', t) for t in labels), labels
    assert sorted(ticks) == pytest.approx(sorted(1 / ticks))   # as many below 1 as above
    narrow = [plot_study.cell(write_cell(tmp_path / 'd.csv', g2, {c: [10] * n for c in g2}),
                              200)]
    plain = plot_study.plot(narrow).axes[0]                  # a narrower range: 0.5, 1, 2
    assert {'0.5', '1', '2'} <= {t.get_text() for t in plain.get_xticklabels()}
    plt.close(plain.figure)
    assert '1000' in [t.get_text() for t in mean_ax.get_xticklabels()]
    texts = [t.get_text() for t in ratio_ax.texts]
    assert 'c3@200' in texts and texts.count('*') == 4   # scratch @0.95: 3 censored at 200
    hollow = [line for line in ratio_ax.lines if line.get_markerfacecolor() == 'white']
    assert len(hollow) == 1 and hollow[0].get_xdata()[0] == pytest.approx(
        (3 * 200 + 7 * 10) / 10 / 10)
    # The means: pathnet, scratch and finetune at each of 3 levels; scratch @0.95 hollow.
    points = [(line.get_xdata()[0], line.get_markerfacecolor() == 'white')
              for line in mean_ax.lines if line.get_marker() in 'Dos']
    assert (100, False) in points and (200, False) in points and (50, False) in points
    assert len(points) == 9 and [p for p in points if p[1]] == [((3 * 200 + 7 * 10) / 10, True)]
    plt.close(fig)


def test_validation_levels_only_when_every_run_measured_them(tmp_path):
    """A log upgraded from an older version has its old rows' validation columns
    empty: unknown, so the level is not reported (not counted as never reached)."""
    extra = ('task2_val_gen_0.90',)
    runs = [dict(control=c, seed=s, g2=100, **{extra[0]: 20})
            for s in range(3) for c in ('pathnet',) + plot_study.CORE]
    log = write_runs(tmp_path / 'new.csv', runs, extra)
    assert plot_study.cell(log, 100)['levels'] == plot_study.LEVELS + ('val_0.90',)
    with open(log) as f:
        lines = f.read().splitlines()
    header = lines[0].split(',')
    old = lines[1].split(',')
    old[header.index('task2_val_accuracy')] = ''     # an old row, upgraded
    old[header.index('seed')] = '9'
    with open(log, 'a') as f:
        f.write(','.join(old) + '\n')
    assert plot_study.cell(log, 100)['levels'] == plot_study.LEVELS


def test_cells_of_the_same_name_are_told_apart_by_their_folder(tmp_path, capsys):
    g2 = {c: [100, 110, 120] for c in ('pathnet',) + plot_study.CORE}
    g95 = {c: [5, 5, 5] for c in g2}
    logs = []
    for folder in ('restore_adam', 'shared_sgd'):
        (tmp_path / folder).mkdir()
        logs.append(write_cell(tmp_path / folder / '5v6-5v6.csv', g2, g95))
    assert plot_study.main(logs + ['-o', str(tmp_path / 's.png'), '--bootstrap', '100']) == 0
    out = capsys.readouterr().out
    assert re.search(r'^restore_adam/5v6-5v6 ', out, re.M)
    assert re.search(r'^shared_sgd/5v6-5v6 ', out, re.M)


def test_validation_levels_most_pathnet_runs_missed_are_left_out(tmp_path):
    extra = ('task2_val_gen_0.90', 'task2_val_gen_0.93')
    runs = [dict(control=c, seed=s, g2=100, **{extra[0]: 20, extra[1]: 30 if s < 8 else ''})
            for s in range(10) for c in ('pathnet',) + plot_study.CORE]
    log = write_runs(tmp_path / 'v.csv', runs, extra)
    assert plot_study.cell(log, 100)['levels'] == plot_study.LEVELS + ('val_0.90',)
    runs = [dict(r, **{extra[1]: 30}) if r['seed'] == 8 else r for r in runs]   # 9 of 10
    log = write_runs(tmp_path / 'w.csv', runs, extra)
    assert plot_study.cell(log, 100)['levels'] == plot_study.LEVELS + ('val_0.90', 'val_0.93')


def test_the_title_names_the_class_pairs_of_the_logs(tmp_path):
    runs = [dict(control=c, seed=s, g2=100) for s in range(3)
            for c in ('pathnet',) + plot_study.CORE]
    log = write_runs(tmp_path / 'p.csv', runs)
    cells = [plot_study.cell(log, 100)]
    for c in cells:
        c['pairs'] = {'5v6 \u2192 5v6'}
    fig = plot_study.plot(cells)
    assert 'Binary MNIST 5v6 \u2192 5v6,' in fig._suptitle.get_text()
    plt.close(fig)
    assert plot_study.cell(log, 100)['pairs'] == {'5v6 \u2192 6v7'}   # from the rows


def test_the_2x2_tells_freezing_from_reinitialising(tmp_path, capsys):
    # Re-initialising the other modules doubles task 2; freezing the path changes nothing.
    rng = np.random.default_rng(3)
    base = rng.integers(90, 111, 12)
    g2 = {'pathnet': base * 2, 'finetune_reinit': base * 2, 'pathnet_noreinit': base,
          'finetune': base, 'scratch': base * 3}
    log = write_cell(tmp_path / 'controls.csv', g2, {c: [5] * 12 for c in g2},
                     controls=tuple(g2))
    cell = plot_study.cell(log, 500)
    lines = plot_study.factorial([cell], 500).splitlines()
    head = lines.index([l for l in lines if l.startswith('cell')][0])
    assert lines[head].split()[3:] == ['pathnet/finetune_reinit', 'pathnet_noreinit/finetune',
                                       'pathnet/pathnet_noreinit', 'finetune_reinit/finetune']
    threshold = lines[head + 1].split()
    assert threshold[2] == 'threshold'
    ratios = [threshold[i] for i in (3, 7, 11, 15)]
    assert ratios == ['1.00', '1.00', '2.00', '2.00']
    assert threshold[17].endswith(']*') and threshold[9].endswith(']')   # the CIs' ends
    assert 'over these 12 tests' in lines[3]     # 4 effects x 3 levels (threshold, 0.95, 0.98)
    # Printed after the table; a cell without the four controls has no 2x2.
    assert plot_study.main([log, '-o', str(tmp_path / 'x.png'), '--bootstrap', '500']) == 0
    assert '2x2, freezing against re-initialising' in capsys.readouterr().out
    three = write_cell(tmp_path / 'three.csv', g2, {c: [5] * 12 for c in g2},
                       controls=('pathnet', 'scratch', 'finetune'))
    assert plot_study.factorial([plot_study.cell(three, 500)], 500) == ''
