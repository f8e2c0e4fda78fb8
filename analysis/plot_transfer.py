"""Plot PathNet's transfer result (Fernando et al. 2017, binary MNIST): generations to
learn task 2 under pathnet (task 1's path frozen), scratch (a fresh network) and finetune
(task 1's weights, nothing frozen); PathNet's speed-up over each, paired by seed; and
task 1's test accuracy after task 2 (forgetting). From binary_mnist_pathnet.py's logs.

    python -m analysis.plot_transfer [LOG ...] [-o OUT.png] [--settings S] [--bootstrap 10000]
                            [--seed 0] [--show]
"""
import sys
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from analysis import stats
from analysis.plots import (PlotError, add_logs, add_out, correct as holm, finish,
                            generations, parser, read, save)
from analysis.stats import censored_count, mean_ci, paired, ratio_bound
from results_log import log_files, parse_settings

DEFAULT_OUT = 'results/transfer.png'
CONTROLS = ('pathnet', 'scratch', 'finetune')
INTS = ('seed', 'task1_generations', 'task2_generations', 'task1_converged', 'task2_converged')
GENERATIONS = 'task-2 generations (tournaments)'


def parse_args(argv=None):
    p = parser(__doc__)
    add_logs(p)
    add_out(p, DEFAULT_OUT, 'the figure')
    p.add_argument('--settings', default='', metavar='S',
                   help="plot the rows whose settings column is S ('': the default settings); "
                        "a value starting with -- needs '=': --settings=--learning_rate=0.0001")
    p.add_argument('--bootstrap', type=int, default=10000, metavar='N',
                   help='paired bootstrap resamples (the CIs)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the bootstrap (the CIs; the decisions are exact tests)')
    p.add_argument('--show', action='store_true', help='also open the figure in a window')
    args = p.parse_args(argv)
    if args.bootstrap < 1 or args.seed < 0:
        p.error('--bootstrap must be at least 1 and --seed at least 0')
    return args


def read_rows(paths):
    """All rows of all logs; one no run can write is an error, not a point on a figure."""
    rows = read(paths, ints=INTS, floats=('task1_test_accuracy',),
              required=('control', 'task1', 'task2', 'task1_path', 'settings'))
    for r in rows:
        if r['control'] not in CONTROLS:
            raise PlotError('%s: unknown control %r' % (r['where'], r['control']))
        if not ({r['task1_converged'], r['task2_converged']} <= {0, 1}
                and min(r['task1_generations'], r['task2_generations']) >= 1
                and 0 <= r['task1_test_accuracy'] <= 1):
            raise PlotError('%s: impossible generations, converged or accuracy' % r['where'])
    return rows


def cap(row):
    """The run's --max_steps (where a diverged run, which never converges, is censored)."""
    try:
        return int(parse_settings(row['settings']).get('max_steps', 1000))
    except ValueError:
        raise PlotError('%s: --max_steps in the settings is not an integer' % row['where']) \
            from None


def select(rows, settings):
    """One settings' runs as {control: arrays in seed order}; duplicate, other-settings rows."""
    chosen = [r for r in rows if r['settings'] == settings.strip()]
    if not chosen:
        have = Counter(r['settings'] for r in rows)
        raise PlotError('no rows with settings %r; the logs have %s (choose with --settings=S)' % (
            settings, ', '.join('%r: %d rows' % kv for kv in sorted(have.items()))))
    table = {}
    for c in CONTROLS:
        # A seed logged twice (e.g. a log given twice) must not count double: the last wins.
        by_seed = {r['seed']: r for r in chosen if r['control'] == c}
        runs = [by_seed[s] for s in sorted(by_seed)]
        if runs:
            table[c] = {'seed': np.array([r['seed'] for r in runs]),
                        'g2': np.array([generations(r, 2, 'threshold', cap(r))[0]
                                        for r in runs], float),
                        'censored': np.array([r['task2_converged'] == 0 for r in runs]),
                        'acc1': np.array([r['task1_test_accuracy'] for r in runs]),
                        'task1': [(r['task1_generations'], r['task1_path']) for r in runs],
                        'tasks': '%s \u2192 %s' % (runs[0]['task1'], runs[0]['task2'])}
    kept = sum(len(t['seed']) for t in table.values())
    return table, len(chosen) - kept, len(rows) - len(chosen)


def test(table, c, resamples, seed):
    """stats.compare of control c with pathnet on their paired seeds, restricted at the
    horizon tau of the whole table (None when no run is censored), or why it cannot be."""
    if 'pathnet' not in table or c not in table:
        return 'no %s runs' % ' or '.join(k for k in ('pathnet', c) if k not in table)
    a, p = table[c], table['pathnet']
    ia, ip = paired(a, p)
    if len(ia) == 0:
        return 'no seed was run under both'
    tau = stats.horizon(np.concatenate([t['g2'] for t in table.values()]),
                        np.concatenate([t['censored'] for t in table.values()]))
    t = stats.compare(a['g2'][ia], p['g2'][ip], a['censored'][ia], p['censored'][ip], tau,
                      resamples, seed)
    t['index'] = ia, ip
    return t


def compare(table, c, t):
    """PathNet's speed-up over control c from its test t (Holm-corrected), or why it cannot
    be given."""
    if isinstance(t, str):
        return ['%s/pathnet: could not be made: %s' % (c, t)]
    a, p = table[c], table['pathnet']
    ia, ip = t['index']
    ratio, (lo, hi), diff, (dlo, dhi) = t['ratio'], t['ci'], t['diff'], t['diff_ci']
    out = ['%s/pathnet: %.2f over %d paired seeds' % (c, ratio, len(ia))]
    if len(ia) == 1:
        out[0] += '; no CI from a single seed'
    else:
        out[0] += ', 95%% CI [%.2f, %.2f], exact p=%.2g (Holm-adjusted %.2g): %s' % (
            lo, hi, t['p'], t['p_holm'], (
                'PathNet is FASTER' if t['holm'] and ratio > 1 else 'PathNet is SLOWER'
                if t['holm'] and ratio < 1 else 'not distinguishable'))
        out.append('  mean paired difference (%s - pathnet): %.1f generations, 95%% CI '
                   '[%.1f, %.1f]' % (c, diff, dlo, dhi))
        if len(ia) < 10:
            out.append('  only %d seeds: a percentile bootstrap CI is too narrow' % len(ia))
    nc, np_ = t['censored']
    if nc or np_:   # the means are restricted at tau
        out.append('  censored among these: %s %d, pathnet %d; means restricted at tau = %d: '
                   'the ratio is %s' % (c, nc, np_, t['tau'], {
                       'lower': 'a lower bound', 'upper': 'an upper bound'}.get(
                       ratio_bound(*t['truncated']), 'not a bound on the unrestricted ratio '
                       '(tau cuts short both sides)')))
    differ = sum(a['task1'][i] != p['task1'][j] for i, j in zip(ia, ip))
    if differ:
        out.append("  warning: task 1 (generations, path) differs from pathnet's for %d of "
                   'these seeds: not the same task-1 run, so not truly paired' % differ)
    return out


def summary(table, settings, n_logs, duplicates, skipped, resamples, seed):
    lines = ['settings: %s; %d log(s); %d rows of other settings skipped%s' % (
        settings or '(defaults)', n_logs, skipped, '; %d duplicate (control, seed) rows: the '
        'last one read is used' % duplicates if duplicates else '')]
    lines += ['%s per condition; last column: task-1 test accuracy after task 2' % GENERATIONS,
              '%-9s %4s %10s  %-24s %7s  %s' % ('condition', 'n', 'converged',
                                                'mean [95% CI (t)]', 'median', 'task-1 acc')]
    for c, t in table.items():
        mean, half = mean_ci(t['g2'])
        ci = '[%.1f, %.1f]' % (mean - half, mean + half) if half is not None else '(no CI)'
        lines.append('%-9s %4d %10s  %-24s %7g  %.4f' % (
            c, len(t['g2']), '%d/%d' % ((~t['censored']).sum(), len(t['g2'])),
            '%.1f %s' % (mean, ci), np.median(t['g2']), t['acc1'].mean()))
    n, cap = censored_count(table)
    if n:
        # Unconverged runs stop at the cap (a diverged one counts there: it never would).
        lines.append('not converged (censored): %s; counted at the cap of %d generations, so '
                     'the means are lower bounds' % (', '.join('%s %d' % (c, t['censored'].sum())
                                                     for c, t in table.items()), cap))
    tests = {c: test(table, c, resamples, seed) for c in CONTROLS[1:]}
    holm([t for t in tests.values() if not isinstance(t, str)])
    lines.append('speed-up of PathNet = mean(control) / mean(pathnet) task-2 generations on the '
                 'seeds run under both; CI: paired bootstrap, %d resamples, seed %d; p: exact '
                 'sign-flip permutation test, Holm over these %d controls'
                 % (resamples, seed, len(tests)))
    for c, t in tests.items():
        lines += ['  ' + line for line in compare(table, c, t)]
    return '\n'.join(lines)


def plot(table, settings):
    """Left: task-2 generations per condition; right: task 1's test accuracy after task 2."""
    seeds = set.intersection(*(set(t['seed'].tolist()) for t in table.values()))
    missing = [c for c in CONTROLS if c not in table]
    names, (n_censored, cap) = list(table), censored_count(table)
    rng = np.random.default_rng(0)   # the same log always gives the same picture
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={'width_ratios': [3, 2]})
    for ax, key in zip(axes, ('g2', 'acc1')):
        ax.boxplot([table[c][key] for c in names], positions=range(len(names)), widths=0.45,
                   showfliers=False, manage_ticks=False, medianprops={'color': 'tab:orange'})
        for i, t in enumerate(table.values()):
            x, done = i + rng.uniform(-0.15, 0.15, len(t[key])), ~t['censored']
            ax.scatter(x[done], t[key][done], s=18, alpha=0.6, color='tab:blue',
                       label='one seed (jittered)')
            if not done.all():   # an empty scatter would still get a legend entry
                ax.scatter(x[~done], t[key][~done], s=36, marker='x', color='tab:red',
                           label='task 2 not converged (censored at its last generation)')
            mean, half = mean_ci(t[key])
            ax.errorbar(i + 0.33, mean, yerr=half or 0, fmt='D', color='k', capsize=5,
                        label='mean \u00b1 95% CI (t)')
        ax.set_xticks(range(len(names)))
        ax.set_xlim(-0.6, len(names) - 0.4)
    axes[0].set_xticklabels(['%s\nn=%d\n%d not converged' % (c, len(t['g2']),
                                                            t['censored'].sum())
                             for c, t in table.items()])
    axes[1].set_xticklabels(['%s\nn=%d%s' % (c, len(t['g2']), '\n(task 1 frozen)' * (
        c == 'pathnet')) for c, t in table.items()])
    axes[0].set(ylabel=GENERATIONS, title='Generations to learn task 2 (fewer is better)' + (
        '\n%d run(s) not converged, censored at their last generation (smallest %d): means '
        'are lower bounds' % (n_censored, cap) if n_censored else ''))
    if n_censored:
        axes[0].axhline(cap, ls=':', color='tab:red', label='tau: the earliest censoring')
    axes[1].set(ylabel='task-1 test accuracy after task 2 (fraction correct)',
                title='Task 1 after learning task 2 (forgetting)')
    labelled = {}   # one legend entry per kind of mark, for both panels
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        labelled.update(zip(labels, handles))
    fig.legend(labelled.values(), labelled.keys(), loc='lower center', ncol=4, fontsize=9)
    fig.suptitle('PathNet transfer, binary MNIST %s; settings: %s\n%d seed(s) %s%s' % (
        next(iter(table.values()))['tasks'], settings or '(defaults)', len(seeds),
        'paired across ' + ', '.join(names) if len(names) > 1 else 'of ' + names[0],
        ' (no %s runs)' % ', '.join(missing) if missing else ''))
    return fig


def main(argv=None):
    args = parse_args(argv)

    def work():
        table, duplicates, skipped = select(read_rows(args.logs), args.settings)
        text = summary(table, args.settings, len(log_files(args.logs)), duplicates, skipped,
                       args.bootstrap, args.seed)
        # The legend sits in the bottom 5%, below the panels.
        save(plot(table, args.settings), args.out, rect=(0, 0.05, 1, 1), close=not args.show)
        return text, [args.out]
    return finish(work, args.show)


if __name__ == '__main__':
    sys.exit(main())
