"""The protocol study at a glance: for every cell (one results log each, the
controls paired with pathnet by seed), PathNet's speed-up on task 2 over each
control, with paired bootstrap 95% CIs and p-values, at the run's threshold,
at the training-fitness levels 0.95 and 0.98, and at the held-out validation
levels a log has columns for (task2_val_gen_<level>); and the overlap of the
two tasks' paths against chance.

    python -m analysis.plot_study results/study/restore_adam.csv ... [-o OUT.png]

A cell is named after its log file. Its seeds are those run under pathnet,
scratch and finetune (the study's design); any other control in the log
(e.g. pathnet_noreinit, finetune_reinit) is compared with pathnet too, on
the cell's seeds it was run on. A ratio above 1 means PathNet needed fewer
task-2 generations than the control. A cell with all four controls of issue
18's 2x2 (pathnet, pathnet_noreinit, finetune, finetune_reinit) also gets each
factor's effect, freezing task 1's path and re-initialising the other modules,
with the other factor held fixed (factorial(), a Holm family of its own).

Statistics (stats.py):
- ratio = mean(control) / mean(pathnet) task-2 generations over the paired
  seeds, with a 95% percentile CI from a paired bootstrap (seeds resampled
  with both runs).
- p: two-sided, exact: the paired sign-flip permutation test (each seed's
  two runs swapped or not, all 2^n ways; stats.sign_flip_p), which is the
  test of the ratio of means = 1. No decision depends on the bootstrap's
  seed (--seed); the CI does, in its last digit.
- Multiple comparisons: Holm's step-down correction at family-wise error
  0.05 over every ratio test of the table (cell x control x level); * marks
  the tests it rejects.
- Censoring: a run that had not reached a level when its task ended (at the
  threshold or the cap) is censored at its task's last generation
  (task2_generations); a diverged run never reaches it: censored at the cap. Each row (cell x level) is compared at a
  horizon tau every run of it reached: the smallest generation at which one
  of its runs was censored. Means are restricted means at tau,
  mean(min(generations, tau)), known for every run. The ratio of two is a
  lower bound on the unrestricted ratio when tau cuts short only the
  control's runs, an upper bound when only PathNet's, and no bound when
  both. For every comparison with a censored run the table adds the paired
  sign test on the restricted generations (who reached the level first;
  equal, or both at tau, are ties and dropped), SciPy's exact binomial p
  (not part of the Holm family).
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
                            finish, generations, horizon, log_axis, parser, read,
                            save_between)
from results_log import parse_settings

LEVELS = ('', '0.95', '0.98')    # '': the run's own threshold (task2_generations)
VAL = 'task2_val_gen_'           # held-out validation levels: 'val_<level>'
CORE = ('scratch', 'finetune')   # every cell runs these with pathnet on the same seeds
ORDER = CORE + ('pathnet_noreinit', 'finetune_reinit')   # others follow by name
CAP, THRESHOLD = 1000, '0.998'   # the driver's defaults of --max_steps and --threshold
OTHER_MARKS = [('P', 'tab:purple'), ('X', 'tab:brown'), ('h', 'tab:pink')]


def parse_args(argv=None):
    p = parser(__doc__)
    p.add_argument('logs', nargs='+', metavar='LOG', help='one results log per cell')
    add_out(p, 'results/study/study.png', 'the figure')
    add_resamples(p, '--bootstrap', 'paired bootstrap resamples (the CIs)')
    return check_resamples(p, p.parse_args(argv), '--bootstrap')


def label(level):
    return 'threshold' if not level else level.replace('_', ' ')


def val_levels(rows):
    """The held-out validation levels to report: those with a column, when every run of
    the cell measured validation (a row of an older version has its validation columns
    empty: unknown, not 'never reached'), and that at least 90% of the PathNet runs
    reached (as plot_matrix.py): a run that ended its task before reaching a level is
    censored there, and the horizon of the comparison with it."""
    if not rows or any(r.get('task2_val_accuracy', '') == '' for r in rows):
        return ()
    pathnet = [r for r in rows if r['control'] == 'pathnet']
    found = [c[len(VAL):] for c in rows[0] if c.startswith(VAL)
             and sum(r[c] != '' for r in pathnet) >= 0.9 * len(pathnet)]
    return tuple('val_' + v for v in sorted(found, key=lambda v: (len(v), v)))


def run(row, level, cap):
    """(task-2 generations to the level, censored); level '' is the run's threshold."""
    return generations(row, 2, level or 'threshold', cap)


def ordered(controls):
    return sorted(controls, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))


def cell(path, resamples, seed=0):
    rows = read(path, ints=('seed', 'task2_generations', 'task2_converged', 'overlap',
                            'L', 'M', 'N'), required=('control', 'task2_gen_0.95'))
    by = {}
    for r in rows:
        by.setdefault(r['control'], {})[r['seed']] = r
    seeds = sorted(set(by.get('pathnet', ())).intersection(*(by.get(c, ()) for c in CORE)))
    if len(seeds) < 2:
        raise PlotError('%s: fewer than 2 seeds run under all three controls (pathnet, %s)'
                        % (path, ', '.join(CORE)))
    settings = [parse_settings(r['settings']) for r in rows]
    try:
        cap = max(int(s.get('max_steps', CAP)) for s in settings)
    except ValueError:
        raise PlotError('%s: a --max_steps in the settings is not an integer' % path) from None
    out = {'name': os.path.splitext(os.path.basename(path))[0], 'n': len(seeds), 'cap': cap,
           'threshold': {s.get('threshold', THRESHOLD) for s in settings},
           'pairs': {'%s \u2192 %s' % (r['task1'], r['task2']) for r in rows},
           'settings': ' '.join(sorted({r['settings'] for r in rows
                                        if r['control'] == 'pathnet'})) or '(defaults)',
           'controls': ordered(set(by) - {'pathnet'}), 'levels': LEVELS + val_levels(rows),
           'ratios': {}, 'tests': {}, 'by': by, 'seeds': seeds}
    for level in out['levels']:
        runs = {k: {s: run(by[k][s], level, cap) for s in seeds if s in by[k]}
                for k in ['pathnet'] + out['controls']}
        tau = out['tau', level] = horizon(*(r.values() for r in runs.values()))
        g, censored = zip(*runs['pathnet'].values())
        means, capped = {'pathnet': stats.restricted_mean(g, tau)}, {'pathnet': sum(censored)}
        for c in out['controls']:
            both = [s for s in seeds if s in by[c]]
            if len(both) < 2:       # too few to test: not in the table's family
                out['tests'][level, c] = None
                continue
            (gc, cc), (gp, cp) = [zip(*[runs[k][s] for s in both]) for k in (c, 'pathnet')]
            t = stats.compare(gc, gp, cc, cp, tau, resamples, seed)
            out['tests'][level, c] = t
            out['ratios'][level, c] = (t['ratio'], t['ci'], sum(t['censored']))
            means[c], capped[c] = t['means'][0], t['censored'][0]
        out['means', level], out['capped', level] = means, capped
    p = [by['pathnet'][s] for s in seeds]
    dist = stats.chance_distribution(p[0]['L'], p[0]['M'], p[0]['N'])
    overlaps = np.array([r['overlap'] for r in p])
    out['overlap'] = (overlaps.mean(), float(np.dot(np.arange(len(dist)), dist)),
                      stats.chance_p_value(overlaps, dist))
    return out


def tests(cells):
    """Every ratio test of the table, in its order: (cell, level, control, test)."""
    return [(c, level, k, c['tests'][level, k]) for c in cells for level in c['levels']
            for k in c['controls'] if c['tests'][level, k] is not None]


def correct(cells):
    """Holm over the whole table: each test gets 'holm' (rejected) and 'p_holm'."""
    return holm([t for *_, t in tests(cells)])


def entry(t, n):
    if t is None:
        return 'fewer than 2 paired seeds'
    return '%.2f [%.2f, %.2f]%s p=%.2g%s%s' % (
        t['ratio'], t['ci'][0], t['ci'][1], '*' if t['holm'] else '', t['p'], censoring(t),
        ' n=%d' % t['n'] if t['n'] != n else '')


def bound(t):
    return {'lower': 'a lower bound on the unrestricted ratio: tau cuts short only the '
                     'control',
            'upper': 'an upper bound on the unrestricted ratio: tau cuts short only pathnet'}.get(
                stats.ratio_bound(*t['truncated']), 'not a bound: tau cuts short both sides')


def table(cells, resamples):
    m = correct(cells)
    controls = ordered({k for c in cells for k in c['controls']})
    width = {k: max(9, len(k)) for k in controls}
    head = '%-17s %3s  %-9s %8s' % ('cell', 'n', 'level', 'pathnet') + ''.join(
        '  %*s  %-33s' % (width[k], k, k + '/pathnet') for k in controls)
    lines = ['PathNet speed-up on task 2 = mean(control) / mean(pathnet) task-2 generations, '
             'paired by seed (above 1: PathNet needs fewer); the means columns are per control',
             'ratio [95%% paired bootstrap CI] p=exact two-sided sign-flip permutation p; * = '
             "significant after Holm's correction over all %d ratio tests of this table "
             '(family: every cell x level x control; family-wise error %g)'
             % (m, FAMILY_ERROR), head.rstrip()]
    notes = 0
    for c in cells:
        for j, level in enumerate(c['levels']):
            row = '%-17s %3s  %-9s %8.1f' % (c['name'] if j == 0 else '', c['n'] if j == 0
                                             else '', label(level), c['means', level]['pathnet'])
            for k in controls:
                t = c['tests'].get((level, k))
                row += '  %*s  %-33s' % (width[k], ('%.1f' % c['means', level][k]) if t else '',
                                         entry(t, c['n']) if k in c['controls'] else '(not run)')
            lines.append(row.rstrip())
        mean, chance, (plo, phi) = c['overlap']
        lines.append('%-17s overlap %.2f vs %.2f by chance (P lower %.2g, upper %.2g)'
                     % ('', mean, chance, plo, phi))
        for level in c['levels']:
            for k in c['controls']:
                t = c['tests'][level, k]
                if t and sum(t['censored']):
                    notes += 1
                    cf, pf, ties, p = t['sign']
                    lines.append(
                        '%-17s c: %s %s/pathnet: not reached by the end of the task (censored '
                        'there): %s %d, pathnet %d of %d; restricted means at tau = %d: %s '
                        '%.1f, pathnet %.1f (%s)'
                        % ('', label(level), k, k, t['censored'][0], t['censored'][1], t['n'],
                           t['tau'], k, t['means'][0], t['means'][1], bound(t)))
                    lines.append('%-17s    sign test (who reached it first): control first %d, '
                                 'pathnet first %d, ties %d, p=%.2g' % ('', cf, pf, ties, p))
    lines.append('cN@T: N runs of the comparison had not reached the level when their task '
                 'ended and are censored there; every mean of the row is then a restricted '
                 'mean at T (tau), the smallest generation at which a run of the row was '
                 'censored: mean(min(generations, T))%s'
                 % ('; each such comparison has a "c:" line with a paired sign test (not in '
                    'the Holm family)' if notes else ''))
    lines.append('CIs: %d paired bootstrap resamples; p and * do not depend on them' % resamples)
    return '\n'.join(lines)


# Issue 18's 2x2: (with, without) each factor, holding the other one fixed.
FACTORIAL = (('pathnet', 'finetune_reinit'),        # freezing the path, the rest re-initialised
             ('pathnet_noreinit', 'finetune'),      # freezing the path, the rest kept
             ('pathnet', 'pathnet_noreinit'),       # re-initialising the rest, the path frozen
             ('finetune_reinit', 'finetune'))       # re-initialising the rest, the path trainable


def factorial(cells, resamples, seed=0):
    """For cells with all four controls of the 2x2 (freeze task 1's path or not x keep
    the other modules' weights or re-initialise them), each factor's effect with the
    other held fixed: mean(with) / mean(without) task-2 generations, paired by the
    cell's seeds, bootstrap CI, Holm over these tests (a family of their own)."""
    found = [c for c in cells if all(k in c['by'] for pair in FACTORIAL for k in pair)]
    if not found:
        return ''
    rows = []
    for c in found:
        for level in c['levels']:
            for k, (a, b) in enumerate(FACTORIAL):
                both = [s for s in c['seeds'] if s in c['by'][a] and s in c['by'][b]]
                (ga, ca), (gb, cb) = [zip(*[run(c['by'][x][s], level, c['cap']) for s in both])
                                      for x in (a, b)]
                rows.append((c, level, k, stats.compare(ga, gb, ca, cb, c['tau', level],
                                                        resamples, seed + 1 + k)))
    holm([t for *_, t in rows])
    names = ['%s/%s' % pair for pair in FACTORIAL]
    lines = ['2x2, freezing against re-initialising: each factor with the other held fixed, '
             'mean(with) / mean(without) task-2 generations (above 1: the factor slows task 2)',
             '  freezing task 1\'s path: %s (the rest re-initialised), %s (the rest kept)'
             % tuple(names[:2]),
             '  re-initialising the other modules: %s (the path frozen), %s (the path '
             'trainable)' % tuple(names[2:]),
             '  * = significant after Holm over these %d tests (family: every cell x level x '
             'factor x the other factor; exact sign-flip p; means restricted at the row\'s tau '
             'as above)' % len(rows),
             ('%-17s %3s  %-9s' % ('cell', 'n', 'level') + ''.join(
                 '  %-33s' % n for n in names)).rstrip()]
    for c in found:
        for j, level in enumerate(c['levels']):
            tests = [t for cc, lv, _, t in rows if cc is c and lv == level]
            lines.append(('%-17s %3s  %-9s' % (c['name'] if j == 0 else '', c['n'] if j == 0
                                               else '', label(level)) + ''.join(
                '  %-33s' % entry(t, c['n']) for t in tests)).rstrip())
    return '\n'.join(lines)


GENERATION_TICKS = tuple(t * 10 ** e for t in (1, 2, 5) for e in range(0, 6))


def marks(controls):
    extra = iter(OTHER_MARKS)
    return {k: MARKS.get(k) or next(extra, ('*', 'grey')) for k in ['pathnet'] + controls}


def plot(cells):
    m = correct(cells)
    controls = ordered({k for c in cells for k in c['controls']})
    style = marks(controls)
    levels = [lv for lv in LEVELS] + sorted({lv for c in cells for lv in c['levels']}
                                            - set(LEVELS))
    step = len(levels) + 0.8
    fig, axes = plt.subplots(1, 2, figsize=(15, 1.8 + 0.3 * step * len(cells)), sharey=True,
                             gridspec_kw={'width_ratios': [3, 2]})
    ratio_ax, mean_ax = axes
    ys, names, spread, gens = [], [], [], []
    for i, c in enumerate(cells):
        for j, level in enumerate(levels):
            if level not in c['levels']:
                continue
            y = -(i * step + j)
            ys.append(y)
            names.append(label(level))
            for k, name in enumerate(['pathnet'] + c['controls']):
                marker, color = style[name]
                dy = min(0.3, 0.7 / len(controls)) * (k - len(controls) / 2)
                t = c['tests'].get((level, name))
                gen = c['means', level].get(name)
                if gen is not None:
                    mean_ax.plot(gen, y + dy, marker, color=color, ms=6,
                                 mfc='white' if c['capped', level][name] else color)
                    gens.append(gen)
                if name == 'pathnet' or not t:
                    continue
                hollow = sum(t['censored']) > 0
                ratio_ax.errorbar(t['ratio'], y + dy, xerr=[[t['ratio'] - t['ci'][0]],
                                                            [t['ci'][1] - t['ratio']]],
                                  fmt=marker, color=color, capsize=2, ms=6, lw=1,
                                  mfc='white' if hollow else color)
                spread += [t['ci'][0], t['ci'][1]]
                note = ' '.join(['*'] * t['holm'] + [censoring(t).strip()] * hollow)
                if note:
                    ratio_ax.annotate(note, (t['ci'][1], y + dy), xytext=(3, -3),
                                      textcoords='offset points', fontsize=7, color=color)
        mean, chance, (plo, _) = c['overlap']
        ratio_ax.text(-0.09, -(i * step + (len(c['levels']) - 1) / 2),
                      '%s (n=%d)\noverlap %.2f, chance %.2f\nP(overlap \u2264) = %.2g'
                      % (c['name'], c['n'], mean, chance, plo), ha='right', va='center',
                      fontsize=8, transform=blended_transform_factory(ratio_ax.transAxes,
                                                                      ratio_ax.transData))
        if i:
            for ax in axes:
                ax.axhline(-(i * step) + 0.9, color='0.8', lw=0.6)
    reach = max(max(spread), 1 / min(spread)) * 1.25   # 1 in the middle: 0.5 as far as 2
    log_axis(ratio_ax, 1 / reach, reach, RATIO_TICKS)
    ratio_ax.axvline(1, color='k', lw=0.8)
    ratio_ax.set_xlabel('mean(control) / mean(pathnet) task-2 generations, log scale\n'
                        '(>1: PathNet needs fewer generations than the control)')
    caps = sorted({c['cap'] for c in cells})
    log_axis(mean_ax, min(gens) / 1.5, max(gens + caps) * 1.5, GENERATION_TICKS)
    for cap in caps:
        mean_ax.axvline(cap, color='tab:red', ls=':', lw=1)
    mean_ax.set_xlabel('mean task-2 generations to the level, log scale (hollow: restricted\n'
                       'mean at the row\'s horizon tau, runs censored; red line: the cap)')
    ratio_ax.set_yticks(ys)
    ratio_ax.set_yticklabels(names, fontsize=8)
    ratio_ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    thresholds = {th for c in cells for th in c['threshold']}
    ratio_ax.set_title('control/pathnet, 95%% paired bootstrap CIs; * significant (exact p) '
                       'after Holm over %d tests' % m, fontsize=10)
    mean_ax.set_title('mean task-2 generations per control', fontsize=10)
    handles = [Line2D([], [], marker=style[k][0], color=style[k][1], ls='', label=k)
               for k in ['pathnet'] + controls]
    handles.append(Line2D([], [], marker='o', color='0.3', mfc='white', ls='',
                          label='hollow: runs censored at their task\'s end (cN@tau)'))
    fig.legend(handles=handles, loc='lower center', ncol=len(handles), fontsize=8)
    pairs = set().union(*(c['pairs'] for c in cells))
    fig.suptitle('When does PathNet transfer? Binary MNIST %s, paired by seed; '
                 'levels: the run\'s threshold (%s), training fitness 0.95/0.98%s'
                 % (', '.join(sorted(pairs)) if len(pairs) <= 2 else '%d class pairs' % len(pairs),
                    '/'.join(sorted(thresholds)), ', held-out validation' * (
                        len(levels) > len(LEVELS))))
    return fig


def main(argv=None):
    args = parse_args(argv)

    def work():
        cells = [cell(path, args.bootstrap, args.seed) for path in args.logs]
        names = [c['name'] for c in cells]
        for c, path in zip(cells, args.logs):    # one pair under several protocols
            if names.count(c['name']) > 1:
                c['name'] = '%s/%s' % (os.path.basename(os.path.dirname(os.path.abspath(path))),
                                       c['name'])
        text = '\n'.join(filter(None, [table(cells, args.bootstrap),
                                        factorial(cells, args.bootstrap, args.seed)]))
        save_between(plot(cells), args.out, 0.35, 0.4)
        return text, [args.out]
    return finish(work)


if __name__ == '__main__':
    sys.exit(main())
