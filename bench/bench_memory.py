"""The memory section: one process running many experiments on one graph
(the driver's --seeds), its resident memory after each experiment and the
graph's op count before the first and after the last: does a long batch
leak memory or grow the graph?"""
import json
import os
import sys
import time

from bench_common import ROOT, peak_mb, run_child


def vmrss_mb(pid='self'):
    """Current resident memory (VmRSS) of a process, in MB."""
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def child(experiments, flags, results):
    """The driver's own main() running `experiments` seeds in this process
    (--seeds 0-N), with its experiment() wrapped to read VmRSS and the op
    count after each experiment (before its row is written)."""
    sys.path.insert(0, ROOT)
    import binary_mnist_pathnet as driver
    out = {'rss_mb': [], 'ops_before': None, 'ops_after': None}
    experiment = driver.experiment

    def measured(net, *args, **kwargs):
        if out['ops_before'] is None:
            out['ops_before'] = len(net.graph.get_operations())
            out['finalized'] = net.graph.finalized
            out['rss_before_mb'] = round(vmrss_mb(), 1)
        row = yield from experiment(net, *args, **kwargs)
        out['rss_mb'].append(round(vmrss_mb(), 1))
        out['ops_after'] = len(net.graph.get_operations())
        return row
    driver.experiment = measured    # run() looks it up at each call
    t0 = time.perf_counter()
    status = driver.main(['--seeds', '0-%d' % (experiments - 1), '--quiet', '--threads', '1',
                          '--results', results] + flags, stop=driver.Stop())
    out['status'] = status
    out['wall_s'] = round(time.perf_counter() - t0, 1)
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def section(experiments, flags, tmp):
    """`flags` as written on the command line (a string), passed on as is."""
    m = run_child('memory', extra=['--memory_experiments', str(experiments),
                                   '--memory_flags=' + flags,
                                   '--results', os.path.join(tmp, 'memory.csv')])
    m['experiments'], m['flags'] = experiments, flags
    return m


def report(m, a):
    rss = m['rss_mb']
    at = [k for k in (1, 10, 50, 100) if k <= len(rss)]
    if len(rss) not in at:
        at.append(len(rss))
    half = rss[len(rss) // 2:]
    return [
        '',
        'memory: %d experiments in one process (--seeds 0-%d%s, threads 1), %.0f s:'
        % (m['experiments'], m['experiments'] - 1,
           ', ' + m['flags'] if m['flags'] else ', default settings', m['wall_s']),
        '  RSS after experiment %s: %s MB (%.1f MB before the first; min %.1f, max %.1f;'
        ' from experiment %d to %d: %+.1f MB; over the last %d: %.1f-%.1f MB)'
        % (', '.join(map(str, at)), ', '.join('%.1f' % rss[k - 1] for k in at),
           m['rss_before_mb'], min(rss), max(rss), min(10, len(rss)), len(rss),
           rss[-1] - rss[min(10, len(rss)) - 1], len(half), min(half), max(half)),
        '  graph ops %d before the first experiment, %d after the last (finalized: %s)'
        % (m['ops_before'], m['ops_after'], m['finalized'])]
