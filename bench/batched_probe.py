"""Would several experiments in one graph (all their candidates in one matmul)
pay on this CPU? Times one tournament's training loop for C = 2, 4 and 8
candidates (1, 2 and 4 experiments' worth) on the same minibatches, and checks
that candidates 0 and 1 get bit-identical results whatever C is (a row of a
seed must not depend on what it is batched with).

    python bench/batched_probe.py [--reps 60]

It is an upper bound on the gain: real batched experiments would each need
their own minibatches (a batched layer-1 matmul instead of a shared one), and
lockstep evolution of experiments that switch task at different generations.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402

import pathnet  # noqa: E402
from pathnet import PathNet, tf  # noqa: E402


def wide(C):
    """PathNet whose tournament trains C candidates and keeps the first."""
    class Wide(PathNet):
        # (Written before slots existed; kept runnable on the slot graph: one slot.)
        def _placeholders(self):
            super()._placeholders()
            self.geopath = tf.placeholder(tf.float32, [C, self.L, self.M], 'geopath_wide')

        def _tournament_op(self):
            correct, finite, step, keep = self._train(
                self.geopath[None], self.batches, tf.stack([self.slot[0].step]), 0)
            self.correct = correct[0]
            with tf.control_dependencies([keep([0])]):
                self.tournament_op = tf.assign(self.slot[0].step, step[0])
    return Wide()


def run(C, reps):
    net = wide(C)
    rng = np.random.default_rng(0)
    x = (rng.random((2000, 784)) < 0.3).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 2000)]
    none = np.zeros((3, 10), np.float32)
    sess = pathnet.session(net, 1)
    sess.run(net.init)
    net.start_task(sess, 0, x, y, none, np.random.default_rng(1))
    times, counts = [], []
    for r in range(reps):
        pop = pathnet.random_population(np.random.default_rng(r), C, 3, 10, 3)
        masks = np.stack([pathnet.path_mask(p, 10) for p in pop])
        feed = {net.task_of_slot: [0], net.frozen: none[None], net.noise_seed: [0],
                net.batches: np.random.default_rng(1000 + r).integers(0, 2000, (1, 50, 16))}
        feed[net.geopath] = masks
        t = time.perf_counter()
        correct, _ = sess.run([net.correct, net.tournament_op], feed)
        times.append(time.perf_counter() - t)
        counts.append(correct[:2].copy())
    return np.median(times[5:]) * 1000, counts, sess.run(net.weights[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--reps', type=int, default=60)
    args = p.parse_args()
    base_ms, base_counts, base_w = run(2, args.reps)
    print('C=2: %.1f ms per tournament (1 experiment)' % base_ms)
    for C in (4, 8):
        ms, counts, w = run(C, args.reps)
        same = all((a == b).all() for a, b in zip(base_counts, counts)) and \
            np.array_equal(base_w, w)
        print('C=%d: %.1f ms per tournament, %.1f ms per experiment (%.2fx of C=2); '
              'candidates 0-1 bit-identical to C=2: %s' % (C, ms, ms / (C // 2),
                                                         base_ms / (ms / (C // 2)), same))


if __name__ == '__main__':
    main()
