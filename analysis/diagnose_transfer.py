"""Why the positive control (task 2 = task 1) does not transfer at the 0.998
threshold. For each seed: task 1 (5 vs 6) is evolved as in the experiment,
then task 2 starts under `pathnet` (task 1's path frozen, a fresh readout)
on the same classes, and three things are measured:

  1. task 1's path alone (both candidates of every tournament are that path,
     so only the fresh readout trains): its fitness in the first tournament,
     its held-out validation accuracy after it, and the generations it needs
     to reach the threshold (--probe_cap at most), on
       new:  task 2's own training images (the same classes, noise drawn
             anew, as the positive control runs), and
       same: task 1's training images, noise and all;
  2. in task 2's real evolution (on `new`), how many candidates were task 1's
     path, and how many shared at least 6 of its modules;
  3. the generations that evolution took.

If the path reaches 0.998 on `same` but not on `new`, the threshold measures
memorising the noisy training images: frozen modules cannot learn new noise.

    python -m analysis.diagnose_transfer [--seeds 1000-1009] [FLAGS of the driver...]
"""
import sys

import numpy as np

import binary_mnist_pathnet as driver
import input_data
from lockstep.scheduler import alone
from report import Report
from stop import Stop


class Quiet(Report):
    def generation(self, *a):
        pass

    def task(self, *a):
        pass


def probe(net, sess, ex, path, images, labels, validation, cap):
    """Train only the readout on task 1's frozen path: (first fitness, validation
    accuracy after the first tournament, generations to the threshold or None)."""
    args = ex.args
    net.start_task(sess, 1, images, labels, path, ex.init_rng)
    batcher = input_data.Batcher(len(images), np.random.default_rng(ex.seed))
    shape = (args.T, args.batch_size) if args.tournament == 'restore' else \
        (2, args.T, args.batch_size)
    first = accuracy = None
    for g in range(1, cap + 1):
        correct, _, _ = net.tournament(sess, 1, np.stack([path, path]), path,
                                       batcher.take(int(np.prod(shape))).reshape(shape))
        fitness = correct[0] / (args.T * args.batch_size)
        if g == 1:
            first, accuracy = fitness, net.evaluate(sess, 1, path, *validation)
        if fitness >= args.threshold:
            return first, accuracy, g
    return first, accuracy, None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cap = 100
    if '--probe_cap' in argv:
        i = argv.index('--probe_cap')
        cap = int(argv[i + 1])
        del argv[i:i + 2]
    args = driver.parse_args(argv if '--seeds' in argv or '--seed' in argv
                             else argv + ['--seeds', '1000-1009'])
    args.b1, args.b2 = args.a1, args.a2          # the positive control
    data = input_data.load_mnist(input_data.default_data_dir(args.data_dir))
    sys.modules.setdefault('keras', None)
    import pathnet
    net = pathnet.PathNet(L=args.L, M=args.M, N=args.N, filt=args.filt, T=args.T,
                          batch_size=args.batch_size, learning_rate=args.learning_rate,
                          optimizer=args.optimizer, tasks=2, tournament=args.tournament,
                          aggregate=args.aggregate)
    tried = []
    real = net.tournaments

    def tournament(sess, requests):
        if requests[0].task == 1:
            tried.extend(np.array(requests[0].masks))
        return real(sess, requests)
    print('seed  task1  path1 fitness/val after 1 tournament, generations to %.3f (cap %d): '
          'new images | same images   evolution: candidates = path1, >= 6 of its modules, '
          'task-2 generations' % (args.threshold, cap))
    with pathnet.session(net, args.threads) as sess:
        for seed in args.seeds:
            args.seed = seed
            ex = driver.Experiment(args, Quiet(args), Stop())
            pair = (args.a1, args.a2)
            train = [input_data.binary_task(data['train_images'], data['train_labels'],
                                            *pair, args.noise, ex.data_rng) for _ in (0, 1)]
            ex.validation = [input_data.binary_task(data['validation_images'],
                                                    data['validation_labels'], *pair,
                                                    args.noise, ex.data_rng)] * 2
            sess.run(net.init)
            none = np.zeros((args.L, args.M), np.float32)
            net.start_task(sess, 0, *train[0], none, ex.init_rng)
            t1 = alone(driver.evolve(net, sess, ex, 0, none, input_data.Batcher(
                len(train[0][0]), ex.batch_rng)), net, sess)
            path = t1.mask
            saved = sess.run(net.params + net.moments[0] + net.moments[1])
            out = []
            for images, labels in (train[1], train[0]):
                for var, value in zip(net.params + net.moments[0] + net.moments[1], saved):
                    var.load(value, sess)
                out.append(probe(net, sess, ex, path, images, labels, ex.validation[1], cap))
            for var, value in zip(net.params + net.moments[0] + net.moments[1], saved):
                var.load(value, sess)
            net.start_task(sess, 1, *train[1], path, ex.init_rng)
            del tried[:]
            net.tournaments = tournament
            t2 = alone(driver.evolve(net, sess, ex, 1, path, input_data.Batcher(
                len(train[1][0]), ex.batch_rng)), net, sess)
            net.tournaments = real
            same = sum(np.array_equal(m, path) for m in tried)
            most = sum(int(np.sum((m > 0) & (path > 0))) >= 6 for m in tried)
            print('%4d  %5d  %s | %s   %d of %d, %d, %d%s' % (
                seed, t1.generations,
                *('%.3f/%.3f, %s' % (f, a, g or '>%d' % cap) for f, a, g in out),
                same, len(tried), most, t2.generations, '' if t2.converged else ' (cap)'),
                flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
