"""Plot PathNet's binary-MNIST transfer results (Fernando et al. 2017).

From the results logs of binary_mnist_pathnet.py: generations against the
overlap of the two tasks' paths (the 2017 figure), overlap against chance,
and each task's generations.

    python plot_overlap.py [LOG ...] [-o OUT.png] [--control C] [--settings S] [--show]

The rows of one control and one settings are plotted: by default the default
settings (as plot_transfer), or the rows' one settings when none are the defaults.
Rows of other settings (the log's settings column) are different experiments:
skipped and counted, never pooled.
"""
import os
import sys
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from analysis.plots import PlotError, add_logs, add_out, finish, parser, read, save
from analysis.stats import chance_distribution, chance_p_value, standard_error
from results_log import CONTROLS, log_files

DEFAULT_OUT = 'results/overlap_generations.png'
OTHER_FIGURES = ('overlap_histogram', 'generations_histogram')
INTS = ('task1_generations', 'task2_generations', 'overlap',
        'task1_converged', 'task2_converged', 'L', 'M', 'N')
GENERATIONS = 'generations (tournaments)'


def parse_args(argv=None):
    p = parser(__doc__)
    add_logs(p)
    add_out(p, DEFAULT_OUT, 'figure 1 (generations against overlap); figures 2 and 3 go next '
            'to it as OUT_overlap_histogram.png and OUT_generations_histogram.png, or, when '
            'OUT is named overlap_generations.png, as overlap_histogram.png and '
            'generations_histogram.png in its folder')
    p.add_argument('--control', choices=CONTROLS, default='pathnet',
                   help='plot the rows of this control only')
    p.add_argument('--settings', default=None, metavar='S',
                   help="plot the rows whose settings column is S ('': the default settings; "
                        "default: those, or the rows' one settings if none are the defaults); "
                        "a value starting with -- needs '=': --settings=--learning_rate=0.0001")
    p.add_argument('--show', action='store_true', help='also open the figures in a window')
    return p.parse_args(argv)


def read_rows(paths):
    """All rows of all logs; one no run can write is an error, not a point on a figure."""
    rows = read(paths, ints=INTS, required=('control',))
    for r in rows:
        if not (1 <= r['N'] <= r['M'] and r['L'] >= 1 and {
                r['task1_converged'], r['task2_converged']} <= {0, 1}
                and 0 <= r['overlap'] <= r['L'] * r['N']
                and min(r['task1_generations'], r['task2_generations']) >= 0):
            raise PlotError('%s: impossible L, M, N, overlap, converged or generations'
                            % r['where'])
    return rows


def select(rows, control, logs, settings=None):
    """The rows of one control and one settings, and a count of the others by control and
    settings. Rows of different settings are different experiments: never pooled."""
    chosen = [r for r in rows if r['control'] == control]
    others = Counter(r['control'] for r in rows if r['control'] != control)
    if not chosen:
        raise PlotError('no %s rows (found %s); choose with --control' % (
            control, ', '.join('%s: %d' % kv for kv in sorted(others.items()))))
    have = Counter(r.get('settings', '') for r in chosen)
    if settings is None:
        if '' not in have and len(have) > 1:
            raise PlotError('the %s rows mix %d settings, none the defaults (%s): choose one '
                            'with --settings=S' % (control, len(have), ', '.join(
                                '%r: %d' % kv for kv in sorted(have.items()))))
        settings = '' if '' in have else next(iter(have))
    chosen = [r for r in chosen if r.get('settings', '') == settings.strip()]
    if not chosen:
        raise PlotError('no %s rows with settings %r; they have %s (choose with --settings=S)'
                        % (control, settings, ', '.join('%r: %d' % kv
                                                        for kv in sorted(have.items()))))
    if len(have) > 1:
        others['%s of other settings' % control] = sum(have.values()) - len(chosen)
    shapes = sorted({(r['L'], r['M'], r['N']) for r in chosen})
    if len(shapes) > 1:
        raise PlotError('the %s rows mix network sizes L/M/N %s; the chance distribution '
                        'needs one' % (control, ', '.join('%d/%d/%d' % s for s in shapes)))
    # Figure 1, the 2017 figure, would be empty.
    if not any(r['task1_converged'] == r['task2_converged'] == 1 for r in chosen):
        raise PlotError('none of the %d %s experiments in %s solved both tasks (task 1: %d, '
                        'task 2: %d): no generations to plot' % (
                            len(chosen), control, ', '.join(logs),
                            sum(r['task1_converged'] for r in chosen),
                            sum(r['task2_converged'] for r in chosen)))
    return chosen, others


def p_text(t, mean, le='<=', ge='>='):
    """Both tails, labelled: evolution may avoid frozen modules as well as seek them."""
    return ('P(mean %s %.2f) = %.2g (lower tail), P(mean %s %.2f) = %.2g (upper tail)'
            % (le, mean, t['p'][0], ge, mean, t['p'][1]))

def tabulate(rows, dist):
    """What the figures and the summary show, computed once."""
    t = {c: np.array([r[c] for r in rows], dtype=int) for c in INTS}
    t['both'] = (t['task1_converged'] == 1) & (t['task2_converged'] == 1)
    t['done'] = [t['task%d_generations' % k][t['task%d_converged' % k] == 1] for k in (1, 2)]
    t['chance'], t['chance_mean'] = dist, float(dist @ np.arange(len(dist)))
    t['p'] = chance_p_value(t['overlap'], dist)
    r = rows[0]
    t['top'], t['what'] = r['L'] * r['N'], '%s, L=%d M=%d N=%d' % (
        r['control'], r['L'], r['M'], r['N'])
    t['settings'] = r.get('settings') or '(defaults)'
    t['title'] = '%s; settings: %s' % (t['what'], t['settings'])
    return t


def plot_generations_vs_overlap(t):
    both, top = t['both'], t['top']
    x = t['overlap'][both]
    # Seeded so that the same log always gives the same picture.
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(x))
    n = np.bincount(x, minlength=top + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, y, what in ((axes[0], t['task1_generations'] + t['task2_generations'],
                         'task 1 + task 2'), (axes[1], t['task2_generations'], 'task 2')):
        y = y[both]
        ax.scatter(x + jitter, y, s=16, alpha=0.5, label='one experiment (jittered)')
        groups = [y[x == v] for v in np.unique(x)]
        ax.errorbar(np.unique(x), [g.mean() for g in groups], capsize=4, fmt='o-', color='k',
                    yerr=[standard_error(g) for g in groups],
                    label='mean \u00b1 standard error')
        ax.set_xticks(range(top + 1))   # labels: in one call only from matplotlib 3.5
        ax.set_xticklabels(['%d\nn=%d' % (v, n[v]) if n[v] else str(v)
                            for v in range(top + 1)], fontsize=8)
        ax.set(xlim=(-0.5, top + 0.5), title='%s against overlap' % what,
               xlabel='overlap: modules on both tasks\' paths (of L\u00b7N = %d)' % top,
               ylabel='%s, %s' % (what, GENERATIONS))
        ax.legend(fontsize=8)
    fig.suptitle('Generations against overlap (%s): n=%d experiments, %d not converged '
                 'left out' % (t['title'], both.sum(), len(both) - both.sum()))
    return fig


def plot_overlap_histogram(t):
    x, values = t['overlap'], np.arange(t['top'] + 1)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.bar(values, np.bincount(x, minlength=len(values)), width=0.8, alpha=0.6,
           label='observed: n=%d, mean %.2f' % (len(x), x.mean()))
    ax.plot(values, len(x) * t['chance'], 'o--', color='tab:red',
            label='chance (paths drawn at random): expected, mean %.2f' % t['chance_mean'])
    ax.set(xticks=values, xlabel='overlap: modules on both tasks\' paths', ylabel='experiments',
           title='Overlap of the two tasks\' paths (%s), n=%d\nby chance: %s'
                 % (t['title'], len(x), p_text(t, x.mean(), '\u2264', '\u2265')))
    ax.legend(fontsize=8)
    return fig


def plot_generations_histogram(t):
    everything = np.concatenate(t['done'])
    bins = np.histogram_bin_edges(everything, bins='auto') if len(everything) else 10
    fig, ax = plt.subplots(figsize=(8, 5))
    for k, g in zip((1, 2), t['done']):
        ax.hist(g, bins=bins, histtype='step', linewidth=2, label='task %d: n=%d' % (k, len(g))
                + (', median %g, mean %.1f' % (np.median(g), g.mean()) if len(g) else ''))
    left_out = [len(t['overlap']) - len(g) for g in t['done']]
    ax.set(xlabel=GENERATIONS + ' to solve the task', ylabel='experiments',
           title='Generations per task (%s)\nnot converged, left out: task 1 %d, task 2 %d'
                 % (t['title'], *left_out))
    ax.legend(fontsize=8)
    return fig


def summary(rows, others, t, logs):
    n = len(rows)
    lines = ['%d experiments (%s) from %d log(s); skipped %d rows of other controls%s' % (
        n, t['what'], len(logs), sum(others.values()),
        ''.join(' (%s: %d)' % kv for kv in sorted(others.items()))),
        'converged: task 1 %d/%d, task 2 %d/%d, both %d/%d' % (
            len(t['done'][0]), n, len(t['done'][1]), n, t['both'].sum(), n)]
    for k, g in zip((1, 2), t['done']):
        lines.append('task %d generations (converged): ' % k + (
            'mean %.1f, median %g' % (g.mean(), np.median(g)) if len(g) else 'none'))
    lines.append('overlap: mean %.2f (all %d experiments) vs chance %.2f' % (
        t['overlap'].mean(), n, t['chance_mean']))
    lines.append('by chance: ' + p_text(t, t['overlap'].mean()))
    lines.append('settings: ' + t['settings'])
    return '\n'.join(lines)


def output_paths(out):
    stem, ext = os.path.splitext(out)
    ext = ext or '.png'   # matplotlib chooses the format by the extension
    if os.path.basename(stem) == os.path.basename(os.path.splitext(DEFAULT_OUT)[0]):
        return [stem + ext] + [os.path.join(os.path.dirname(out), name + ext)
                               for name in OTHER_FIGURES]
    return [stem + ext] + ['%s_%s%s' % (stem, name, ext) for name in OTHER_FIGURES]


def main(argv=None):
    args = parse_args(argv)

    def work():
        rows, others = select(read_rows(args.logs), args.control, args.logs, args.settings)
        t = tabulate(rows, chance_distribution(rows[0]['L'], rows[0]['M'], rows[0]['N']))
        paths = output_paths(args.out)
        for plot, path in zip((plot_generations_vs_overlap, plot_overlap_histogram,
                               plot_generations_histogram), paths):
            save(plot(t), path, close=not args.show)
        return summary(rows, others, t, log_files(args.logs)), paths
    return finish(work, args.show)


if __name__ == '__main__':
    sys.exit(main())
