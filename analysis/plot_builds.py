"""The same seeds on two builds (TensorFlow and NumPy versions): their rows differ
(float rounding), do their statistics? For each control and task, the mean
generations with 95% t-intervals on each build, the difference of the means with
the exact two-sided p of the two-sample permutation test (stats.two_sample_p: every
split of the pooled runs counted, no resampling), and the largest gap between the
two distributions (Kolmogorov-Smirnov distance) with SciPy's exact p; how many seeds
gave the same row. * marks the tests Holm rejects over the table's family (every
control x task x both tests, family-wise error 0.05).

    python -m analysis.plot_builds BUILD_A.csv BUILD_B.csv [-o OUT.png]

Each log holds the rows of one build (its tensorflow and numpy columns).
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from analysis import stats
from analysis.plots import PlotError, add_out, correct, finish, parser, read, save

TASKS = ('task1_generations', 'task2_generations')
SAME = TASKS + ('task1_path', 'task2_path', 'overlap', 'task1_test_accuracy',
                'task2_test_accuracy')


def parse_args(argv=None):
    p = parser(__doc__)
    p.add_argument('logs', nargs=2, metavar='LOG', help='the rows of one build each')
    add_out(p, 'results/cross-build/builds.png', 'the figure')
    return p.parse_args(argv)


def load(path):
    """(build name, {control: {seed: row}}) of a log of one build."""
    rows = read(path, ints=('seed',) + TASKS, required=('tensorflow', 'numpy', 'control'))
    builds = {(r['tensorflow'], r['numpy']) for r in rows}
    if len(builds) != 1 or '' in next(iter(builds)):
        raise PlotError('%s: want the rows of one build, found %s' % (
            path, ', '.join('TF %s / NumPy %s' % b for b in sorted(builds)) or 'none'))
    by = {}
    for r in rows:
        by.setdefault(r['control'], {})[r['seed']] = r
    return 'TF %s, NumPy %s' % builds.pop(), by


def compare(a, b):
    """One line of the table per (control, task): both builds' statistics."""
    lines = []
    for control in sorted(set(a) & set(b)):
        seeds = sorted(set(a[control]) & set(b[control]))
        if len(seeds) < 2:
            raise PlotError('fewer than 2 seeds of %s on both builds' % control)
        same = sum(all(a[control][s][c] == b[control][s][c] for c in SAME) for s in seeds)
        for task in TASKS:
            x = np.array([a[control][s][task] for s in seeds], float)
            y = np.array([b[control][s][task] for s in seeds], float)
            ks, p_ks = stats.ks_2samp(x, y)
            lines.append({'control': control, 'task': task[:5], 'n': len(seeds), 'same': same,
                          'x': x, 'y': y, 'ci': (stats.mean_ci(x), stats.mean_ci(y)),
                          'mean': {'p': stats.two_sample_p(x, y)}, 'ks': ks,
                          'ks_test': {'p': p_ks}})
    if not lines:
        raise PlotError('no control was run on both builds')
    correct([line[k] for line in lines for k in ('mean', 'ks_test')])
    return lines


def table(names, lines):
    out = ['generations on two builds, same seeds; p: exact two-sided p-values (diff: '
           'two-sample permutation test, KS: SciPy\'s exact KS test); * = significant after '
           'Holm over all %d tests of this table (family: control x task x both tests)'
           % (2 * len(lines)),
           '%-9s %-5s %3s %5s  %-22s %-22s %6s %8s %5s %8s'
           % ('control', 'task', 'n', 'same', names[0], names[1], 'diff', 'p', 'KS', 'p')]
    for line in lines:
        (ma, ha), (mb, hb) = line['ci']
        out.append('%-9s %-5s %3d %5d  %-22s %-22s %6.1f %7.3g%s %5.2f %7.3g%s' % (
            line['control'], line['task'], line['n'], line['same'],
            '%.1f [%.1f, %.1f]' % (ma, ma - ha, ma + ha), '%.1f [%.1f, %.1f]' % (mb, mb - hb, mb + hb),
            ma - mb, line['mean']['p'], ' *'[line['mean']['holm']], line['ks'],
            line['ks_test']['p'], ' *'[line['ks_test']['holm']]))
    out.append('same: seeds whose rows agree in generations, paths, overlap and test accuracies')
    return '\n'.join(out)


def plot(names, lines):
    fig, axes = plt.subplots(1, len(lines), figsize=(3.2 * len(lines), 3.2), squeeze=False)
    for ax, line in zip(axes[0], lines):
        for values, name, style in ((line['x'], names[0], '-'), (line['y'], names[1], '--')):
            v = np.sort(values)
            ax.step(v, np.arange(1, len(v) + 1) / len(v), style, where='post', label=name)
        ax.set_title('%s, %s\nKS %.2f (p %.2g)' % (line['control'], line['task'], line['ks'],
                                                   line['ks_test']['p']), fontsize=9)
        ax.set_xlabel('generations')
    axes[0][0].set_ylabel('fraction of runs')
    axes[0][0].legend(fontsize=7, loc='lower right')
    return fig


def main(argv=None):
    args = parse_args(argv)

    def work():
        (na, a), (nb, b) = load(args.logs[0]), load(args.logs[1])
        lines = compare(a, b)
        text = table((na, nb), lines)
        save(plot((na, nb), lines), args.out)
        return text, [args.out]
    return finish(work)


if __name__ == '__main__':
    sys.exit(main())
