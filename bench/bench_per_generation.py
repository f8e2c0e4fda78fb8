"""Milliseconds per generation, measured inside one process: the instrument
(`child`, the runner's --child generations and compare modes) that the
per_generation section and the shared and plain comparisons
(bench_tournament.py) start in processes of their own, and the per_generation
section itself (task 1 and task 2 at each TensorFlow thread count)."""
import json
import os
import sys
import time

from bench_common import ROOT, peak_mb, run_child, summary

PLAIN = os.path.join(ROOT, 'bench', 'plain_tf1.py')
# The plain implementations: benchmark name -> plain_tf1's --forward.
PLAIN_VARIANTS = {'plain': 'masked', 'plain_cond': 'cond'}
IMPLS = ['pathnet', 'shared'] + list(PLAIN_VARIANTS)


def child(mode, generations, threads, impl='pathnet', seed=1, warmup=0):
    """In-process measurement: the driver's own task loop, threshold out of
    reach, so every task runs exactly warmup + `generations` tournaments; the
    first `warmup` of each task are not timed. Mode 'compare' also returns
    every generation's time. impl 'shared' is this project with --tournament
    shared; 'plain' puts the plain TF1 tournament of bench/plain_tf1.py in
    the same loop ('plain_cond': its --forward cond variant). The random
    streams are the driver's (binary_mnist_pathnet.experiment), so the same
    seed gives the same data, minibatch order and first pairs everywhere
    (plain_tf1 draws its initial weights its own way)."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(PLAIN))
    sys.modules.setdefault('keras', None)
    import numpy as np
    import binary_mnist_pathnet as driver
    import input_data
    import pathnet
    from lockstep.scheduler import alone
    args = driver.parse_args(['--seed', str(seed), '--max_steps', str(warmup + generations),
                              '--threads', str(threads), '--quiet'] +
                             (['--tournament', 'shared'] if impl == 'shared' else []))
    args.threshold = 2.0
    data = input_data.load_mnist(input_data.default_data_dir(None))
    ticks = []

    class Ticks(driver.Report):
        def generation(self, task, *_):
            ticks.append((task, time.perf_counter()))
    args.val_every = 0    # held-out evaluations at the end (and the curve's few) only
    ex = driver.Experiment(args, Ticks(args), driver.Stop())
    pairs = ((args.a1, args.a2), (args.b1, args.b2))
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b,
                                    args.noise, ex.data_rng) for a, b in pairs]
    ex.validation = [input_data.binary_task(data['validation_images'], data['validation_labels'],
                                            a, b, args.noise, ex.data_rng) for a, b in pairs]
    del data
    if impl in PLAIN_VARIANTS:
        import plain_tf1
        net = plain_tf1.PlainPathNet(seed=seed, forward=PLAIN_VARIANTS[impl])
    else:
        net = pathnet.PathNet(tournament=args.tournament)
    out = {'ops_before': len(net.graph.get_operations())}
    with pathnet.session(net, threads) as sess:
        sess.run(net.init)
        frozen = keep = np.zeros((args.L, args.M), np.float32)
        for task in (0, 1):
            net.start_task(sess, task, *train[task], keep, ex.init_rng)
            ticks.append((task, time.perf_counter()))
            r = alone(driver.evolve(net, sess, ex, task, frozen,
                                    input_data.Batcher(len(train[task][0]), ex.batch_rng)),
                      net, sess)
            frozen = keep = r.mask
    for task in (0, 1):
        t = [b - a for (ta, a), (tb, b) in zip(ticks, ticks[1:]) if ta == tb == task]
        out['task%d' % (task + 1)] = summary([1000 * x for x in t[warmup:]])
        if mode == 'compare':
            out['task%d' % (task + 1)]['ms'] = [round(1000 * x, 3) for x in t[warmup:]]
    out['ops_after'] = len(net.graph.get_operations())
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def section(generations, threads):
    """One process per thread count (a str: 0 is TensorFlow's own choice)."""
    return {t: run_child('generations', generations, int(t)) for t in threads}


def report(per_generation, a):
    lines = ['', 'ms per generation (median [p10, p90] over %d generations per task)'
             % a.generations]
    for t, r in per_generation.items():
        lines.append('  threads %-3s task 1 %6.2f [%.2f, %.2f]   task 2 %6.2f [%.2f, %.2f]'
                     % (t, r['task1']['median_ms'], r['task1']['p10_ms'], r['task1']['p90_ms'],
                        r['task2']['median_ms'], r['task2']['p10_ms'], r['task2']['p90_ms']))
    return lines
