"""The transfer matrix at a glance (issue 18, part 6): for every ordered class pair
(task 1 -> task 2) and protocol, PathNet's speed-up on task 2 over scratch and over
finetune, beside the later 2017 script's own measure; pairs are positive controls (task 2
has task 1's two classes, in either order), shared (one class in common) or disjoint.

    python -m analysis.plot_matrix results/transfer/restore_adam/ results/transfer/shared_sgd/
        [-o results/transfer/matrix.png] [--level auto|threshold|val_0.90] [--bootstrap N]

Each argument is a folder of per-pair logs, or a log file; a protocol is named after its
folder. Pairs come from the rows' task1/task2 columns; runs are paired by seed over the
seeds run under pathnet, scratch and finetune. Statistics from stats.py:
- control/pathnet: mean(control) / mean(pathnet) task-2 generations (above 1: PathNet
  needs fewer), with a 95% CI from a paired bootstrap and an exact two-sided p from the
  paired sign-flip permutation test (no decision depends on the bootstrap's --seed).
- task1/task2, the later script's measure: mean task-1 over mean task-2 generations of the
  same pathnet runs, runs resampled whole, tested the same way. A fresh network (task 1)
  against a trained one (task 2) on another task: above 1 while scratch/pathnet is at 1
  is an easier task 2, not transfer. Not in the Holm family: task1/task2>1 in the summary
  is its own exact p < 0.05 with the ratio above 1, uncorrected.
- Levels: the threshold and, where every run of the pair measured validation, a held-out
  level: by default the highest of VAL_LEVELS that at least 90% of the pair's pathnet
  runs reached; --level val_0.90 takes that one, --level threshold none.
- Censoring: a level not reached by the end of its task (the threshold, or the cap) is
  censored at the task's last generation. The control/pathnet tests of a row (pair x
  level) are made at the horizon tau, the smallest generation at which one of the row's
  runs was censored, on restricted means mean(min(generations, tau)); task1/task2 at its
  own tau (task 1 ends at its threshold, usually before its held-out levels): cN@tau in
  the table, hollow markers.
- Holm at family-wise error 0.05 over every control/pathnet test printed (family: protocol
  x pair x level x control); * marks survivors. PathNet beat a control where Holm rejects
  and the ratio is above 1, lost to it where it is below 1.
"""
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from analysis import stats
from analysis.plots import (FAMILY_ERROR, MARKS, RATIO_TICKS, PlotError, add_out,
                            add_resamples, censoring, check_resamples, correct as holm,
                            finish, generations, horizon, log_axis, parser, save_between)
from results_log import VAL_LEVELS, parse_settings, read_log

CONTROLS = ('scratch', 'finetune')       # compared with pathnet, in the Holm family
LATER = 'task1/task2'                    # the later script's measure, under pathnet
MEASURES = CONTROLS + (LATER,)
STYLE = {'scratch': MARKS['scratch'], 'finetune': MARKS['finetune'], LATER: ('^', 'tab:green')}
NAMES = dict({k: k + '/pathnet' for k in CONTROLS}, **{LATER: LATER + ' under pathnet (the '
                                                               'later script)'})
VERDICTS = ('won', 'lost', 'neither')
KINDS = ('positive control', 'shared', 'disjoint')   # by the number of classes in common
CAP = 1000
INTS = ('seed', 'task1_generations', 'task2_generations', 'task1_converged', 'task2_converged')
LEVEL_CHOICES = ('auto', 'threshold') + tuple('val_%.2f' % v for v in VAL_LEVELS)


def parse_args(argv=None):
    p = parser(__doc__)
    p.add_argument('logs', nargs='*', metavar='FOLDER',
                   help="one protocol's per-pair logs: a folder, or log files in it")
    add_out(p, 'results/transfer/matrix.png', 'the figure')
    p.add_argument('--level', default='auto', metavar='LEVEL',
                   help='the validation level beside the threshold: %s' % '|'.join(LEVEL_CHOICES))
    add_resamples(p, '--bootstrap', 'paired bootstrap resamples (the CIs)')
    return check_resamples(p, p.parse_args(argv), '--bootstrap')


def protocols(paths):
    """{protocol: its paths}: a folder is named after itself, a file after its folder."""
    out = {}
    for path in paths:
        folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or '.')
        out.setdefault(os.path.basename(folder), []).append(path)
    return out


def classes(text, where):
    a, v, b = text.partition('v')
    if not (v and len(a) == len(b) == 1 and a.isdigit() and b.isdigit() and a != b):
        raise PlotError('%s: a task should be two digits like 5v6, got %r' % (where, text))
    return int(a), int(b)


def kind(task1, task2):
    return KINDS[2 - len(set(task1) & set(task2))]


def pair_name(pair):
    return '%dv%d -> %dv%d' % (pair[0] + pair[1])


def validation(rows, pathnet, level):
    """The held-out validation level to report beside the threshold (or None), and why."""
    if level == 'threshold':
        return None, 'threshold only (--level threshold)'
    if any(r['task2_val_accuracy'] == '' for r in rows):
        return None, 'no validation level: not every run measured validation'
    if level != 'auto':
        return level, '%s, as --level asks' % level.replace('_', ' ')
    # The highest level (nearly) every run reached: a low one is reached at the first
    # evaluation by every control, and the ratio is then 1 whatever transfers.
    for v in reversed(VAL_LEVELS):
        k = sum(r['task2_val_gen_%.2f' % v] != '' for r in pathnet)
        if k >= 0.9 * len(pathnet):
            return 'val_%.2f' % v, ('val %.2f: the highest validation level that at least 90%% '
                                    'of the pathnet runs reached (%d of %d)'
                                    % (v, k, len(pathnet)))
    return None, 'no validation level: none was reached by 90% of the pathnet runs'


def pair_cell(protocol, pair, rows, level, resamples, seed=0):
    """One pair under one protocol, from its rows."""
    by = {}   # {control: {seed: row}}; a seed logged twice: the last row (read_log warns)
    for r in rows:
        by.setdefault(r['control'], {})[r['seed']] = r
    where = '%s: %s' % (', '.join(sorted({r['where'].rsplit(' line ', 1)[0] for r in rows})),
                        pair_name(pair))
    missing = [c for c in ('pathnet',) + CONTROLS if c not in by]
    if missing:
        raise PlotError('%s has no %s runs' % (where, ' or '.join(missing)))
    seeds = sorted(set(by['pathnet']).intersection(*(by[c] for c in CONTROLS)))
    if len(seeds) < 2:
        raise PlotError('%s: fewer than 2 seeds run under pathnet, scratch and finetune' % where)
    if len({r['settings'] for r in rows}) > 1:
        raise PlotError('%s: runs of different settings (%s): one protocol per folder' % (
            where, ' | '.join(sorted({r['settings'] or '(defaults)' for r in rows}))))
    settings = parse_settings(rows[0]['settings'])
    try:
        cap = int(settings.get('max_steps', CAP))
    except ValueError:
        raise PlotError('%s: --max_steps in the settings is not an integer' % where) from None
    val, why = validation(rows, list(by['pathnet'].values()), level)
    out = {'protocol': protocol, 'pair': pair, 'kind': kind(*pair), 'n': len(seeds),
           'cap': cap, 'levels': ['threshold'] + [val] * bool(val), 'why': why, 'tests': {}}
    fixed = 'task1_generations' in settings   # task 1 run for a fixed length, not to a level
    for lv in out['levels']:   # each measure's numerator over pathnet's task 2, paired
        runs = {k: [generations(by[c][s], task, lv, cap) for s in seeds]
                for k, c, task in [(c, c, 2) for c in ('pathnet',) + CONTROLS] +
                [(LATER, 'pathnet', 1)]}
        g = {k: [np.array(x) for x in zip(*r)] for k, r in runs.items()}
        tau = horizon(*(runs[k] for k in ('pathnet',) + CONTROLS))
        for k in MEASURES:
            if k == LATER:
                tau = None if fixed else horizon(runs[LATER], runs['pathnet'])
            out['tests'][lv, k] = None if k == LATER and fixed else stats.compare(
                g[k][0], g['pathnet'][0], g[k][1], g['pathnet'][1], tau, resamples, seed)
    return out


def read_protocol(protocol, paths, level, resamples, seed=0):
    rows = read_log(paths, ints=INTS, required=('control', 'task1', 'task2', 'settings'))
    pairs = {}
    for r in rows:
        pairs.setdefault((classes(r['task1'], r['where']), classes(r['task2'], r['where'])),
                         []).append(r)
    return [pair_cell(protocol, p, pairs[p], level, resamples, seed)
            for p in sorted(pairs, key=lambda p: (KINDS.index(kind(*p)), p))]


def correct(cells):
    """Holm over every control/pathnet test: each gets 'holm' (rejected); the family size."""
    return holm([c['tests'][lv, k] for c in cells for lv in c['levels'] for k in CONTROLS])


def verdict(t):
    """'won', 'lost' or 'neither' for PathNet against the control of test t: Holm rejects
    (exact p), and the ratio says which way."""
    return ('won' if t['ratio'] > 1 else 'lost' if t['ratio'] < 1 else 'neither') \
        if t.get('holm') else 'neither'


def later_above(t):
    """The later script's measure above 1: its own exact p < 0.05 (uncorrected)."""
    return bool(t) and t['ratio'] > 1 and t['p'] < FAMILY_ERROR


def entry(t):
    if t is None:
        return '(task 1 ran a fixed length)'
    return '%.2f [%.2f, %.2f]%s p=%.2g%s' % (
        t['ratio'], t['ci'][0], t['ci'][1], '*' if t.get('holm') else '', t['p'],
        censoring(t) + {'lower': '>', 'upper': '<'}.get(stats.ratio_bound(*t['truncated']), '')
        if sum(t['censored']) else '')


def summary(cells, w):
    """One line per protocol and kind: at each level, the pairs where PathNet beat each
    control, lost to it, or neither; where the later script's measure was above 1."""
    lines = ['summary: pairs where PathNet beat the control (Holm, ratio above 1)/lost to it '
             '(Holm, below 1)/neither; %s>1: pairs whose %s is above 1 with its exact p < 0.05, '
             'uncorrected (in brackets: of them, those where PathNet beat scratch)'
             % (LATER, LATER)]
    groups = {}   # cells come by protocol, then kind; levels threshold first
    for c in cells:
        for lv in c['levels']:
            groups.setdefault((c['protocol'], c['kind']), {}).setdefault(
                'threshold' if lv == 'threshold' else 'validation', []).append(
                    {m: c['tests'][lv, m] for m in MEASURES})
    for (protocol, k), levels in groups.items():
        parts = []
        for name, tests in levels.items():
            counts = ['%s %s' % (control, '/'.join(str(sum(verdict(t[control]) == v
                                                           for t in tests)) for v in VERDICTS))
                      for control in CONTROLS]
            above = [t for t in tests if later_above(t[LATER])]
            parts.append('%s (%d pair%s): %s, %s>1 %d (%d)' % (
                name, len(tests), 's' * (len(tests) > 1), ', '.join(counts), LATER, len(above),
                sum(verdict(t['scratch']) == 'won' for t in above)))
        lines.append('%-*s  %-16s %s' % (w, protocol, k, ' | '.join(parts)))
    return lines


def table(cells, resamples):
    m = correct(cells)
    w = max(len(c['protocol']) for c in cells + [{'protocol': 'protocol'}])
    lines = ['level of %-*s %-12s %s' % (w, c['protocol'], pair_name(c['pair']), c['why'])
             for c in cells]
    lines += ['ratio [95%% paired bootstrap CI, %d resamples] p=exact two-sided sign-flip '
              "permutation p; * = significant after Holm's correction over all %d "
              'scratch/pathnet and finetune/pathnet tests (family: protocol x pair x level x '
              'control; family-wise error %g); means: task-2 generations per control, task 1: '
              "pathnet runs' task-1 generations (restricted at tau when censored)"
              % (resamples, m, FAMILY_ERROR),
             '%-*s  %-16s %-12s %3s  %-9s %7s %7s %8s %7s  %-34s %-34s %s' % (
                 w, 'protocol', 'kind', 'pair', 'n', 'level', 'pathnet', 'scratch', 'finetune',
                 'task 1', 'scratch/pathnet', 'finetune/pathnet', NAMES[LATER])]
    for c in cells:
        for j, lv in enumerate(c['levels']):
            t = c['tests']
            means = [t[lv, 'scratch']['means'][1]] + [t[lv, k]['means'][0] for k in CONTROLS]
            task1 = '%7.1f' % t[lv, LATER]['means'][0] if t[lv, LATER] else '%7s' % '-'
            lines.append(('%-*s  %-16s %-12s %3s  %-9s %7.1f %7.1f %8.1f %s  %-34s %-34s %s' % (
                w, c['protocol'] if j == 0 else '', c['kind'] if j == 0 else '',
                pair_name(c['pair']) if j == 0 else '', c['n'] if j == 0 else '',
                lv.replace('_', ' '), *means, task1, *[entry(t[lv, k]) for k in MEASURES]))
                         .rstrip())
    lines.append('cN@T: N runs of the comparison had not reached the level when their task '
                 'ended (censored there); the means are restricted at T, the smallest '
                 'generation at which a run of the row (task1/task2: of the comparison) was '
                 'censored; cN@T>: the unrestricted ratio is at least this (T cuts short only '
                 'the numerator), cN@T<: at most (only the denominator)')
    lines += summary(cells, w)
    return '\n'.join(lines)


def plot(cells):
    m = correct(cells)
    names = list(dict.fromkeys(c['protocol'] for c in cells))
    rows, headers, end = {}, [], 0    # top (y = 0) down: per kind a header, then its pairs
    for k in KINDS:
        pairs = sorted({c['pair'] for c in cells if c['kind'] == k})
        headers += [(end, k)] * bool(pairs)
        end -= bool(pairs)
        for pair in pairs:   # a threshold row, and a validation row if any protocol has one
            val = [c['levels'][-1][4:] for p in names for c in cells
                   if c['pair'] == pair and c['protocol'] == p and c['levels'][-1] != 'threshold']
            rows[pair, 'threshold'] = end, pair_name(pair).replace('->', '\u2192')
            if val:   # the row names its level; each panel's, in panel order, where they differ
                rows[pair, 'validation'] = end - 1, 'val ' + ' / '.join(dict.fromkeys(val))
            end -= 1 + bool(val)
    fig, axes = plt.subplots(1, len(names), figsize=(2.5 + 5 * len(names), 1.6 - 0.3 * end),
                             sharey=True, squeeze=False)
    spread = []
    for ax, protocol in zip(axes[0], names):
        side = blended_transform_factory(ax.transAxes, ax.transData)
        for c in (c for c in cells if c['protocol'] == protocol):
            for lv in c['levels']:
                y, name = rows[c['pair'], 'threshold' if lv == 'threshold' else 'validation']
                for j, k in enumerate(MEASURES):
                    t = c['tests'][lv, k]
                    if t is None:
                        continue
                    marker, color = STYLE[k]
                    ratio, (lo, hi), dy = t['ratio'], t['ci'], 0.25 * (1 - j)
                    ax.errorbar(ratio, y + dy, xerr=[[ratio - lo], [hi - ratio]], fmt=marker,
                                color=color, ms=5, lw=1, capsize=2,
                                mfc='white' if sum(t['censored']) else color)
                    spread += [lo, hi]
                    if t.get('holm'):
                        ax.annotate('*', (hi, y + dy), xytext=(2, -4), color=color,
                                    textcoords='offset points')
        for y, k in headers:
            ax.text(0.01, y, k + ('s' if k == KINDS[0] else ''), transform=side, fontsize=8,
                    fontweight='bold', va='center')
            if y < 0:
                ax.axhline(y + 0.5, color='0.8', lw=0.6)
        ax.axvline(1, color='k', lw=0.8)
        ax.set_title(protocol, fontsize=10)
        ax.set_xlabel('ratio of mean generations, log scale\n(>1: PathNet / task 2 faster)')
    reach = max(max(spread), 1 / min(spread)) * 1.25   # 1 in the middle: 0.5 as far as 2
    for ax in axes[0]:
        log_axis(ax, 1 / reach, reach, RATIO_TICKS)
    axes[0][0].set_yticks([y for y, _ in rows.values()])
    axes[0][0].set_yticklabels([name for _, name in rows.values()], fontsize=8)
    axes[0][0].set_ylim(end + 0.5, 0.5)
    handles = [Line2D([], [], marker=STYLE[k][0], color=STYLE[k][1], ls='', label=NAMES[k])
               for k in MEASURES] + [Line2D([], [], marker='o', color='0.3', mfc='white', ls='',
                                            label='hollow: runs censored (cN@tau)')]
    fig.legend(handles=handles, loc='lower center', ncol=len(handles), fontsize=8)
    fig.suptitle('The transfer matrix: binary MNIST, task 1 \u2192 task 2, paired by seed; 95%% '
                 'paired bootstrap CIs; * significant (exact p) after Holm over %d tests' % m,
                 fontsize=10)
    return fig


def main(argv=None):
    args = parse_args(argv)

    def work():
        if not args.logs:
            raise PlotError('no logs: name folders of per-pair logs')
        if args.level not in LEVEL_CHOICES:
            raise PlotError('--level must be one of %s, got %s'
                            % ('|'.join(LEVEL_CHOICES), args.level))
        cells = [c for name, paths in protocols(args.logs).items()
                 for c in read_protocol(name, paths, args.level, args.bootstrap, args.seed)]
        text = table(cells, args.bootstrap)
        save_between(plot(cells), args.out, 0.3, 0.35)
        return text, [args.out]
    return finish(work)


if __name__ == '__main__':
    sys.exit(main())
