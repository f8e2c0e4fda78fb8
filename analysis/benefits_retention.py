"""Retention (plot_benefits retention): how much of task 1 each control forgets while
learning task 2.

forgetting = task1_test_accuracy_before - task1_test_accuracy (right after task 1 minus
after task 2; above 0: forgotten). Rows of logs before the before column lack it; task 1
does not depend on the control (the control only changes what task 2 starts from), and
under pathnet task 1's path is frozen, so the pathnet row of the same log, seed and
settings gives it: its after value is its before value. That row is used only when task 1
was the same run (task1_generations and task1_path equal). Where a row has its own before
value and its pathnet twin exists, the two must agree, and pathnet's after must equal its
before: the printout counts these checks. Forgetting under pathnet and pathnet_noreinit
(the path frozen) must be exactly 0: any other value is an ERROR line, and the command
exits 1.

A cell is a log file's rows of one settings; per cell and control: the runs, how many
took before from their pathnet twin, the mean forgetting with its 95% t CI, the largest.
Then per study (a log's folder) and control: the runs over its cells, their mean and the
range of the cells' means (descriptive: a folder's cells share seeds, so no pooled CI).
"""
import os

import matplotlib.pyplot as plt
import numpy as np

from analysis.benefits_stats import UNIT, accuracy_units
from analysis.plots import MARKS, PlotError, add_logs, add_out, read, save
from analysis.stats import mean_ci
from results_log import log_files

FROZEN = ('pathnet', 'pathnet_noreinit')   # task 1's path frozen: nothing to forget


def add_args(p):
    add_logs(p)
    add_out(p, 'results/benefits/retention.png', 'the figure: each cell\'s mean forgetting')


def task1(row):
    return row['task1_generations'], row['task1_path']


def units(text):
    return accuracy_units([float(text)])[0]


def forgetting(rows, checks):
    """[(row, before units, after units, imputed)] for the rows whose before is known,
    counting the checks into `checks` (a dict of counters and lists)."""
    twin = {(r['seed'], r['settings']): r for r in rows if r['control'] == 'pathnet'}
    out = []
    for r in rows:
        own, p = r['task1_test_accuracy_before'], twin.get((r['seed'], r['settings']))
        same = p is not None and task1(p) == task1(r)
        if p is not None and not same:
            checks['task 1 differs from its pathnet twin'].append(r['where'])
        if own and same and p['task1_test_accuracy_before'] and r is not p:
            agree = units(own) == units(p['task1_test_accuracy_before'])
            checks['before equal to pathnet\'s before'][agree] += 1
        if own and same and r is not p:
            checks['before equal to pathnet\'s after'][units(own) == units(
                p['task1_test_accuracy'])] += 1
        if own:
            before, imputed = units(own), False
        elif same:
            before, imputed = units(p['task1_test_accuracy']), True
        else:
            checks['no before value'].append(r['where'])
            continue
        out.append((r, before, units(r['task1_test_accuracy']), imputed))
    return out


def cell_table(path, checks):
    """{(settings, control): [(forgetting units, imputed)]} of one log file."""
    rows = read(path, ints=('seed',), required=('control', 'settings', 'task1_path',
                                                'task1_generations', 'task1_test_accuracy'))
    by = {}
    for r, before, after, imputed in forgetting(rows, checks):
        if r['control'] in FROZEN and before != after:
            checks['ERROR'].append('%s: %s forgot %+.4f of task 1 (seed %d): its path is '
                                   'frozen, it must be 0' % (r['where'], r['control'],
                                                             (before - after) / UNIT, r['seed']))
        by.setdefault((r['settings'], r['control']), []).append((before - after, imputed))
    return by


def work(args):
    checks = {'ERROR': [], 'no before value': [], 'task 1 differs from its pathnet twin': [],
              'before equal to pathnet\'s before': [0, 0],
              'before equal to pathnet\'s after': [0, 0]}
    lines = ['Forgetting of task 1 = task1_test_accuracy_before - task1_test_accuracy (above 0: '
             'forgotten); mean [95% t CI] over the cell\'s runs; imputed: runs whose before is '
             'their pathnet twin\'s (same seed and settings, same task-1 run)',
             '%-44s %-16s %4s %7s  %-27s %8s  %s' % ('log', 'control', 'n', 'imputed',
                                                     'mean forgetting [95% CI]', 'largest',
                                                     'settings')]
    studies = {}
    for path in log_files(args.logs):
        for (settings, control), runs in sorted(cell_table(path, checks).items(),
                                                key=lambda kv: (kv[0][0], order(kv[0][1]))):
            f = np.array([x for x, _ in runs], float) / UNIT
            mean, half = mean_ci(f)
            ci = '[%+.4f, %+.4f]' % (mean - half, mean + half) if half is not None else ''
            lines.append('%-44s %-16s %4d %7d  %+.4f %-19s %+8.4f  %s' % (
                path, control, len(f), sum(i for _, i in runs), mean, ci, f.max(),
                settings or '(defaults)'))
            study = studies.setdefault((os.path.dirname(path), control), [[], []])
            study[0].extend(f)
            study[1].append(mean)
    if not studies:
        raise PlotError('no run with a known task-1 accuracy before task 2 in %s'
                        % ', '.join(args.logs))
    lines += ['', 'Per study (folder) and control: runs over its cells, their mean forgetting, '
                  'the range of the cells\' means (descriptive)',
              '%-32s %-16s %5s %6s %8s  %s' % ('study', 'control', 'cells', 'runs', 'mean',
                                               'cell means')]
    for (folder, control), (f, means) in sorted(studies.items(),
                                                key=lambda kv: (kv[0][0], order(kv[0][1]))):
        lines.append('%-32s %-16s %5d %6d %+8.4f  %+.4f to %+.4f' % (
            folder, control, len(means), len(f), np.mean(f), min(means), max(means)))
    lines += ['', 'Checks:'] + report(checks)
    save(plot(studies), args.out)
    return '\n'.join(lines), [args.out], bool(checks['ERROR'])


def plot(studies):
    """A column per study (folder), a dot per cell's mean forgetting, by control."""
    folders = sorted({folder for folder, _ in studies})
    fig, ax = plt.subplots(figsize=(2 + 1.3 * len(folders), 4.5))
    controls = sorted({c for _, c in studies}, key=order)
    for (folder, control), (_, means) in studies.items():
        k = controls.index(control)
        marker, color = MARKS.get(control, ('*', 'grey'))
        x = folders.index(folder) + 0.8 * (k + 0.5) / len(controls) - 0.4
        ax.plot([x] * len(means), means, marker, color=color, alpha=0.6, ms=5,
                label=None if control in ax.get_legend_handles_labels()[1] else control)
    ax.set_xticks(range(len(folders)))
    ax.set_xticklabels([f.rstrip('/').split('results/')[-1] for f in folders], rotation=30,
                       ha='right', fontsize=8)
    ax.axhline(0, color='k', lw=0.8)
    ax.set(ylabel='task-1 test accuracy: before - after task 2', title='Forgetting of task 1: '
           'each cell\'s mean, per control')
    ax.legend(fontsize=8)
    return fig


def order(control):
    ranks = ('pathnet', 'pathnet_noreinit', 'scratch', 'finetune', 'finetune_reinit')
    return (ranks.index(control) if control in ranks else len(ranks), control)


def report(checks):
    out = []
    for name in ('before equal to pathnet\'s before', 'before equal to pathnet\'s after'):
        wrong, right = checks[name]
        out.append('  rows (not pathnet) with a before value and a pathnet twin, their %s: '
                   '%d of %d' % (name, right, right + wrong))
    for name in ('no before value', 'task 1 differs from its pathnet twin'):
        where = checks[name]
        out.append('  %s: %d rows%s' % (name, len(where), ' (%s%s)' % (
            ', '.join(where[:3]), ', ...' if len(where) > 3 else '') if where else ''))
    out.append('  frozen controls (%s) with forgetting other than 0: %d' % (
        ', '.join(FROZEN), len(checks['ERROR'])))
    return out + ['ERROR: ' + e for e in checks['ERROR']]
