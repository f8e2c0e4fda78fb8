"""The protocol study at a glance: for every cell (one results log each, all
three controls paired by seed), PathNet's speed-up on task 2 over learning
from scratch and over fine-tuning, with paired bootstrap 95% CIs, at the
run's threshold and at the fitness levels 0.95 and 0.98; and the overlap of
the two tasks' paths against chance.

    python plot_study.py results/study/restore_adam.csv ... [-o OUT.png]

A cell is named after its log file. A ratio above 1 means PathNet needed
fewer task-2 generations than the control.
"""
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from plot_common import ERRORS, PlotError, add_out, parser, read, save
from plot_overlap import chance_distribution, chance_p_value
from plot_transfer import bootstrap_ratio

LEVELS = ('', '0.95', '0.98')    # '': the run's own threshold (task2_generations)
CONTROLS = ('scratch', 'finetune')


def parse_args(argv=None):
    p = parser(__doc__)
    p.add_argument('logs', nargs='+', metavar='LOG', help='one results log per cell')
    add_out(p, 'results/study/study.png', 'the figure')
    p.add_argument('--bootstrap', type=int, default=10000, metavar='N',
                   help='paired bootstrap resamples')
    args = p.parse_args(argv)
    if args.bootstrap < 1:
        p.error('--bootstrap must be at least 1')
    return args


def generations(row, level, cap):
    """Task-2 generations to reach `level`, and whether it never did (then the
    cap counts: a lower bound)."""
    if not level:
        return row['task2_generations'], row['task2_converged'] != 1
    value = row['task2_gen_' + level]
    return (int(value), False) if value else (cap, True)


def cell(path, resamples):
    rows = read(path, ints=('seed', 'task2_generations', 'task2_converged', 'overlap',
                            'L', 'M', 'N'), required=('control', 'task2_gen_0.95'))
    settings = {r['settings'] for r in rows if r['control'] == 'pathnet'}
    by = {c: {r['seed']: r for r in rows if r['control'] == c}
          for c in ('pathnet',) + CONTROLS}
    seeds = sorted(set(by['pathnet']).intersection(*(by[c] for c in CONTROLS)))
    if len(seeds) < 2:
        raise PlotError('%s: fewer than 2 seeds run under all three controls' % path)
    cap = max(int(r['settings'].split('--max_steps=')[1].split()[0])
              if '--max_steps=' in r['settings'] else 1000 for r in rows)
    out = {'name': os.path.splitext(os.path.basename(path))[0], 'n': len(seeds),
           'settings': ' '.join(sorted(settings)) or '(defaults)', 'ratios': {}}
    for level in LEVELS:
        g = {c: [generations(by[c][s], level, cap) for s in seeds]
             for c in ('pathnet',) + CONTROLS}
        means = {c: np.mean([x for x, _ in g[c]]) for c in g}
        for c in CONTROLS:
            ratio, ci, _, _ = bootstrap_ratio(np.array([x for x, _ in g[c]], float),
                                              np.array([x for x, _ in g['pathnet']], float),
                                              resamples, 0)
            censored = sum(cens for x in (g[c], g['pathnet']) for _, cens in x)
            out['ratios'][level, c] = (ratio, ci, censored)
        out['means', level] = means
    p = [by['pathnet'][s] for s in seeds]
    dist = chance_distribution(p[0]['L'], p[0]['M'], p[0]['N'])
    overlaps = np.array([r['overlap'] for r in p])
    out['overlap'] = (overlaps.mean(), float(np.dot(np.arange(len(dist)), dist)),
                      chance_p_value(overlaps, dist))
    return out


def table(cells):
    lines = ['PathNet speed-up on task 2 = mean(control) / mean(pathnet) generations, paired '
             'by seed; [95% paired bootstrap CI]; * = the CI excludes 1',
             '%-18s %3s  %-22s %-22s %-22s %-22s %s' % (
                 'cell', 'n', 'scratch/pathnet', 'finetune/pathnet', 'scratch/pn @0.95',
                 'scratch/pn @0.98', 'overlap vs chance (P lower, upper)')]
    for c in cells:
        def fmt(level, control):
            ratio, (lo, hi), censored = c['ratios'][level, control]
            return '%.2f [%.2f, %.2f]%s%s' % (ratio, lo, hi, '*' if lo > 1 or hi < 1 else '',
                                              ' c%d' % censored if censored else '')
        m, chance, (plo, phi) = c['overlap']
        lines.append('%-18s %3d  %-22s %-22s %-22s %-22s %.2f vs %.2f (%.2g, %.2g)' % (
            c['name'], c['n'], fmt('', 'scratch'), fmt('', 'finetune'),
            fmt('0.95', 'scratch'), fmt('0.98', 'scratch'), m, chance, plo, phi))
        lines.append('%-18s      task-2 means: %s' % ('', '; '.join(
            '%s %s' % (level or 'threshold', ' '.join('%s %.1f' % kv for kv in
                                                   c['means', level].items()))
            for level in LEVELS)))
    lines.append('cN: N runs of that pair never reached the level and count at the cap '
                 '(the ratio is then a bound, not an estimate)')
    return '\n'.join(lines)


def plot(cells):
    fig, axes = plt.subplots(1, 2, figsize=(14, 2.6 + 0.8 * len(cells)), sharey=True)
    y = np.arange(len(cells))[::-1]
    marks = {'scratch': ('o', 'tab:blue'), 'finetune': ('s', 'tab:orange')}
    for ax, levels in zip(axes, (('',), ('0.95', '0.98'))):
        for k, level in enumerate(levels):
            for j, control in enumerate(CONTROLS):
                shift = 0.18 * (j - 0.5) + (0.09 * (k - 0.5) if len(levels) > 1 else 0)
                r = np.array([c['ratios'][level, control][0] for c in cells])
                ci = np.array([c['ratios'][level, control][1] for c in cells])
                marker, color = marks[control]
                ax.errorbar(r, y + shift, xerr=[r - ci[:, 0], ci[:, 1] - r], fmt=marker,
                            color=color, alpha=1 if k == 0 else 0.5, capsize=3,
                            label='%s/pathnet%s' % (control, ' @%s' % level if level else ''))
        lo, hi = ax.get_xlim()
        ax.set_xlim(min(lo, 0.95), max(hi, 1.05))     # 1 (no speed-up) always in view
        ax.axvline(1, color='k', lw=0.8)
        ax.set_xlabel('speed-up of PathNet on task 2 (>1: PathNet needs fewer generations)')
        ax.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.32), ncol=2)
    axes[0].set_title('at the run\'s threshold (0.998)')
    axes[1].set_title('at fitness 0.95 (solid) and 0.98 (faded)')
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(['%s (n=%d)\noverlap %.2f vs %.2f by chance, P(<=)=%.2g' % (
        c['name'], c['n'], c['overlap'][0], c['overlap'][1], c['overlap'][2][0])
        for c in cells], fontsize=8)
    fig.suptitle('When does PathNet transfer? Binary MNIST 5v6 \u2192 6v7, paired by seed; '
                 'bars: 95% paired bootstrap CIs')
    return fig


def main(argv=None):
    args = parse_args(argv)
    plt.switch_backend('Agg')
    try:
        cells = [cell(path, args.bootstrap) for path in args.logs]
        text = table(cells)
        save(plot(cells), args.out, rect=(0, 0, 1, 0.95))
    except ERRORS as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    print(text)
    print('wrote ' + args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
