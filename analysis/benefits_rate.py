"""Robustness to the learning rate (plot_benefits learning_rate): the defaults protocol at
several Adam rates (--learning_rate; none in the settings: the default 0.001), pathnet,
scratch and finetune, each task to the threshold, paired by seed.

- Cost: per rate and control, the mean generations of task 2 to the threshold and to each
  held-out level (task2_val_gen_*), and of task 1 (the rate changes task 1 too; task 1 is
  the same run under every control, so pathnet's rows give it). Censoring as
  plots.generations: a level not reached by the task's end is censored there (a diverged
  run at the cap); every mean of a level is the restricted mean mean(min(generations,
  tau)) at one horizon tau for the whole table (all rates and controls: the spread
  compares rates), the smallest generation at which one of its runs was censored.
- Decisions: per rate and level, control/pathnet (ratio of restricted means, paired
  bootstrap CI, exact sign-flip p: stats.compare), Holm over rate x level x control.
- Robustness, descriptive only (no test): a control's spread at a level is the largest of
  its means over the rates divided by the smallest; spread(control) / spread(pathnet)
  above 1: PathNet's cost varies less across rates. 95% percentile CIs from a bootstrap of
  the seeds, each resampled seed keeping its runs of every rate and control together.
"""
import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter, LogLocator
import numpy as np

from analysis import stats
from analysis.benefits_stats import mean_band, seeds_bootstrap
from analysis.plots import (FAMILY_ERROR, MARKS, PlotError, add_out, add_resamples, correct,
                            generations, read, save)
from results_log import VAL_LEVELS, parse_settings
from study import by_rate   # study.py, at the repository's root (as results_log.py)

CONTROLS = ('pathnet', 'scratch', 'finetune')
INTS = ('seed', 'task1_generations', 'task2_generations', 'task1_converged', 'task2_converged')
LEVELS = ('threshold',) + tuple('val_%.2f' % v for v in VAL_LEVELS)


def add_args(p):
    p.add_argument('log', metavar='LOG', help='the learning_rate study\'s log (or a folder)')
    add_out(p, 'results/benefits/learning_rate.png', 'the figure')
    p.add_argument('--level', default='val_0.90', choices=LEVELS[1:],
                   help='the held-out level of the figure\'s middle panel')
    add_resamples(p, '--bootstrap', 'bootstrap resamples (the CIs)')


def cap(row):
    """The run's --max_steps: where a diverged run is censored (plots.generations)."""
    value = parse_settings(row['settings']).get('max_steps', '1000')
    if not value.isdigit():
        raise PlotError('%s: --max_steps in the settings is not a number' % row['where'])
    return int(value)


def label(level):
    return level.replace('_', ' ')


def grid(rows):
    """{control: {rate: {seed: row}}} over the seeds run under every rate and control, those
    seeds, and how many runs were dropped for want of a partner."""
    others = {' '.join(sorted(f for f in r['settings'].split() if not f.startswith(
        '--learning_rate='))) for r in rows}
    if len(others) > 1:
        raise PlotError('runs of other settings than the learning rate: %s'
                        % ' | '.join(sorted(o or '(defaults)' for o in others)))
    by = by_rate(rows)
    missing = [c for c in CONTROLS if c not in by]
    if missing or set(by) - set(CONTROLS):
        raise PlotError('want the controls %s, got %s' % (', '.join(CONTROLS), ', '.join(by)))
    rates = sorted(set.union(*(set(r) for r in by.values())))
    cells = {c: {rate: {r['seed']: r for r in by[c].get(rate, [])} for rate in rates}
             for c in CONTROLS}
    seeds = sorted(set.intersection(*(set(s) for c in cells.values() for s in c.values())))
    if len(seeds) < 2:
        raise PlotError('fewer than 2 seeds run under every rate and control')
    dropped = sum(len(s) for c in cells.values() for s in c.values()) - \
        len(seeds) * len(rates) * len(CONTROLS)
    return cells, rates, seeds, dropped


def costs(cells, rates, seeds, task, controls):
    """{level: (restricted generations [controls, rates, seeds], censored [same], tau)} for
    the levels every run measured."""
    out = {}
    for level in LEVELS:
        rows = [[[cells[c][rate][s] for s in seeds] for rate in rates] for c in controls]
        if level != 'threshold' and any(r['task%d_val_accuracy' % task] == ''
                                        for a in rows for b in a for r in b):
            continue
        runs = np.array([[[generations(r, task, level, cap(r)) for r in b] for b in a]
                         for a in rows])
        g, censored = runs[..., 0].astype(float), runs[..., 1].astype(bool)
        tau = stats.horizon(g.ravel(), censored.ravel())
        out[level] = (stats.restrict(g, tau), g, censored, tau)
    return out


def spread(means):
    """max / min over the rates (the last axis)."""
    return means.max(axis=-1) / means.min(axis=-1)


def robustness(restricted, resamples, seed):
    """Each control's spread and spread(control) / spread(pathnet), with bootstrap CIs."""
    def statistic(means):   # means [B, controls, rates] -> [B, 3 spreads + 2 ratios]
        s = spread(means)
        return np.concatenate([s, s[:, 1:] / s[:, :1]], axis=1)
    point = statistic(restricted.mean(axis=-1)[None])[0]
    return point, seeds_bootstrap(restricted, statistic, resamples, seed)


def tests(task2, rates, resamples, seed):
    """{(level, rate, control): stats.compare} for scratch and finetune, Holm over all."""
    out = {}
    for level, (_, g, censored, tau) in task2.items():
        for j in range(len(rates)):
            for i, c in enumerate(CONTROLS[1:], 1):
                out[level, rates[j], c] = stats.compare(g[i, j], g[0, j], censored[i, j],
                                                        censored[0, j], tau, resamples, seed)
    return out, correct(list(out.values()))


def table(cost, rates, controls, found=None, markdown=False):
    """Mean generations per rate and control (rows) and level (columns), control/pathnet
    in brackets when `found` has the tests."""
    levels = list(cost)
    rows = [['rate', 'control'] + [label(lv) for lv in levels]]
    for j, rate in enumerate(rates):
        for i, c in enumerate(controls):
            row = ['%g' % rate if i == 0 else '', c]
            for lv in levels:
                entry = '%.1f' % cost[lv][0][i, j].mean()
                t = found and found.get((lv, rate, c))
                if t:
                    entry += ' (%.2f%s)' % (t['ratio'], '*' * t['holm'])
                row.append(entry)
            rows.append(row)
    if markdown:
        return '\n'.join(['| %s |' % ' | '.join(r) for r in rows[:1]] + [
            '|' + ' --- |' * len(rows[0])] + ['| %s |' % ' | '.join(r) for r in rows[1:]])
    return '\n'.join(''.join('%-16s' % x for x in r).rstrip() for r in rows)


def censoring(cost):
    return '; '.join('%s: %s' % (label(lv), 'no run censored' if tau is None else
                                 '%d runs censored, means restricted at tau = %d'
                                 % (censored.sum(), tau))
                     for lv, (_, _, censored, tau) in cost.items())


def spread_table(task2, resamples, seed):
    names = list(CONTROLS) + ['%s/pathnet' % c for c in CONTROLS[1:]]
    lines = ['%-10s' % 'level' + ''.join('%-22s' % n for n in names)]
    for k, (level, (restricted, *_)) in enumerate(task2.items()):
        point, (lo, hi) = robustness(restricted, resamples, seed + k)
        lines.append('%-10s' % label(level) + ''.join(
            '%-22s' % ('%.2f [%.2f, %.2f]' % x) for x in zip(point, lo, hi)))
    return lines


def plot(task1, task2, rates, level):
    panels = [('task 2 to the threshold', task2['threshold'], CONTROLS),
              ('task 2 to %s held-out accuracy' % level[4:], task2.get(level), CONTROLS),
              ('task 1 to the threshold', task1['threshold'], ('pathnet',))]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    for ax, (title, cost, controls) in zip(axes, panels):
        if cost is None:   # a log without held-out levels
            ax.text(0.5, 0.5, 'not measured by every run', ha='center', transform=ax.transAxes)
            ax.set_title(title)
            continue
        for i, c in enumerate(controls):
            marker, color = MARKS[c]
            means, halves = np.array([mean_band(cost[0][i, j]) for j in range(len(rates))]).T
            low = np.minimum(halves, 0.9 * means)   # a log axis: the bar stops above 0
            ax.errorbar(np.array(rates) * 1.05 ** (i - 1), means, yerr=[low, halves],
                        fmt=marker + '-',
                        color=color, capsize=2, ms=5, lw=1,
                        label='task 1 (every control)' if len(controls) == 1 else c)
        ax.set(xscale='log', yscale='log', xlabel='learning rate (--learning_rate)', title=title + (
            '\n(restricted at tau = %d)' % cost[3] if cost[3] is not None else ''))
        ax.set_xticks(rates)
        ax.set_xticklabels(['%g' % r for r in rates], fontsize=8)
        ax.minorticks_off()
        # labelled ticks at 1-2-5 steps: a log axis's decades alone leave most panels unlabelled
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter('%g'))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel('mean generations, 95% t CI (log scale)')
    fig.suptitle('Cost across learning rates, binary MNIST, the defaults (restore, Adam), '
                 'paired by seed')
    return fig


def work(args):
    rows = read(args.log, ints=INTS, required=('control', 'settings', 'task2_val_accuracy'))
    cells, rates, seeds, dropped = grid(rows)
    task2 = costs(cells, rates, seeds, 2, CONTROLS)
    task1 = costs(cells, rates, seeds, 1, ('pathnet',))
    found, m = tests(task2, rates, args.bootstrap, args.seed)
    lines = ['%d seeds run under all %d rates and %d controls%s' % (
        len(seeds), len(rates), len(CONTROLS), '; %d runs without all partners dropped'
        % dropped if dropped else ''),
        '', 'Task-2 generations per rate and control: mean (restricted at the level\'s tau); '
        'in brackets control/pathnet, * = significant (exact sign-flip p) after Holm over '
        '%d tests (family: rate x level x control; family-wise error %g)' % (m, FAMILY_ERROR),
        table(task2, rates, CONTROLS, found), 'censoring: ' + censoring(task2),
        '', 'Task-1 generations per rate (pathnet\'s runs; task 1 is the same under every '
        'control)', table(task1, rates, ('pathnet',)), 'censoring: ' + censoring(task1),
        '', 'Spread across the rates: largest / smallest mean task-2 generations, and '
        'control/pathnet of the spreads (above 1: PathNet varies less); 95%% CI: %d '
        'bootstrap resamples of the seeds, descriptive, no test' % args.bootstrap]
    lines += spread_table(task2, args.bootstrap, args.seed)
    lines += ['', 'Markdown, task 2:', table(task2, rates, CONTROLS, found, True),
              '', 'Markdown, task 1:', table(task1, rates, ('pathnet',), markdown=True)]
    save(plot(task1, task2, rates, args.level), args.out, rect=(0, 0, 1, 0.95))
    return '\n'.join(lines), [args.out]
