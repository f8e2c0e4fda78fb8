"""The `kernels` section: why more slots do not buy more experiments here.
For each K, in a process of its own with ONE TensorFlow thread (as each of
the auto script's processes runs):

- tournament: the median milliseconds of one lockstep tournament of K slots
  (PathNet.tournaments, random images, nothing traced), per slot;
- split: a FULL_TRACE of a few such tournaments, each op's own run time
  (op start to op end, not the scheduler's wait) summed by kind, per slot;
- layer 1: the work no batching shares, alone: per training step, layer 1's
  forward matmul [16, 784] x [784, 120], its weight gradient
  [784, 16] x [16, 120] and Adam on the [784, 120] copy, for K slots either
  as today (one matmul pair and one ApplyAdam per slot) or batched (one
  batched matmul pair and one ApplyAdam over a [K, 784, 120] stack: the
  "next step" docs/speed.md once proposed), per slot per tournament (50
  steps).

    python bench/benchmark.py --sections kernels --kernels_ks 1,2,4,8 --out bench/kernels
    python bench/bench_kernels.py --child 4       # one K, its numbers as JSON
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from bench_common import ROOT
from bench_slots import KINDS

STEPS = 50          # a tournament's minibatches (the default T)
SHAPES = dict(batch=16, inputs=784, columns=120)   # 2 candidates x 3 modules x 20 units


def requests(pathnet, rng, k, none):
    return [pathnet.Tournament(0, np.stack([pathnet.path_mask(p, 10) for p in
            pathnet.random_population(rng, 2, 3, 10, 3)]), none,
            rng.integers(0, 2000, (STEPS, 16))) for _ in range(k)]


def tournaments(k, rounds=30, traced=5):
    """Untraced median ms per lockstep tournament of k slots, and the traced
    op time by kind per round."""
    import pathnet
    from pathnet import tf
    net = pathnet.PathNet(slots=k)
    rng = np.random.default_rng(0)
    x = (rng.random((2000, 784)) < 0.3).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 2000)]
    none = np.zeros((3, 10), np.float32)
    walls, kinds = [], {}
    with pathnet.session(net, 1) as sess:
        sess.run(net.init)
        for s in range(k):
            net.start_task(sess, 0, x, y, none, np.random.default_rng(s), slot=s)
        for r in range(rounds + 3):
            batch = requests(pathnet, rng, k, none)
            t0 = time.perf_counter()
            net.tournaments(sess, batch)
            if r >= 3:          # the first runs pay one-off costs
                walls.append(time.perf_counter() - t0)
        feeds = {net.task_of_slot: [0] * k, net.frozen: np.stack([none] * k),
                 net.noise_seed: [0] * k}
        for r in range(traced):
            batch = requests(pathnet, rng, k, none)
            feeds.update({net.geopath: np.stack([q.masks for q in batch]),
                          net.batches: np.stack([q.batches for q in batch])})
            meta = tf.RunMetadata()
            sess.run(net.tournament_op, feeds, options=tf.RunOptions(
                trace_level=tf.RunOptions.FULL_TRACE), run_metadata=meta)
            for dev in meta.step_stats.dev_stats:
                for node in dev.node_stats:
                    op = node.timeline_label.split('(')[0].split('=')[-1].strip() or node.node_name
                    kind = next((n for n, pats in KINDS if any(p in op for p in pats)), 'other')
                    micros = node.op_end_rel_micros - node.op_start_rel_micros
                    kinds[kind] = kinds.get(kind, 0) + micros / 1000 / traced
    return {'ms_per_slot': round(1000 * statistics.median(walls) / k, 2),
            'traced_ms_by_kind_per_slot': {n: round(v / k, 2) for n, v in sorted(kinds.items())}}


def layer1(k, batched, rounds=15):
    """Median ms per slot of STEPS steps of layer 1's forward, weight gradient
    and Adam, for k slots: per-slot kernels, or one batched set over the k."""
    from pathnet import tf
    B, I, C = SHAPES['batch'], SHAPES['inputs'], SHAPES['columns']
    graph = tf.Graph()
    with graph.as_default():
        def adam(var, m, v, grad):
            return tf.raw_ops.ApplyAdam(var=var, m=m, v=v, beta1_power=0.9, beta2_power=0.999,
                                        lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                                        grad=grad)
        x = tf.Variable(tf.random.uniform([k, B, I]))
        shape = [k, I, C] if batched else [I, C]
        state = [[tf.Variable(tf.random.uniform(shape) * 0.1), tf.Variable(tf.zeros(shape)),
                  tf.Variable(tf.zeros(shape))] for _ in range(1 if batched else k)]

        def body(i, total):
            with tf.control_dependencies([i]):
                pairs = [(x, state[0])] if batched else [(x[s], state[s]) for s in range(k)]
                updates, sums = [], []
                for xs, (w, m, v) in pairs:
                    z = tf.matmul(xs, w)
                    dz = tf.nn.relu(z) * 0.01        # a stand-in for the layers above
                    updates.append(adam(w, m, v, tf.matmul(xs, dz, transpose_a=True)))
                    sums.append(tf.reduce_sum(z))
            with tf.control_dependencies(updates):
                return i + 1, total + tf.add_n(sums)
        loop = tf.while_loop(lambda i, _: i < STEPS, body, [tf.constant(0), tf.constant(0.0)],
                             parallel_iterations=1)
        init = tf.global_variables_initializer()
    config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    walls = []
    with tf.Session(graph=graph, config=config) as sess:
        sess.run(init)
        for r in range(rounds + 3):
            t0 = time.perf_counter()
            sess.run(loop)
            if r >= 3:
                walls.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(walls) / k, 2)


def child(k):
    sys.path.insert(0, ROOT)
    out = {'k': k}
    out.update(tournaments(k))
    out['layer1_ms_per_slot'] = {'per_slot': layer1(k, False), 'batched': layer1(k, True)}
    return out


def section(ks):
    """Each K in a process of its own (one K's graph and memory do not touch
    another's timing)."""
    return {'runs': [json.loads(subprocess.run(
        [sys.executable, __file__, '--child', str(k)], stdout=subprocess.PIPE,
        universal_newlines=True, check=True).stdout.splitlines()[-1]) for k in ks]}


def report(m, a=None):
    runs = m['runs']
    base = runs[0]['ms_per_slot']
    lines = ['', 'kernels: one thread, ms per slot per tournament (%d minibatches); '
             'layer 1 = its forward, weight gradient and Adam alone' % STEPS]
    for r in runs:
        l1 = r['layer1_ms_per_slot']
        lines.append('  K=%-2d tournament %5.2f ms/slot (%.2fx K=%d)  layer 1 %5.2f per slot, '
                     '%5.2f batched  traced: %s' % (
                         r['k'], r['ms_per_slot'], base / r['ms_per_slot'], runs[0]['k'],
                         l1['per_slot'], l1['batched'], ', '.join(
                             '%s %.1f' % kv for kv in r['traced_ms_by_kind_per_slot'].items())))
    return lines


if __name__ == '__main__':
    if sys.argv[1:2] != ['--child']:
        sys.exit(__doc__)
    print(json.dumps(child(int(sys.argv[2]))))
