"""The shared and plain sections: this project's tournament (--tournament
restore) against another tournament on the same seed, one thread, processes
alternating so that a change in machine load hits all alike. shared: this
project with --tournament shared (two trainings in a row); plain: the plain
per-minibatch TF1 tournament of bench/plain_tf1.py, in its variants."""
import statistics

from bench_common import run_child, summary

# How the report names each implementation (bench_per_generation.IMPLS).
NAMES = {'pathnet': 'this project', 'shared': 'this project, --tournament shared',
         'plain': 'plain TF1 tournament', 'plain_cond': 'plain TF1 tournament, cond forward'}


def comparison(impls, generations, warmup, rounds, seed):
    """impls[0] against the others, one process at a time, alternating
    (first, others..., first, others..., ...) so that a change in machine
    load hits all alike; one thread each, same seed. Per task: the pooled
    per-generation times of each implementation, and for each other one the
    ratio other/first of the pooled medians and of each round's medians
    (neighbours in time)."""
    raw = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            raw[impl].append(run_child('compare', generations, 1, impl, seed, warmup))
    base, others = impls[0], impls[1:]
    out = {'seed': seed, 'warmup': warmup, 'rounds': rounds, 'threads': 1,
           'base': base, 'variants': others}
    for task in ('task1', 'task2'):
        out[task] = {impl: summary([x for r in runs for x in r[task]['ms']])
                     for impl, runs in raw.items()}
        for v in others:
            out[task][v]['ratio'] = round(out[task][v]['median_ms'] /
                                          out[task][base]['median_ms'], 2)
            out[task][v]['ratio_per_round'] = [
                round(statistics.median(b[task]['ms']) / statistics.median(a[task]['ms']), 2)
                for a, b in zip(raw[base], raw[v])]
    out['peak_rss_mb'] = {impl: max(r['peak_rss_mb'] for r in runs) for impl, runs in raw.items()}
    out['ops'] = {impl: runs[0]['ops_after'] for impl, runs in raw.items()}
    return out


def report(key, c, a):
    """The paragraph of section `key` ('shared' or 'plain')."""
    lines = ['', 'this project (--tournament restore) against %s:'
             % ('--tournament shared' if key == 'shared' else
                'a plain per-minibatch TF1 tournament (bench/plain_tf1.py)'),
             'ms per generation, median [p10, p90] of %d generations per task after %d untimed,'
             ' %d alternating processes each, seed %d, 1 thread'
             % (a.generations * c['rounds'], c['warmup'], c['rounds'], c['seed'])]
    for task in ('task1', 'task2'):
        lines.append('  %s' % task.replace('task', 'task '))
        for impl in [c['base']] + c['variants']:
            r = c[task][impl]
            lines.append('    %-36s %7.2f [%.2f, %.2f]%s'
                         % (NAMES[impl], r['median_ms'], r['p10_ms'], r['p90_ms'],
                            '' if impl == c['base'] else '   %.2fx this project (per round %s)'
                            % (r['ratio'], ', '.join('%.2f' % x for x in r['ratio_per_round']))))
    lines.append('  peak RSS MB %s, graph ops %s' % (c['peak_rss_mb'], c['ops']))
    return lines
