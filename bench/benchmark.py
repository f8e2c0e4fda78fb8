"""Speed and memory of binary_mnist_pathnet.py, each figure from its own process.

    python bench/benchmark.py [--repeats 3] [--generations 100] [--out /tmp/bench]
    python bench/benchmark.py --sections plain --out /tmp/plain     # one section

Sections (--sections, all by default):
  startup         process start to the first generation, split into imports,
                  data and graph;
  per_generation  milliseconds per generation of task 1 and task 2 with the
                  threshold out of reach, for several TensorFlow thread counts;
  memory          peak memory and graph op count over --memory_generations;
  experiments     full default experiments, one process at a time and two at
                  once (experiments per hour);
  plain           ms per generation of this project's tournament against a
                  plain per-minibatch TF1 implementation (bench/plain_tf1.py),
                  alternating processes, same seed, one thread each.
  (to be added: experiments per hour, one process per experiment against one
  process running many with binary_mnist_pathnet.py --seeds A-B)

--out PREFIX writes PREFIX.txt (the report) and PREFIX.json (the numbers);
bench/results.txt and .json are the published run, so trial runs on a busy
machine should go elsewhere.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, 'binary_mnist_pathnet.py')
PLAIN = os.path.join(ROOT, 'bench', 'plain_tf1.py')
# The plain implementations: benchmark name -> plain_tf1's --forward.
PLAIN_VARIANTS = {'plain': 'masked', 'plain_cond': 'cond'}
SECTIONS = ('startup', 'per_generation', 'memory', 'experiments', 'plain')
# Quoted context, NOT measured by this script: figures the speed issue
# reported for other programs on a 2-core machine (not code of ours).
REFERENCE = [('2017 script, as published', '750', '14', '136', '918'),
             ('2017 script, no per-step summaries', '180-240', '', '', ''),
             ('PyTorch PathNet peer', '140', '7', '', '1400')]


def rss_mb():
    """Current resident memory of this process."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def peak_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode, generations, threads, impl='pathnet', seed=1, warmup=0):
    """In-process measurement: the driver's own task loop, threshold out of
    reach, so every task runs exactly warmup + `generations` tournaments; the
    first `warmup` of each task are not timed. Mode 'compare' also returns
    every generation's time. impl 'plain' puts the plain TF1 tournament of
    bench/plain_tf1.py in the same loop ('plain_cond': its --forward cond
    variant); the same seed gives the same data, minibatch order and first
    pairs as for this project."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(PLAIN))
    sys.modules.setdefault('keras', None)
    import numpy as np
    import binary_mnist_pathnet as driver
    import input_data
    import pathnet
    args = driver.parse_args(['--seed', str(seed), '--max_steps', str(warmup + generations),
                              '--threads', str(threads), '--quiet'])
    args.threshold = 2.0
    data = input_data.load_mnist(input_data.default_data_dir(None))
    rng = np.random.default_rng(seed)
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b, 0.5, rng)
             for a, b in ((5, 6), (6, 7))]
    del data
    if impl in PLAIN_VARIANTS:
        import plain_tf1
        net = plain_tf1.PlainPathNet(seed=seed, forward=PLAIN_VARIANTS[impl])
    else:
        net = pathnet.PathNet(seed=seed)
    out = {'ops_before': len(net.graph.get_operations()), 'rss_mb': {}}
    ticks = []
    checkpoints = {10, 100, generations // 2, generations}

    def log(task, generation, fitness, best, seconds):
        ticks.append((task, time.perf_counter()))
        if mode == 'memory' and generation in checkpoints:
            out['rss_mb'][generation] = round(rss_mb(), 1)
    with pathnet.session(net, threads) as sess:
        sess.run(net.init)
        frozen = keep = np.zeros((3, 10), np.float32)
        for task in (0, 1) if mode in ('generations', 'compare') else (0,):
            net.start_task(sess, task, *train[task], keep)
            ticks.append((task, time.perf_counter()))
            _, _, path, _ = driver.evolve(net, sess, task, frozen, driver.Batcher(
                len(train[task][0]), rng), rng, args, log, None)
            frozen = keep = path
    for task in (0, 1):
        t = [b - a for (ta, a), (tb, b) in zip(ticks, ticks[1:]) if ta == tb == task]
        if t:
            out['task%d' % (task + 1)] = summary([1000 * x for x in t[warmup:]])
            if mode == 'compare':
                out['task%d' % (task + 1)]['ms'] = [round(1000 * x, 3) for x in t[warmup:]]
    out['ops_after'] = len(net.graph.get_operations())
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def summary(ms):
    """Median and p10/p90 (nearest rank) of a list of milliseconds."""
    ms = sorted(ms)
    return {'generations': len(ms), 'median_ms': round(statistics.median(ms), 2),
            'p10_ms': round(ms[len(ms) // 10], 2), 'p90_ms': round(ms[9 * len(ms) // 10], 2)}


def run_child(mode, generations, threads, impl='pathnet', seed=1, warmup=0):
    p = subprocess.run([sys.executable, __file__, '--child', mode, '--generations',
                        str(generations), '--threads', str(threads), '--impl', impl,
                        '--seed', str(seed), '--warmup', str(warmup)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().split('\n')[-1])


def plain_comparison(generations, warmup, rounds, seed, variants):
    """This project's tournament against bench/plain_tf1.py, one process at
    a time, alternating (project, plain..., project, plain..., ...) so that
    a change in machine load hits all alike; one thread each, same seed.
    Per task: the pooled per-generation times of each implementation, and
    for each plain variant the ratio plain/project of the pooled medians and
    of each round's medians (neighbours in time)."""
    impls = ['pathnet'] + variants
    raw = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            raw[impl].append(run_child('compare', generations, 1, impl, seed, warmup))
    out = {'seed': seed, 'warmup': warmup, 'rounds': rounds, 'threads': 1,
           'variants': variants}
    for task in ('task1', 'task2'):
        out[task] = {impl: summary([x for r in runs for x in r[task]['ms']])
                     for impl, runs in raw.items()}
        for v in variants:
            out[task][v]['ratio'] = round(out[task][v]['median_ms'] /
                                          out[task]['pathnet']['median_ms'], 2)
            out[task][v]['ratio_per_round'] = [
                round(statistics.median(b[task]['ms']) / statistics.median(a[task]['ms']), 2)
                for a, b in zip(raw['pathnet'], raw[v])]
    out['peak_rss_mb'] = {impl: max(r['peak_rss_mb'] for r in runs) for impl, runs in raw.items()}
    out['ops'] = {impl: runs[0]['ops_after'] for impl, runs in raw.items()}
    return out


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


def experiments(seeds, streams, results):
    """Default experiments, `streams` processes at once (one thread each).
    Returns wall seconds, and each run's seconds, generations and peak RSS."""
    def start(seed):
        return seed, time.perf_counter(), subprocess.Popen(
            [sys.executable, DRIVER, '--seed', str(seed), '--quiet', '--threads', '1',
             '--results', results], stdout=subprocess.PIPE, text=True)
    todo, running, runs, t0 = list(seeds), [], [], time.perf_counter()
    while todo or running:
        while todo and len(running) < streams:
            running.append(start(todo.pop(0)))
        seed, began, p = running.pop(0)
        last = p.stdout.read().strip().split('\n')[-1]
        usage = os.wait4(p.pid, 0)[2]
        m = re.match(r'Entire Iter:(\d+),TASK1:(\d+),TASK2:(\d+),Overlap:(\d+)', last)
        runs.append({'seed': seed, 'seconds': round(time.perf_counter() - began, 2),
                     'generations': int(m.group(1)), 'peak_rss_mb': round(usage.ru_maxrss / 1024)})
    return time.perf_counter() - t0, runs


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sections', default=','.join(SECTIONS),
                   help='comma-separated, from: %s' % ', '.join(SECTIONS))
    p.add_argument('--repeats', type=int, default=3, help='processes per start-up figure')
    p.add_argument('--generations', type=int, default=100,
                   help='timed generations per task, per thread count or process')
    p.add_argument('--memory_generations', type=int, default=1000)
    p.add_argument('--threads', default='1,2,0', help='TensorFlow thread counts to compare')
    p.add_argument('--experiments', type=int, default=4, help='default experiments per mode')
    p.add_argument('--warmup', type=int, default=10,
                   help='untimed generations per task before the plain section\'s timing')
    p.add_argument('--rounds', type=int, default=2,
                   help='plain section: alternating processes per implementation')
    p.add_argument('--seed', type=int, default=1, help='plain section: seed of both')
    p.add_argument('--out', default=None,
                   help='write PREFIX.txt and PREFIX.json (bench/results is the published run)')
    p.add_argument('--json', default=None, help='write the numbers here')
    p.add_argument('--child', choices=['generations', 'memory', 'compare'],
                   help=argparse.SUPPRESS)
    p.add_argument('--plain_variants', default=','.join(PLAIN_VARIANTS),
                   help='plain section: which of %s to measure' % ', '.join(PLAIN_VARIANTS))
    p.add_argument('--impl', choices=['pathnet'] + list(PLAIN_VARIANTS), default='pathnet',
                   help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.generations, int(a.threads), a.impl, a.seed, a.warmup)
    sections = a.sections.split(',')
    variants = a.plain_variants.split(',')
    unknown = set(sections) - set(SECTIONS) | set(variants) - set(PLAIN_VARIANTS)
    if unknown:
        p.error('unknown name(s) %s; sections: %s; plain variants: %s'
                % (', '.join(sorted(unknown)), ', '.join(SECTIONS), ', '.join(PLAIN_VARIANTS)))
    if not os.environ.get('MNIST_DATA_DIR') and not os.path.isdir(os.path.join(ROOT, 'MNIST_data')):
        sys.exit('error: set MNIST_DATA_DIR (or run the driver once to download MNIST)')
    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, 'bench.csv')
    out = {'cpu_cores': os.cpu_count(), 'python': sys.version.split()[0],
           'sections': sections}
    if 'startup' in sections:
        runs = [startup(log) for _ in range(a.repeats)]
        out['startup'] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    if 'per_generation' in sections:
        out['per_generation'] = {t: run_child('generations', a.generations, int(t))
                                 for t in a.threads.split(',')}
    if 'memory' in sections:
        out['memory'] = run_child('memory', a.memory_generations, 1)
    if 'experiments' in sections:
        seeds = list(range(1, a.experiments + 1))
        for streams in (1, 2):
            wall, rs = experiments(seeds, streams, log)
            out['experiments_%dproc' % streams] = {
                'wall_s': round(wall, 1), 'per_hour': round(3600 * len(rs) / wall),
                'median_run_s': statistics.median(r['seconds'] for r in rs),
                'peak_rss_mb': max(r['peak_rss_mb'] for r in rs), 'runs': rs}
    # Section to be added: experiments per hour of one process per experiment
    # against one process running many (binary_mnist_pathnet.py --seeds A-B):
    # add its name to SECTIONS, measure here into out['many_seeds'], and
    # print it in report().
    if 'plain' in sections:
        out['plain'] = plain_comparison(a.generations, a.warmup, a.rounds, a.seed, variants)
    out['tensorflow'] = json.loads(subprocess.run(
        [sys.executable, '-c', 'import json, tensorflow as tf; print(json.dumps(tf.__version__))'],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')).stdout)
    text = report(out, a)
    print(text, end='')
    paths = [a.json] if a.json else []
    if a.out:
        with open(a.out + '.txt', 'w') as f:
            f.write(text)
        paths.append(a.out + '.json')
    for path in paths:
        with open(path, 'w') as f:
            json.dump(out, f, indent=1)


def report(out, a):
    """The report as text: one paragraph per section that was run."""
    lines = ['', 'binary_mnist_pathnet.py on %d cores, Python %s, TensorFlow %s'
             % (out['cpu_cores'], out['python'], out['tensorflow'])]
    say = lines.append
    s = out.get('startup')
    if s:
        say('start-up to first generation: %.2f s (imports %.2f, data %.2f, graph %.2f;'
            ' median of %d)' % (s['first_generation_s'], s['imports_s'], s['data_s'],
                                s['graph_s'], a.repeats))
    if 'per_generation' in out:
        say('')
        say('ms per generation (median [p10, p90] over %d generations per task)' % a.generations)
        for t, r in out['per_generation'].items():
            say('  threads %-3s task 1 %6.2f [%.2f, %.2f]   task 2 %6.2f [%.2f, %.2f]'
                % (t, r['task1']['median_ms'], r['task1']['p10_ms'], r['task1']['p90_ms'],
                   r['task2']['median_ms'], r['task2']['p10_ms'], r['task2']['p90_ms']))
    m = out.get('memory')
    if m:
        say('')
        say('over %d generations: RSS %s MB, graph ops %d before, %d after'
            % (a.memory_generations, m['rss_mb'], m['ops_before'], m['ops_after']))
    e1, e2 = out.get('experiments_1proc'), out.get('experiments_2proc')
    if e1:
        say('')
        say('default experiments (seeds 1..%d): one process at a time %.1f s each, %d per hour;'
            ' two at once %d per hour (%.2fx); peak RSS of a run %d MB'
            % (a.experiments, e1['median_run_s'], e1['per_hour'], e2['per_hour'],
               e2['per_hour'] / e1['per_hour'], e1['peak_rss_mb']))
    # (the --seeds A-B section's paragraph goes here)
    c = out.get('plain')
    names = {'pathnet': 'this project', 'plain': 'plain TF1 tournament',
             'plain_cond': 'plain TF1 tournament, cond forward'}
    if c:
        say('')
        say('this project against a plain per-minibatch TF1 tournament (bench/plain_tf1.py):')
        say('ms per generation, median [p10, p90] of %d generations per task after %d untimed,'
            ' %d alternating processes each, seed %d, 1 thread'
            % (a.generations * c['rounds'], c['warmup'], c['rounds'], c['seed']))
        for task in ('task1', 'task2'):
            say('  %s' % task.replace('task', 'task '))
            for impl in ['pathnet'] + c['variants']:
                r = c[task][impl]
                say('    %-36s %7.2f [%.2f, %.2f]%s'
                    % (names[impl], r['median_ms'], r['p10_ms'], r['p90_ms'],
                       '' if impl == 'pathnet' else '   %.2fx this project (per round %s)'
                       % (r['ratio'], ', '.join('%.2f' % x for x in r['ratio_per_round']))))
        say('  peak RSS MB %s, graph ops %s' % (c['peak_rss_mb'], c['ops']))
    if 'per_generation' in out or c:
        # Task 1, one thread. With the plain section, its figure for this
        # project: measured next to the plain rows, after the same warm-up.
        one = (c['task1']['pathnet']['median_ms'] if c
               else out['per_generation']['1']['task1']['median_ms'])
        s = s or {}
        e1 = e1 or {}
        say('')
        say('| | ms/generation | s to 1st generation | s per experiment | peak MB |')
        say('|---|---|---|---|---|')
        say('| this project (threads 1), measured | %.1f | %s | %s | %s |'
            % (one, fmt(s.get('first_generation_s')), fmt(e1.get('median_run_s')),
               fmt(e1.get('peak_rss_mb'), '%.0f')))
        for v in c['variants'] if c else ():
            say('| %s (bench/plain_tf1.py), measured | %.1f | | | %.0f |'
                % (names[v], c['task1'][v]['median_ms'], c['peak_rss_mb'][v]))
        for row in REFERENCE:
            say('| %s (quoted, not measured here) | %s | %s | %s | %s |' % row)
    return '\n'.join(lines) + '\n'


def fmt(x, form='%.1f'):
    return '' if x is None else form % x


if __name__ == '__main__':
    main()
