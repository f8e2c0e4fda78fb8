"""What PathNet buys (issue 23): held-out accuracy when task 2 has few training images
(scarce), forgetting of task 1 (retention), and robustness to Adam's learning rate
(learning_rate). From study.py's `scarce` and `learning_rate` logs, and any committed log.

    python -m analysis.plot_benefits scarce results/benefits/scarce/
        [-o results/benefits/scarce.png] [--at 1,5,20] [--bootstrap N] [--seed S]
    python -m analysis.plot_benefits retention LOG|FOLDER ...
    python -m analysis.plot_benefits learning_rate results/benefits/learning_rate.csv
        [-o results/benefits/learning_rate.png] [--level val_0.90] [--bootstrap N]

scarce: a cell is a class pair (task1 -> task2) at N training images of task 2 (the
settings' --train_images; none: all of them), its runs trained for a fixed number of task-2
generations G, paired by seed over pathnet, scratch and finetune. Each run's held-out
curve (task2_val_curve, at generations 1, 2, 3, 5, 10, 20, 50, ...; at G it is
task2_val_accuracy) gives:
- its accuracy at the generations of --at and at the end (G);
- AUC: the mean held-out accuracy over generations 1..G, the curve linearly interpolated
  between its recorded generations (trapezoids, divided by G - 1). Nothing is censored:
  every run has its whole curve.
PathNet against scratch and against finetune: the mean paired difference pathnet -
control (above 0: PathNet more accurate), a 95% percentile CI from SciPy's paired
bootstrap, and the exact two-sided sign-flip p (benefits_stats.sign_flip_p, on the
accuracies' 4 recorded decimals as whole numbers: no decision depends on --seed). Holm at
family-wise error 0.05 over the end and AUC tests of every pair x N x control (a table's
family); * marks survivors. PathNet beat a control where Holm rejects and the difference
is above 0, lost to it where below. The accuracies at --at are described, not tested.

retention and learning_rate: benefits_retention.py and benefits_rate.py say what they
compute.
"""
import re
import sys

import matplotlib.pyplot as plt
import numpy as np

from analysis import benefits_rate, benefits_retention
from analysis.benefits_stats import UNIT, accuracy_units, difference, mean_band, verdict
from analysis.plots import (FAMILY_ERROR, MARKS, PlotError, add_logs, add_out, add_resamples,
                            check_resamples, correct as holm, finish, parser, read, save)
from results_log import parse_curve, parse_settings

CONTROLS = ('pathnet', 'scratch', 'finetune')
OTHERS = CONTROLS[1:]                   # compared with pathnet, in the Holm family
MEASURES = ('end', 'auc')
ORIGINAL = ((5, 6), (6, 7))             # the paper's pair: a panel of its own, not 'shared'
KIND_ORDER = ('positive control', 'original', 'shared', 'disjoint')
ALL = 'all'


def task(text, where):
    """'5v6' -> (5, 6)."""
    m = re.fullmatch(r'([0-9])v([0-9])', text)
    if not m or m.group(1) == m.group(2):
        raise PlotError('%s: a task should be two digits like 5v6, got %r' % (where, text))
    return int(m.group(1)), int(m.group(2))


def pair_name(pair):
    return '%dv%d -> %dv%d' % (pair[0] + pair[1])


def pair_kind(pair):
    """The pair's kind by the classes its tasks share, as plot_matrix's: both (positive
    control), one (shared), none (disjoint); the paper's pair is a kind of its own."""
    if pair == ORIGINAL:
        return 'original'
    return ('disjoint', 'shared', 'positive control')[len(set(pair[0]) & set(pair[1]))]


def images(row):
    """The run's task-2 training images: --train_images, or ALL."""
    n = parse_settings(row['settings']).get('train_images')
    if n is not None and not n.isdigit():
        raise PlotError('%s: --train_images in the settings is not a number' % row['where'])
    return int(n) if n else ALL


def curve(row):
    """The run's held-out curve as ([generations], [accuracy units]), ending at its last
    generation with task2_val_accuracy (off the curve's schedule, as 300, it is added)."""
    c = parse_curve(row['task2_val_curve'])
    end = row['task2_generations']
    if not c:
        raise PlotError('%s: no task-2 held-out curve (task2_val_curve empty: a log from '
                        'before the column?)' % row['where'])
    c.setdefault(end, row['task2_val_accuracy'])
    if max(c) != end or round(c[end] * UNIT) != round(row['task2_val_accuracy'] * UNIT):
        raise PlotError('%s: the curve does not end at task 2\'s last generation %d with its '
                        'task2_val_accuracy' % (row['where'], end))
    return sorted(c), accuracy_units([c[g] for g in sorted(c)])


def auc_units(gens, units):
    """2 * (G - 1) * UNIT * AUC, a whole number: the trapezoids' sum in accuracy units."""
    g, u = np.asarray(gens), np.asarray(units)
    return int(np.sum(np.diff(g) * (u[1:] + u[:-1])))


def cells(rows, at):
    """{(pair, N): cell}: each cell's common seeds, its length G, and per control the
    accuracy units at `at` and the end, and the AUC units, in seed order."""
    groups = {}
    for r in rows:
        if r['control'] not in CONTROLS:
            raise PlotError('%s: control %r is not one of %s' % (r['where'], r['control'],
                                                                  ', '.join(CONTROLS)))
        pair = tuple(task(r[t], r['where']) for t in ('task1', 'task2'))
        groups.setdefault((pair, images(r)), {}).setdefault(r['control'], {})[r['seed']] = r
    out = {}
    for (pair, n), by in groups.items():
        where = '%s at N=%s' % (pair_name(pair), n)
        if set(by) != set(CONTROLS):
            raise PlotError('%s has no %s runs' % (where, ' or '.join(set(CONTROLS) - set(by))))
        seeds = sorted(set.intersection(*(set(s) for s in by.values())))
        ends = {r['task2_generations'] for s in by.values() for r in s.values()}
        if len(seeds) < 2 or len(ends) > 1:
            raise PlotError('%s: %s' % (where, 'fewer than 2 seeds run under all three controls'
                                        if len(seeds) < 2 else 'runs of different task-2 '
                                        'lengths %s: one fixed length per cell' % sorted(ends)))
        cell = {'pair': pair, 'n': n, 'seeds': seeds, 'end': ends.pop()}
        bad = [g for g in at if g >= cell['end']]
        if bad:
            raise PlotError('%s: --at %s not before the end, generation %d' % (
                where, ','.join(map(str, bad)), cell['end']))
        for c in CONTROLS:
            runs = [curve(by[c][s]) for s in seeds]
            missing = [(g, gs) for gs, _ in runs for g in at if g not in gs]
            if missing:
                raise PlotError('%s: generation %s is not on a held-out curve (%s)' % (
                    where, missing[0][0], ' '.join(map(str, missing[0][1]))))
            cell[c] = {'at': np.array([[u[gs.index(g)] for g in at] for gs, u in runs]),
                       'end': np.array([u[-1] for _, u in runs]),
                       'auc': np.array([auc_units(gs, u) for gs, u in runs])}
        out[pair, n] = cell
    return out


def scale(cell, measure):
    """Units of a measure per unit of accuracy: UNIT, or the AUC's 2 (G - 1) UNIT."""
    return UNIT * (2 * (cell['end'] - 1) if measure == 'auc' else 1)


def order(table):
    return sorted(table, key=lambda k: (KIND_ORDER.index(pair_kind(k[0])), k[0],
                                        float('inf') if k[1] == ALL else k[1]))


def test(table, resamples, seed):
    """Every end and AUC difference of pathnet with scratch and finetune, Holm-corrected
    over all of them. Returns the family's size."""
    family = []
    for key in order(table):
        cell = table[key]
        cell['tests'] = {}
        for c in OTHERS:
            for m in MEASURES:
                t = difference(cell['pathnet'][m], cell[c][m], resamples, seed)
                t['scale'] = scale(cell, m)
                cell['tests'][c, m] = t
                family.append(t)
    return holm(family)


def entry(t):
    return '%+.3f [%+.3f, %+.3f]%s p=%.2g' % (t['diff'] / t['scale'], t['ci'][0] / t['scale'],
                                            t['ci'][1] / t['scale'], '*' * t['holm'], t['p'])


def summary(table, at, m, resamples):
    head = '%-4s %-9s' % ('N', 'control') + ''.join(' %6s' % ('g%d' % g) for g in at) + \
        ' %6s %6s   %-36s %s' % ('end', 'AUC', 'pathnet - control: end', 'AUC')
    lines = ['Held-out accuracy of task 2\'s winner (means over the seeds); AUC = mean held-out '
             'accuracy over generations 1..G, linear between recorded generations',
             'pathnet - control: mean paired difference [95%% paired bootstrap CI, %d resamples] '
             'exact sign-flip p; * = significant after Holm over these %d tests (family: pair x '
             'N x control x {end, AUC}; family-wise error %g)' % (resamples, m, FAMILY_ERROR)]
    last = None
    for key in order(table):
        cell = table[key]
        if key[0] != last:
            lines += ['', 'pair %s (%s), G = %d task-2 generations' % (
                pair_name(key[0]), pair_kind(key[0]), cell['end']), head]
            last = key[0]
        for i, c in enumerate(CONTROLS):
            u = cell[c]
            row = '%-4s %-9s' % (key[1] if i == 0 else '', c) + ''.join(
                ' %6.3f' % (x / UNIT) for x in u['at'].mean(axis=0)) + ' %6.3f %6.3f' % (
                u['end'].mean() / UNIT, u['auc'].mean() / scale(cell, 'auc'))
            if c != 'pathnet':
                row += '   %-36s %s' % (entry(cell['tests'][c, 'end']),
                                        entry(cell['tests'][c, 'auc']))
            lines.append(row + ('   n=%d' % len(cell['seeds']) if i == 0 else ''))
    return '\n'.join(lines + [''] + verdicts(table))


def verdicts(table):
    """Per pair kind, control and measure: the N at which PathNet won and lost (Holm)."""
    lines = ['Where PathNet beat (won) or lost to each control after Holm, per pair kind:']
    for k in KIND_ORDER:
        keys = [key for key in order(table) if pair_kind(key[0]) == k]
        if not keys:
            continue
        def where(c, v):   # the cells where PathNet won/lost against c at the end or AUC
            found = [key for key in keys if v in (verdict(table[key]['tests'][c, m])
                                                   for m in MEASURES)]
            one = len({key[0] for key in keys}) == 1   # then N alone names the cell
            return 'N = %s' % ', '.join('%s%s' % ('' if one else pair_name(key[0]) + ' ', key[1])
                                        for key in found) if found else 'no N'
        parts = ['  in one line: PathNet beat scratch at %s and finetune at %s; lost to scratch at '
                 '%s and finetune at %s (end or AUC)' % (where('scratch', 'won'),
                                                          where('finetune', 'won'),
                                                          where('scratch', 'lost'),
                                                          where('finetune', 'lost'))]
        for c in OTHERS:
            for m in MEASURES:
                got = {v: ['%s N=%s' % (pair_name(key[0]), key[1]) for key in keys
                           if verdict(table[key]['tests'][c, m]) == v] for v in ('won', 'lost')}
                parts.append('  %s, %s: won %d of %d cells%s; lost %d%s' % (
                    c, m.upper() if m == 'auc' else m, len(got['won']), len(keys),
                    ' (%s)' % ', '.join(got['won']) if got['won'] else '', len(got['lost']),
                    ' (%s)' % ', '.join(got['lost']) if got['lost'] else ''))
        lines += ['%s (%d pairs):' % (k, len({key[0] for key in keys}))] + parts
    return lines


def markdown(table):
    """The page's table: per pair and N, PathNet's difference with each control."""
    lines = ['| pair | N | pathnet | vs scratch: end | AUC | vs finetune: end | AUC |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    last = None
    for key in order(table):
        cell = table[key]
        lines.append('| %s | %s | %.3f / %.3f | %s |' % (
            pair_name(key[0]) if key[0] != last else '', key[1],
            cell['pathnet']['end'].mean() / UNIT, cell['pathnet']['auc'].mean() /
            scale(cell, 'auc'), ' | '.join('%+.3f%s' % (
                cell['tests'][c, m]['diff'] / cell['tests'][c, m]['scale'],
                '*' * cell['tests'][c, m]['holm']) for c in OTHERS for m in MEASURES)))
        last = key[0]
    return '\n'.join(['Markdown (pathnet: its mean end / AUC accuracy; then pathnet - control, '
                      '* Holm):'] + lines)


def x_of(n, top):
    """N on the log x axis; ALL a step to the right of the largest N."""
    return top * 3 if n == ALL else n


def plot(table):
    """Rows: end, AUC; a column per pair (by kind); one line per control, t CIs."""
    pairs = []
    for key in order(table):
        if key[0] not in pairs:
            pairs.append(key[0])
    numbers = sorted({k[1] for k in table if k[1] != ALL}) or [1]
    top = numbers[-1]
    fig, axes = plt.subplots(2, len(pairs), figsize=(3.2 * len(pairs) + 1, 7), squeeze=False,
                             sharex=True, sharey='row')
    for j, pair in enumerate(pairs):
        keys = [k for k in order(table) if k[0] == pair]
        xs = [x_of(k[1], top) for k in keys]
        for i, m in enumerate(MEASURES):
            ax = axes[i, j]
            for k, c in enumerate(CONTROLS):
                marker, color = MARKS[c]
                means, halves = zip(*[mean_band(table[key][c][m] / scale(table[key], m))
                                      for key in keys])
                ax.errorbar(np.array(xs) * 1.06 ** (k - 1), means, yerr=halves, fmt=marker + '-',
                            color=color, ms=5, capsize=2, lw=1, label=c)
            ax.set_xscale('log')
            ax.set_xticks([x_of(n, top) for n in numbers + [ALL]] if top > 1 else xs)
            ax.set_xticklabels([str(n) for n in numbers + [ALL]] if top > 1 else
                               [str(k[1]) for k in keys], fontsize=8)
            ax.minorticks_off()
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title('%s\n(%s)' % (pair_name(pair), pair_kind(pair)), fontsize=10)
            else:
                ax.set_xlabel('task-2 training images N')
        axes[0, 0].set_ylabel('held-out accuracy at the end (G)')
        axes[1, 0].set_ylabel('AUC: mean held-out accuracy\nover generations 1..G')
    axes[0, 0].legend(fontsize=8)
    ends = sorted({c['end'] for c in table.values()})
    fig.suptitle('Task 2 with N training images, G = %s generations:\nheld-out accuracy, '
                 'mean and 95%% t CI over the seeds' % '/'.join(map(str, ends)))
    return fig


def scarce_args(p):
    add_logs(p)
    add_out(p, 'results/benefits/scarce.png', 'the figure')
    p.add_argument('--at', default='1,5,20', metavar='G,G',
                   help='generations on the curve to report besides the end')
    add_resamples(p, '--bootstrap', 'paired bootstrap resamples (the CIs)')


def scarce(args):
    try:
        at = [int(g) for g in args.at.split(',')]
    except ValueError:
        raise PlotError('--at wants generations like 1,5,20, got %r' % args.at) from None
    rows = read(args.logs, ints=('seed', 'task2_generations'), floats=('task2_val_accuracy',),
                required=('control', 'task1', 'task2', 'settings', 'task2_val_curve'))
    table = cells(rows, at)
    m = test(table, args.bootstrap, args.seed)
    text = '\n'.join([summary(table, at, m, args.bootstrap), '', markdown(table)])
    save(plot(table), args.out, rect=(0, 0, 1, 0.93))
    return text, [args.out]


COMMANDS = {'scarce': (scarce_args, scarce),
            'retention': (benefits_retention.add_args, benefits_retention.work),
            'learning_rate': (benefits_rate.add_args, benefits_rate.work)}


def main(argv=None):
    p = parser(__doc__, raw=True)
    sub = p.add_subparsers(dest='what', metavar='COMMAND')
    sub.required = True
    for name, (add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=name.replace('_', ' ')))
    args = p.parse_args(argv)
    if hasattr(args, 'bootstrap'):
        check_resamples(p, args, '--bootstrap')
    status = []

    def work():
        text, paths, *failed = COMMANDS[args.what][1](args)
        status.extend(failed)
        return text, paths
    return finish(work) or int(any(status))


if __name__ == '__main__':
    sys.exit(main())
