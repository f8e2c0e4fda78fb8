"""What the plot scripts share: their error, their log and output arguments, saving."""
import argparse
import os

import matplotlib.pyplot as plt

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


def add_out(p, default, help, name='--out'):
    p.add_argument('-o', name, default=default, metavar='OUT.png', help=help)


def read(paths, **kw):
    """read_log, and a hint when the user's default log does not exist yet."""
    if paths in (DEFAULT_LOG, [DEFAULT_LOG]) and not os.path.exists(DEFAULT_LOG):
        raise PlotError('no log at %s yet: run binary_mnist_pathnet.py, or name a log, e.g. '
                        '%sbinary_mnist_pathnet.csv' % (DEFAULT_LOG, REFERENCE))
    return read_log(paths, **kw)


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
