"""Speed and memory of binary_mnist_pathnet.py, each figure from its own process.

    python bench/benchmark.py [--repeats 3] [--generations 100] [--json bench.json]

Measures (1) process start to the first generation, split into imports, data
and graph; (2) milliseconds per generation of task 1 and task 2 with the
threshold out of reach, for several TensorFlow thread counts; (3) peak memory
and graph op count over --memory_generations generations; (4) full default
experiments, one process at a time and two at once (experiments per hour).
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
# Measured on this 2-core machine by the speed issue (not code of ours).
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


def child(mode, generations, threads):
    """In-process measurement: the driver's own task loop, threshold out of
    reach, so every task runs exactly `generations` tournaments."""
    sys.path.insert(0, ROOT)
    sys.modules.setdefault('keras', None)
    import numpy as np
    import binary_mnist_pathnet as driver
    import input_data
    import pathnet
    args = driver.parse_args(['--seed', '1', '--max_steps', str(generations),
                              '--threads', str(threads), '--quiet'])
    args.threshold = 2.0
    data = input_data.load_mnist(input_data.default_data_dir(None))
    rng = np.random.default_rng(1)
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b, 0.5, rng)
             for a, b in ((5, 6), (6, 7))]
    del data
    net = pathnet.PathNet(seed=1)
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
        for task in (0, 1) if mode == 'generations' else (0,):
            net.start_task(sess, task, *train[task], keep)
            ticks.append((task, time.perf_counter()))
            _, _, path, _ = driver.evolve(net, sess, task, frozen, driver.Batcher(
                len(train[task][0]), rng), rng, args, log, None)
            frozen = keep = path
    for task in (0, 1):
        t = [b - a for (ta, a), (tb, b) in zip(ticks, ticks[1:]) if ta == tb == task]
        if t:
            ms = sorted(1000 * x for x in t)
            out['task%d' % (task + 1)] = {
                'generations': len(ms), 'median_ms': round(statistics.median(ms), 2),
                'p10_ms': round(ms[len(ms) // 10], 2), 'p90_ms': round(ms[9 * len(ms) // 10], 2)}
    out['ops_after'] = len(net.graph.get_operations())
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def run_child(mode, generations, threads):
    p = subprocess.run([sys.executable, __file__, '--child', mode, '--generations',
                        str(generations), '--threads', str(threads)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().split('\n')[-1])


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
    p.add_argument('--repeats', type=int, default=3, help='processes per start-up figure')
    p.add_argument('--generations', type=int, default=100, help='per task, per thread count')
    p.add_argument('--memory_generations', type=int, default=1000)
    p.add_argument('--threads', default='1,2,0', help='TensorFlow thread counts to compare')
    p.add_argument('--experiments', type=int, default=4, help='default experiments per mode')
    p.add_argument('--json', default=None, help='write the numbers here')
    p.add_argument('--child', choices=['generations', 'memory'], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.generations, int(a.threads))
    if not os.environ.get('MNIST_DATA_DIR') and not os.path.isdir(os.path.join(ROOT, 'MNIST_data')):
        sys.exit('error: set MNIST_DATA_DIR (or run the driver once to download MNIST)')
    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, 'bench.csv')
    out = {'cpu_cores': os.cpu_count(), 'python': sys.version.split()[0]}
    runs = [startup(log) for _ in range(a.repeats)]
    out['startup'] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    out['per_generation'] = {t: run_child('generations', a.generations, int(t))
                             for t in a.threads.split(',')}
    out['memory'] = run_child('memory', a.memory_generations, 1)
    seeds = list(range(1, a.experiments + 1))
    for streams in (1, 2):
        wall, rs = experiments(seeds, streams, log)
        out['experiments_%dproc' % streams] = {
            'wall_s': round(wall, 1), 'per_hour': round(3600 * len(rs) / wall),
            'median_run_s': statistics.median(r['seconds'] for r in rs),
            'peak_rss_mb': max(r['peak_rss_mb'] for r in rs), 'runs': rs}
    out['tensorflow'] = json.loads(subprocess.run(
        [sys.executable, '-c', 'import json, tensorflow as tf; print(json.dumps(tf.__version__))'],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')).stdout)
    report(out, a)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)


def report(out, a):
    s, one = out['startup'], out['per_generation']['1']
    print('\nbinary_mnist_pathnet.py on %d cores, Python %s, TensorFlow %s'
          % (out['cpu_cores'], out['python'], out['tensorflow']))
    print('start-up to first generation: %.2f s (imports %.2f, data %.2f, graph %.2f; median of %d)'
          % (s['first_generation_s'], s['imports_s'], s['data_s'], s['graph_s'], a.repeats))
    print('\nms per generation (median [p10, p90] over %d generations per task)' % a.generations)
    for t, r in out['per_generation'].items():
        print('  threads %-3s task 1 %6.2f [%.2f, %.2f]   task 2 %6.2f [%.2f, %.2f]'
              % (t, r['task1']['median_ms'], r['task1']['p10_ms'], r['task1']['p90_ms'],
                 r['task2']['median_ms'], r['task2']['p10_ms'], r['task2']['p90_ms']))
    m = out['memory']
    print('\nover %d generations: RSS %s MB, graph ops %d before, %d after'
          % (a.memory_generations, m['rss_mb'], m['ops_before'], m['ops_after']))
    e1, e2 = out['experiments_1proc'], out['experiments_2proc']
    print('\ndefault experiments (seeds 1..%d): one process at a time %.1f s each, %d per hour;'
          ' two at once %d per hour (%.2fx); peak RSS of a run %d MB'
          % (a.experiments, e1['median_run_s'], e1['per_hour'], e2['per_hour'],
             e2['per_hour'] / e1['per_hour'], e1['peak_rss_mb']))
    print('\n| | ms/generation | s to 1st generation | s per experiment | peak MB |')
    print('|---|---|---|---|---|')
    print('| this project (threads 1) | %.1f | %.1f | %.1f | %.0f |'
          % (one['task1']['median_ms'], s['first_generation_s'], e1['median_run_s'],
             e1['peak_rss_mb']))
    for row in REFERENCE:
        print('| %s (reference) | %s | %s | %s | %s |' % row)


if __name__ == '__main__':
    main()
