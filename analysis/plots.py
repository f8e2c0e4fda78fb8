"""What the plot scripts share: their error, their log and output arguments, the
end of their main(), saving, the log-scale axis and the markers of the controls,
reading a run's generations to a level, and Holm over a table's tests.

The scripts run from the repository's root: `python -m analysis.plot_study ...`
(plot_overlap.py, which the 2017 project named, stays at the top:
`python plot_overlap.py`)."""
import argparse
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from analysis import stats
from results_log import LogError, read_log

DEFAULT_LOG = 'results/binary_mnist_pathnet.csv'   # the user's own runs
REFERENCE = 'results/reference/'                   # the first release's reference study


class PlotError(Exception):
    """Bad input: reported as one line on stderr, never as a traceback."""


ERRORS = (PlotError, LogError)


def parser(doc, raw=False):
    return argparse.ArgumentParser(
        description=doc if raw else doc.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter if raw
        else argparse.ArgumentDefaultsHelpFormatter)


def add_logs(p, many=True):
    """The results logs to read: files, or folders of *.csv (one per job of a cluster array)."""
    if many:
        p.add_argument('logs', nargs='*', metavar='LOG', default=[DEFAULT_LOG],
                       help='results logs or folders of them, concatenated')
    else:
        p.add_argument('log', nargs='?', default=DEFAULT_LOG,
                       help='results log, or a folder of them (default: %(default)s)')


def add_out(p, default, help):
    p.add_argument('-o', '--out', default=default, metavar='OUT.png', help=help)


def add_resamples(p, name, help):
    """A count of resamples (--bootstrap): at least 1; and --seed, the resamples' seed.
    Resamples make the confidence intervals only: every decision is an exact test."""
    p.add_argument(name, type=int, default=10000, metavar='N', help=help)
    p.add_argument('--seed', type=int, default=0, metavar='S',
                   help="the bootstrap's seed (the intervals; no decision depends on it)")


def check_resamples(p, args, name):
    if getattr(args, name.lstrip('-')) < 1:
        p.error('%s must be at least 1' % name)
    return args


def finish(work, show=False):
    """The end of every plot script's main(): work() reads, computes and writes, and
    returns (the text to print, the paths written). Bad input is one line on stderr
    and status 1, never a traceback; with show, the figures stay open on screen."""
    if not show:
        plt.switch_backend('Agg')
    try:
        text, paths = work()
    except ERRORS as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    finally:
        if not show:
            plt.close('all')
    if text:
        print(text)
    print('wrote ' + ', '.join(paths))
    if show:
        plt.show()
    return 0


def read(paths, **kw):
    """read_log, and a hint when the user's default log does not exist yet."""
    if paths in (DEFAULT_LOG, [DEFAULT_LOG]) and not os.path.exists(DEFAULT_LOG):
        raise PlotError('no log at %s yet: run binary_mnist_pathnet.py, or name a log, e.g. '
                        '%sbinary_mnist_pathnet.csv' % (DEFAULT_LOG, REFERENCE))
    return read_log(paths, **kw)


def save_between(fig, path, bottom, top):
    """save() a figure whose legend (below the axes) and title take fixed inches:
    `bottom` and `top`, whatever the figure's height."""
    height = fig.get_size_inches()[1]
    save(fig, path, rect=(0, bottom / height, 1, 1 - top / height))


def save(fig, path, rect=(0, 0, 1, 1), close=True):
    """Write fig to path (its folder made if needed); rect: tight_layout's, None when the
    figure is laid out already."""
    try:
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        if rect:
            fig.tight_layout(rect=rect)
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:   # ValueError: e.g. an unknown file extension
        raise PlotError('cannot write %s: %s' % (path, getattr(e, 'strerror', None) or e)) \
            from None
    finally:
        if close:
            plt.close(fig)


# The controls' markers, the same in every figure.
MARKS = {'pathnet': ('D', 'k'), 'scratch': ('o', 'tab:blue'), 'finetune': ('s', 'tab:orange'),
         'pathnet_noreinit': ('^', 'tab:green'), 'finetune_reinit': ('v', 'tab:red')}
RATIO_TICKS = (1, 0.5, 2, 0.2, 5, 0.1, 10, 0.05, 20, 0.02, 50, 0.01, 100,
               0.25, 4, 1 / 3, 3, 2 / 3, 1.5, 0.8, 1.25)
FAMILY_ERROR = 0.05   # Holm's family-wise error, in every table


def log_axis(ax, lo, hi, ticks, most=12):
    """A log x axis from lo to hi with plain-number ticks (0.5, 1, 2): those of ticks in
    range, in its order, that are at least 1/most of the axis from every tick kept."""
    ax.set_xscale('log')
    ax.set_xlim(lo, hi)
    gap, kept = np.log(hi / lo) / most, []
    for t in ticks:
        if lo <= t <= hi and all(abs(np.log(t / k)) >= gap for k in kept):
            kept.append(t)
    ax.xaxis.set_major_locator(FixedLocator(sorted(kept)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: '%g' % float('%.2g' % x)))
    ax.xaxis.set_minor_locator(NullLocator())


def generations(row, task, level, cap):
    """(generations of task 1 or 2 to the level, censored) under stats.censor's rule: a
    level not reached is censored at the task's last generation (its task1/2_generations:
    the threshold or the cap), not at the cap. A run whose loss diverged never reaches it:
    censored at the cap, beyond every horizon. level: 'threshold' (the run's own), a
    training-fitness level ('0.95') or a held-out one ('val_0.90')."""
    last = cap if str(row.get('task%d_diverged' % task, '')) == '1' \
        else row['task%d_generations' % task]
    if level == 'threshold':
        return stats.censor(row['task%d_generations' % task],
                            int(row['task%d_converged' % task]) == 1, last)
    column = 'task%d_val_gen_%s' % (task, level[4:]) if level.startswith('val_') \
        else 'task%d_gen_%s' % (task, level)
    value = row[column]
    if value and not value.isdigit():
        raise PlotError('%s: %s should be a generation or empty, got %r'
                        % (row['where'], column, value))
    return stats.censor(value or 0, value != '', last)


def horizon(*runs):
    """tau of a table's row: the smallest generation at which any of its runs, lists of
    (generations, censored) per control, was censored (None if none was)."""
    pairs = [x for r in runs for x in r]
    return stats.horizon([g for g, _ in pairs], [c for _, c in pairs])


def censoring(t):
    """' cN@tau' for a test with N censored runs and the horizon tau, else ''."""
    n = sum(t['censored'])
    return ' c%d@%d' % (n, t['tau']) if n else ''


def correct(family):
    """Holm over a table's tests (exact p-values: the decisions do not depend on a
    resampling seed): each gets 'holm' (rejected) and 'p_holm'; the family's size."""
    rejected, adjusted = stats.holm([t['p'] for t in family], FAMILY_ERROR)
    for t, r, a in zip(family, rejected, adjusted):
        t['holm'], t['p_holm'] = bool(r), float(a)
    return len(family)
