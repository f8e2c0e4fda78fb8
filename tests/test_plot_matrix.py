"""plot_matrix.py: the transfer matrix, per ordered class pair and protocol (issue 18)."""
import csv
import re

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analysis import plot_matrix  # noqa: E402
from conftest import one_line_error  # noqa: E402
from results_log import COLUMNS  # noqa: E402

CONTROLS = ('pathnet', 'scratch', 'finetune')


def write_log(path, runs, settings=''):
    """A log of runs: dicts with control, seed, task1, task2, g1, g2 and optionally c1, c2
    (converged, default 1) and any column of COLUMNS (validation: task2_val_accuracy too).
    The settings name the pair's classes, as the driver's do (not 5v6 -> 6v7, its default)."""
    with open(str(path), 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for run in runs:
            row = dict.fromkeys(COLUMNS, '')
            row.update(timestamp='2026-12-01T00:00:00Z', overlap=2, task1_fitness='0.9988',
                       task2_fitness='0.9988', task1_test_accuracy='0.93',
                       task2_test_accuracy='0.97', task1_path='1|2|3', task2_path='1|2|3',
                       L=3, M=10, N=3, seconds='1.0', task1_diverged=0, task2_diverged=0)
            flags = ['--%s=%s' % (f, c) for f, c, default in zip(
                ('a1', 'a2', 'b1', 'b2'), run['task1'][::2] + run['task2'][::2], '5667')
                if c != default]
            row['settings'] = ' '.join(sorted(flags + settings.split()))
            row.update({k: v for k, v in run.items() if k in COLUMNS})
            row.update(task1_generations=run['g1'], task2_generations=run['g2'],
                       task1_converged=run.get('c1', 1), task2_converged=run.get('c2', 1))
            if any(k.startswith('task2_val_gen') for k in run):
                row.update(task1_val_accuracy='0.95', task2_val_accuracy='0.95')
            w.writerow([row[c] for c in COLUMNS])
    return str(path)


def pair_log(path, task1, task2, g2, g1=300, n=6, settings=''):
    """Every seed 0..n-1 under the three controls; g2[control](seed) its task-2 generations."""
    return write_log(path, [dict(control=c, seed=s, task1=task1, task2=task2, g1=g1, g2=g2[c](s))
                            for s in range(n) for c in CONTROLS], settings)


def fixed(scratch, finetune, pathnet=100):
    return {'pathnet': lambda s: pathnet, 'scratch': lambda s: scratch,
            'finetune': lambda s: finetune}


def test_pairs_are_classified_by_the_classes_they_share(tmp_path):
    assert plot_matrix.kind((5, 6), (5, 6)) == 'positive control'
    assert plot_matrix.kind((5, 6), (6, 5)) == 'positive control'
    assert plot_matrix.kind((5, 6), (6, 7)) == 'shared'
    assert plot_matrix.kind((5, 6), (7, 5)) == 'shared'
    assert plot_matrix.kind((5, 6), (7, 8)) == 'disjoint'
    folder = tmp_path / 'restore_adam'
    folder.mkdir()
    for t1, t2 in (('1v2', '3v4'), ('5v6', '6v5'), ('0v9', '9v3')):
        pair_log(folder / ('%s-%s.csv' % (t1, t2)), t1, t2, fixed(200, 50))
    cells = plot_matrix.read_protocol('restore_adam', [str(folder)], 'auto', 50)
    # Grouped: positive controls, then shared, then disjoint.
    assert [(plot_matrix.pair_name(c['pair']), c['kind']) for c in cells] == [
        ('5v6 -> 6v5', 'positive control'), ('0v9 -> 9v3', 'shared'),
        ('1v2 -> 3v4', 'disjoint')]


def test_ratios_are_control_over_pathnet_paired_by_seed(tmp_path, capsys):
    pathnet = np.array([100, 40, 300, 70, 250, 90, 160])
    runs = [dict(control='pathnet', seed=s, task1='5v6', task2='6v7', g1=300, g2=g)
            for s, g in enumerate(pathnet)]
    # Written in another order than pathnet's; seed 9 has no pathnet run: left out.
    runs += [dict(control=c, seed=s, task1='5v6', task2='6v7', g1=300, g2=int(f * pathnet[s]))
             for c, f in (('finetune', 0.5), ('scratch', 2)) for s in reversed(range(7))]
    runs.append(dict(control='scratch', seed=9, task1='5v6', task2='6v7', g1=300, g2=5))
    folder = tmp_path / 'shared_sgd'
    folder.mkdir()
    log = write_log(folder / '5v6-6v7.csv', runs)
    cell, = plot_matrix.read_protocol('shared_sgd', [log], 'auto', 200)
    assert cell['n'] == 7
    scratch, finetune = cell['tests']['threshold', 'scratch'], cell['tests']['threshold',
                                                                             'finetune']
    # paired by seed: every resample has the ratio 2 (or 1/2) exactly
    assert scratch['ratio'] == pytest.approx(2) and list(scratch['ci']) == pytest.approx([2, 2])
    assert finetune['ratio'] == pytest.approx(0.5) and list(finetune['ci']) == pytest.approx(
        [0.5, 0.5])
    assert scratch['means'] == pytest.approx((2 * pathnet.mean(), pathnet.mean()))
    assert plot_matrix.main([str(folder), '-o', str(tmp_path / 'm.png'),
                             '--bootstrap', '999']) == 0
    out = capsys.readouterr().out
    line, = [l for l in out.splitlines() if l.startswith('shared_sgd') and '5v6 -> 6v7' in l]
    # the exact sign-flip p of 7 equal-signed differences: 2 / 2^7 = 0.016 (Holm over 2)
    assert '2.00 [2.00, 2.00]* p=0.016' in line and '0.50 [0.50, 0.50]* p=0.016' in line
    assert ' 7  threshold' in line
    assert (tmp_path / 'm.png').read_bytes().startswith(b'\x89PNG')


def test_a_capped_run_counts_at_the_cap_and_is_flagged(tmp_path, capsys):
    # --max_steps=300: scratch seed 0 never converged (it diverged at 37): a diverged run
    # never reaches the level, so it is censored at the cap (300), not at 37.
    g2 = {'pathnet': lambda s: 100, 'scratch': lambda s: 37 if s == 0 else 200,
          'finetune': lambda s: 50}
    runs = [dict(control=c, seed=s, task1='5v6', task2='7v8', g1=300, g2=g2[c](s),
                 c2=0 if (c, s) == ('scratch', 0) else 1,
                 task2_diverged=int((c, s) == ('scratch', 0)))
            for s in range(4) for c in CONTROLS]
    folder = tmp_path / 'restore_adam'
    folder.mkdir()
    log = write_log(folder / '5v6-7v8.csv', runs, settings='--max_steps=300')
    cell, = plot_matrix.read_protocol('restore_adam', [log], 'auto', 100)
    t = cell['tests']['threshold', 'scratch']
    assert cell['cap'] == 300 and t['censored'] == (1, 0)
    assert t['ratio'] == pytest.approx((300 + 3 * 200) / 4 / 100)
    assert plot_matrix.main([log, '-o', str(tmp_path / 'c.png'), '--bootstrap', '100']) == 0
    line, = [l for l in capsys.readouterr().out.splitlines() if l.startswith('restore_adam')
             and '5v6 -> 7v8' in l]
    assert '2.25 [' in line and 'c1@300>' in line and line.count(' c1') == 1
    fig = plot_matrix.plot([cell])
    hollow = [l.get_xdata()[0] for l in fig.axes[0].lines if l.get_markerfacecolor() == 'white']
    assert hollow == pytest.approx([2.25])
    plt.close(fig)


def test_the_later_scripts_measure_is_task1_over_task2_under_pathnet(tmp_path):
    # pathnet: task 1 in 300 generations, task 2 in 100 (so 3x); the other controls'
    # task-1 counts (not the pathnet runs') would give something else. Seed 0's task 1
    # stopped unconverged at 300 (of a cap of 2000): censored there, the horizon tau of
    # the comparison, where both sides are restricted: task 1 all at 300, task 2 below.
    runs = []
    for s in range(5):
        runs += [dict(control='pathnet', seed=s, task1='5v6', task2='7v8', g1=300 + 10 * s,
                      g2=100 + 10 * s, c1=int(s > 0)),
                 dict(control='scratch', seed=s, task1='5v6', task2='7v8', g1=900, g2=300),
                 dict(control='finetune', seed=s, task1='5v6', task2='7v8', g1=50, g2=90)]
    log = write_log(tmp_path / 'l.csv', runs, settings='--max_steps=2000')
    cell, = plot_matrix.read_protocol('p', [log], 'auto', 300)
    t = cell['tests']['threshold', plot_matrix.LATER]
    assert t['ratio'] == pytest.approx(5 * 300 / (100 + 110 + 120 + 130 + 140))
    assert t['censored'] == (1, 0) and t['tau'] == 300   # seed 0's task 1 never converged
    assert t['truncated'] == (5, 0)                  # all of task 1 cut short: a lower bound
    assert 'holm' not in t                           # not in the Holm family
    assert plot_matrix.correct([cell]) == 2
    # Task 1 run for a fixed number of generations: its count is no time to a level.
    log = write_log(tmp_path / 'f.csv', runs, settings='--task1_generations=500')
    cell, = plot_matrix.read_protocol('p', [log], 'auto', 300)
    assert cell['tests']['threshold', plot_matrix.LATER] is None
    assert plot_matrix.entry(None) == '(task 1 ran a fixed length)'


def test_holm_marks_only_tests_that_survive_the_whole_family(tmp_path, capsys):
    folders = {6: [], 10: []}
    for n in folders:
        for protocol in ('restore_adam', 'shared_sgd'):
            folder = tmp_path / str(n) / protocol
            folder.mkdir(parents=True)
            pair_log(folder / '5v6-6v7.csv', '5v6', '6v7', fixed(200, 100), n=n)
            pair_log(folder / '5v6-6v8.csv', '5v6', '6v8', fixed(100, 100), n=n)
            folders[n].append(str(folder))
    # 6 seeds: the exact p of 6 equal differences, 2/2^6 = 0.031 > 0.05/8: nothing passes
    # Holm, though the CIs exclude 1; whatever the resamples.
    for resamples in ('60', '999'):
        assert plot_matrix.main(folders[6] + [
            '-o', str(tmp_path / 'a.png'), '--bootstrap', resamples]) == 0
        out = capsys.readouterr().out
        assert '2.00 [2.00, 2.00] p=0.031' in out and ']*' not in out
        assert 'over all 8 scratch/pathnet and finetune/pathnet tests' in out
        assert 'restore_adam  shared           threshold (2 pairs): scratch 0/0/2, finetune ' \
               '0/0/2, task1/task2>1 2 (0)' in out
    # 10 seeds: 2/2^10 = 0.002 <= 0.05/8.
    assert plot_matrix.main(folders[10] + ['-o', str(tmp_path / 'b.png')]) == 0
    out = capsys.readouterr().out
    assert out.count('2.00 [2.00, 2.00]* p=0.002') == 2 and out.count(']*') == 2
    assert out.count('1.00 [1.00, 1.00] p=1') == 6
    assert 'shared_sgd    shared           threshold (2 pairs): scratch 1/0/1, finetune 0/0/2, ' \
           'task1/task2>1 2 (1)' in out


def test_the_figure_has_a_panel_per_protocol_on_a_log_ratio_axis(tmp_path):
    cells = []
    for protocol in ('restore_adam', 'shared_sgd'):
        log = pair_log(tmp_path / (protocol + '.csv'), '5v6', '6v7', fixed(200, 50))
        cells += plot_matrix.read_protocol(protocol, [log], 'auto', 999)
    cells += plot_matrix.read_protocol(
        'shared_sgd', [pair_log(tmp_path / 'p.csv', '5v6', '5v6', fixed(100, 100))], 'auto', 999)
    fig = plot_matrix.plot(cells)
    assert [ax.get_title() for ax in fig.axes] == ['restore_adam', 'shared_sgd']
    for ax in fig.axes:
        assert ax.get_xscale() == 'log'
        lo, hi = ax.get_xlim()
        assert lo * hi == pytest.approx(1)               # 0.5 as far from 1 as 2
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert {'0.5', '1', '2'} <= set(labels) and all(
            re.fullmatch(r'[0-9.]+', t) for t in labels), labels
    ratio = {(l.get_marker(), l.get_color()): l.get_xdata()[0]
             for l in fig.axes[0].lines if l.get_marker() in 'os^'}
    assert ratio == pytest.approx({('o', 'tab:blue'): 2, ('s', 'tab:orange'): 0.5,
                                   ('^', 'tab:green'): 3})
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert 'positive controls' in texts and 'shared' in texts and 'disjoint' not in texts
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        '5v6 \u2192 5v6', '5v6 \u2192 6v7']
    plt.close(fig)


def validation_runs(reached85=5, reached90=3):
    """Pathnet reaches val 0.85 in `reached85` runs of 5, 0.90 in `reached90` (at most
    those), 0.93 in 1."""
    runs = []
    for s in range(5):
        for c, v85, v90, v93 in (('pathnet', 10 if s < reached85 else '',
                                  20 if s < min(reached90, reached85) else '',
                                  40 if s < 1 else ''),
                                 ('scratch', 30, 60, 90), ('finetune', 10, 10, 10)):
            runs.append(dict(control=c, seed=s, task1='5v6', task2='6v7', g1=300, g2=100, **{
                'task2_val_gen_0.85': v85, 'task2_val_gen_0.90': v90, 'task2_val_gen_0.93': v93,
                'task1_val_gen_0.85': 40, 'task1_val_gen_0.90': 50}))
    return runs


def test_validation_level_is_the_highest_90_percent_of_pathnet_runs_reached(tmp_path, capsys):
    runs = validation_runs()
    (tmp_path / 'p').mkdir()
    log = write_log(tmp_path / 'p' / 'v.csv', runs)
    cell, = plot_matrix.read_protocol('p', [log], 'auto', 100)
    assert cell['levels'] == ['threshold', 'val_0.85']
    assert cell['tests']['val_0.85', 'scratch']['ratio'] == pytest.approx(3)
    assert cell['tests']['val_0.85', plot_matrix.LATER]['ratio'] == pytest.approx(4)
    assert 'val 0.85: the highest validation level that at least 90% of the pathnet runs ' \
        'reached (5 of 5)' in cell['why']
    every90 = write_log(tmp_path / 'e.csv', validation_runs(reached90=5))
    cell, = plot_matrix.read_protocol('p', [every90], 'auto', 100)
    assert cell['levels'] == ['threshold', 'val_0.90']
    cell, = plot_matrix.read_protocol('p', [log], 'val_0.90', 100)
    assert cell['levels'] == ['threshold', 'val_0.90']
    assert cell['tests']['val_0.90', 'scratch']['censored'] == (0, 2)
    # 0.85 reached by 2 runs of 5 only (and so no higher level by most): none.
    few = write_log(tmp_path / 'f.csv', validation_runs(reached85=2))
    cell, = plot_matrix.read_protocol('p', [few], 'auto', 100)
    assert cell['levels'] == ['threshold'] and 'none was reached by 90%' in cell['why']
    cell, = plot_matrix.read_protocol('p', [log], 'threshold', 100)
    assert cell['levels'] == ['threshold']
    # An older run without validation in the log: no validation level.
    runs.append(dict(control='pathnet', seed=7, task1='5v6', task2='6v7', g1=300, g2=100))
    cell, = plot_matrix.read_protocol('p', [write_log(tmp_path / 'w.csv', runs)], 'auto', 100)
    assert cell['levels'] == ['threshold'] and 'not every run measured' in cell['why']
    assert plot_matrix.main([log, '-o', str(tmp_path / 'v.png'), '--bootstrap', '100']) == 0
    out = capsys.readouterr().out
    assert re.search(r'level of p +5v6 -> 6v7 +val 0.85: the highest', out)
    assert re.search(r'\n +val 0.85 +10.0 +30.0 +10.0 +40.0  3.00 \[3.00, 3.00\]', out)
    # The figure: the row names its level; each panel's, in panel order, where they differ.
    for levels, ticks, texts in ((('auto', 'auto'), 'val 0.85', []),
                                 (('auto', 'val_0.90'), 'val 0.85 / 0.90', [])):
        fig = plot_matrix.plot([plot_matrix.read_protocol(name, [log], lv, 100)[0]
                                for name, lv in zip('ab', levels)] + plot_matrix.read_protocol(
                                    'a', [pair_log(tmp_path / 'd.csv', '1v2', '3v4',
                                                   fixed(100, 100))], 'auto', 100))
        # rows: 0 'shared', -1 the pair, -2 its level, -3 'disjoint', -4 the other pair
        assert list(fig.axes[0].get_yticks()) == [-1, -2, -4]
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
            '5v6 \u2192 6v7', ticks, '1v2 \u2192 3v4']
        assert [t.get_text() for ax in fig.axes for t in ax.texts if 'val' in t.get_text()] \
            == texts
        plt.close(fig)


def test_bad_input_is_one_line_error(tmp_path, capsys):
    out = ['-o', str(tmp_path / 'x.png')]
    err = one_line_error(plot_matrix.main, capsys, out)
    assert 'no logs' in err
    err = one_line_error(plot_matrix.main, capsys, [str(tmp_path / 'missing')] + out)
    assert 'cannot read' in err and 'missing' in err
    (tmp_path / 'empty').mkdir()
    err = one_line_error(plot_matrix.main, capsys, [str(tmp_path / 'empty')] + out)
    assert 'no *.csv logs in the folder' in err
    runs = [dict(control=c, seed=s, task1='5v6', task2='6v7', g1=300, g2=100)
            for s in range(3) for c in ('pathnet', 'scratch')]
    log = write_log(tmp_path / '5v6-6v7.csv', runs)
    err = one_line_error(plot_matrix.main, capsys, [log] + out)
    assert '5v6-6v7.csv: 5v6 -> 6v7 has no finetune runs' in err
    good = pair_log(tmp_path / 'g.csv', '5v6', '6v7', fixed(200, 50))
    other = pair_log(tmp_path / 'o.csv', '5v6', '6v7', fixed(200, 50), n=8, settings='--T=20')
    err = one_line_error(plot_matrix.main, capsys, [good, other] + out)
    assert 'g.csv, ' in err and 'o.csv: 5v6 -> 6v7: runs of different settings (' in err
    err = one_line_error(plot_matrix.main, capsys, [good, '--level', 'val_0.5'] + out)
    assert '--level must be one of' in err
    bad = write_log(tmp_path / 'b.csv', [dict(control='pathnet', seed=0, task1='56',
                                              task2='6v7', g1=1, g2=1)])
    err = one_line_error(plot_matrix.main, capsys, [bad] + out)
    assert "b.csv line 2: a task should be two digits like 5v6, got '56'" in err
    assert not (tmp_path / 'x.png').exists()


def test_protocols_are_named_after_their_folders(tmp_path):
    (tmp_path / 'shared_sgd').mkdir()
    a = tmp_path / 'shared_sgd' / 'a.csv'
    assert plot_matrix.protocols([str(tmp_path / 'restore_adam') + '/', str(a)]) == {
        'restore_adam': [str(tmp_path / 'restore_adam') + '/'], 'shared_sgd': [str(a)]}
