"""The startup section: wall time from starting the driver to its first
generation, split into the imports, data and graph phases the driver reports
on its `ready` line; the median of several processes."""
import re
import statistics
import subprocess
import sys
import time

from bench_common import DRIVER


def startup(results):
    """Wall time from starting the driver to its first generation line."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, DRIVER, '--seed', '1', '--max_steps', '1',
                          '--results', results], stdout=subprocess.PIPE, text=True)
    phases = {}
    for line in p.stdout:
        m = re.match(r'ready .* imports ([\d.]+)s, data ([\d.]+)s, graph ([\d.]+)s', line)
        if m:
            phases = dict(zip(('imports_s', 'data_s', 'graph_s'), map(float, m.groups())))
        if line.startswith('task 1  gen    1'):
            phases['first_generation_s'] = time.perf_counter() - t0
            break
    p.stdout.read()
    p.wait()
    return phases


def section(repeats, results):
    """The median of each phase over `repeats` processes, one after another."""
    runs = [startup(results) for _ in range(repeats)]
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def report(s, a):
    return ['', 'start-up to first generation: %.2f s (imports %.2f, data %.2f, graph %.2f;'
            ' median of %d)' % (s['first_generation_s'], s['imports_s'], s['data_s'],
                                s['graph_s'], a.repeats)]
