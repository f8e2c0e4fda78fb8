"""PathNet's binary-MNIST transfer experiment (Fernando et al. 2017).

Task 1 (5 vs 6) is evolved by tournament selection until solved, its winning
path is frozen, then a fresh population evolves task 2 (6 vs 7) on the same
super network. One row per experiment goes to the results log.

    python binary_mnist_pathnet.py [--seed 1] [--quiet] ...
"""
import time

PROCESS_START = time.time()   # before the imports: they count as start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import numpy as np  # noqa: E402

import input_data  # noqa: E402
from results_log import append_locked, append_row  # noqa: E402

# Not in the settings column: flags that change where output goes or how
# fast, never what is computed, and those with columns of their own.
NOT_SETTINGS = {'seed', 'control', 'data_dir', 'results', 'log_dir', 'quiet', 'threads',
                'path_history', 'history_every'}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    def positive(v):
        n = int(v)
        if n < 1:
            raise argparse.ArgumentTypeError('must be at least 1, got %s' % v)
        return n
    def digit(v):
        n = int(v)
        if not 0 <= n <= 9:
            raise argparse.ArgumentTypeError('a class is a digit 0..9, got %s' % v)
        return n
    def rate(v):
        x = float(v)
        if not 0 <= x <= 1:
            raise argparse.ArgumentTypeError('must be in [0, 1], got %s' % v)
        return x
    p.add_argument('--L', type=positive, default=3, help='layers')
    p.add_argument('--M', type=positive, default=10, help='modules per layer')
    p.add_argument('--N', type=positive, default=3, help='max active modules per layer on a path')
    p.add_argument('--T', type=positive, default=50, help='minibatches per candidate per tournament')
    p.add_argument('--filt', type=positive, default=20, help='units per module')
    p.add_argument('--candi', type=positive, default=64, help='population size')
    p.add_argument('--learning_rate', type=float, default=0.001)
    p.add_argument('--max_steps', type=positive, default=1000, help='generation cap per task')
    p.add_argument('--a1', type=digit, default=5, help='task 1, first class')
    p.add_argument('--a2', type=digit, default=6, help='task 1, second class')
    p.add_argument('--b1', type=digit, default=6, help='task 2, first class')
    p.add_argument('--b2', type=digit, default=7, help='task 2, second class')
    p.add_argument('--batch_size', type=positive, default=16)
    p.add_argument('--optimizer', choices=['adam', 'sgd'], default='adam')
    p.add_argument('--threshold', type=float, default=0.998,
                   help='fitness (training accuracy over a tournament) that solves a task')
    p.add_argument('--noise', type=rate, default=0.5, help='salt-and-pepper pixel probability')
    p.add_argument('--control', choices=['pathnet', 'scratch', 'finetune'], default='pathnet',
                   help='task 2: freeze task 1\'s path (pathnet), start from a fresh network '
                        '(scratch), or from all of task 1\'s weights, nothing frozen (finetune)')
    p.add_argument('--seed', type=int, default=None,
                   help='random seed; when not given, one is drawn and logged')
    p.add_argument('--data_dir', default=None,
                   help='MNIST folder; when not given, $MNIST_DATA_DIR, else ./MNIST_data')
    p.add_argument('--results', default='results/binary_mnist_pathnet.csv', help='results log')
    p.add_argument('--log_dir', default=None, help='TensorBoard scalars per generation')
    p.add_argument('--threads', type=int, default=1,
                   help='TensorFlow threads for this process (0: TensorFlow decides)')
    p.add_argument('--path_history', default=None,
                   help='append the population\'s module-usage counts (JSON lines) to this file')
    p.add_argument('--history_every', type=positive, default=10,
                   help='generations between --path_history snapshots')
    p.add_argument('--quiet', action='store_true', help='no per-generation progress lines')
    args = p.parse_args(argv)
    if args.N > args.M:
        p.error('--N (%d) must not exceed --M (%d)' % (args.N, args.M))
    if args.a1 == args.a2 or args.b1 == args.b2:
        p.error('the two classes of a task must differ')
    if not 0 < args.threshold <= 1:
        p.error('--threshold must be in (0, 1], got %g' % args.threshold)
    if args.candi < 2:
        p.error('--candi (population size) must be at least 2 for a tournament')
    if not args.learning_rate > 0:
        p.error('--learning_rate must be positive')
    if args.threads < 0:
        p.error('--threads must be 0 or more')
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), 'little') >> 1
    elif not 0 <= args.seed < 2 ** 31:
        p.error('--seed must be in 0..2^31-1')
    args.defaults = {a.dest: a.default for a in p._actions}
    return args


def settings(args):
    """The settings that differ from the defaults, as command-line flags."""
    return ' '.join('--%s=%s' % (k, v) for k, v in sorted(vars(args).items())
                    if k in args.defaults and k not in NOT_SETTINGS and v != args.defaults[k])


def check_writable(path):
    """Fail before training, not after it."""
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        with open(path, 'a'):
            pass
    except OSError as e:
        raise OSError('cannot write %s: %s' % (path, e.strerror or e))


class Interrupts:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, except while the results
    are being written: the run is complete then, and finishes, so it either
    records everything or nothing. (Blocking the signals instead does not
    work: TensorFlow's threads would still take them.)"""

    def __init__(self):
        self.holding = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, *_):
        if not self.holding:
            raise KeyboardInterrupt

    def __enter__(self):
        self.holding = True

    def __exit__(self, *exc):
        self.holding = False


class Batcher:
    """Minibatch indices, reshuffled every epoch with the run's generator."""

    def __init__(self, n, rng):
        self.n, self.rng, self.order, self.pos = n, rng, rng.permutation(n), 0

    def take(self, count):
        out = []
        while count:
            if self.pos == self.n:
                self.order, self.pos = self.rng.permutation(self.n), 0
            k = min(count, self.n - self.pos)
            out.append(self.order[self.pos:self.pos + k])
            self.pos += k
            count -= k
        return np.concatenate(out)


def start_masks(control, task, path1, shape):
    """(keep, frozen) [L, M] for the start of a task: the modules that keep
    their weights (the rest are re-initialised) and the frozen ones.
    Task 2 under pathnet keeps and freezes task 1's path; scratch starts
    from a fresh network; finetune keeps every module, freezing none."""
    none = np.zeros(shape, np.float32)
    if task == 0 or control == 'scratch':
        return none, none
    if control == 'finetune':
        return np.ones(shape, np.float32), none
    return path1, path1


def evolve(net, sess, task, frozen, batcher, rng, args, log, history):
    """One task: tournaments on a fresh random population until a winner's
    fitness reaches the threshold or max_steps generations are played.
    Returns (generations, converged, winner's mask, winner's fitness)."""
    from pathnet import random_population, mutate, path_mask
    population = random_population(rng, args.candi, args.L, args.M, args.N)
    images_per_candidate = args.T * args.batch_size

    def snapshot(generation):
        if history is not None:
            counts = sum(path_mask(p, args.M) for p in population).astype(int)
            history.append({'seed': args.seed, 'task': task + 1, 'generation': generation,
                            'population': args.candi, 'counts': counts.tolist()})
    best, start = 0.0, time.time()
    for generation in range(1, args.max_steps + 1):
        pair = rng.choice(args.candi, size=2, replace=False)
        masks = np.stack([path_mask(population[i], args.M) for i in pair])
        batches = batcher.take(images_per_candidate).reshape(args.T, args.batch_size)
        correct, w = net.tournament(sess, task, masks, frozen, batches)
        fitness = correct / images_per_candidate
        winner, loser = pair[w], pair[1 - w]
        population[loser] = mutate(population[winner], rng, args.M)
        best = max(best, fitness[w])
        log(task, generation, fitness, best, time.time() - start)
        solved = fitness[w] >= args.threshold
        if generation % args.history_every == 0 or solved or generation == args.max_steps:
            snapshot(generation)
        if solved:
            return generation, True, masks[w], fitness[w]
    return args.max_steps, False, masks[w], fitness[w]


def run(args, interrupts):
    check_writable(args.results)
    check_writable(args.path_history)
    started = time.time()
    data = input_data.load_mnist(input_data.default_data_dir(args.data_dir))
    seeds = np.random.SeedSequence(args.seed).spawn(3)
    data_rng, evo_rng, batch_rng = (np.random.default_rng(s) for s in seeds)
    tasks = [(args.a1, args.a2), (args.b1, args.b2)]
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b,
                                    args.noise, data_rng) for a, b in tasks]
    test = [input_data.binary_task(data['test_images'], data['test_labels'], a, b,
                                   args.noise, data_rng) for a, b in tasks]
    del data
    data_done = time.time()

    # TensorFlow 2.x imports Keras at start-up when it is installed (0.4 s and
    # 50 MB here); this process never uses it.
    sys.modules.setdefault('keras', None)
    import pathnet
    imported = time.time()
    net = pathnet.PathNet(L=args.L, M=args.M, N=args.N, filt=args.filt, T=args.T,
                          batch_size=args.batch_size, learning_rate=args.learning_rate,
                          optimizer=args.optimizer, tasks=2, seed=args.seed)
    writer = None
    if args.log_dir:
        writer = pathnet.tf.summary.FileWriter(args.log_dir, net.graph)

    def log(task, generation, fitness, best, seconds):
        if writer:
            tf = pathnet.tf
            writer.add_summary(tf.Summary(value=[
                tf.Summary.Value(tag='task%d/fitness_%s' % (task + 1, c), simple_value=f)
                for c, f in zip('ab', fitness)] + [
                tf.Summary.Value(tag='task%d/best' % (task + 1), simple_value=best)]),
                generation)
        if not args.quiet:
            print('task %d  gen %4d  fitness %.4f %.4f  best %.4f  %6.1fs'
                  % (task + 1, generation, fitness[0], fitness[1], best, seconds), flush=True)

    print('ready %.1fs after start: imports %.1fs, data %.1fs, graph %.1fs'
          % (time.time() - PROCESS_START, started - PROCESS_START + imported - data_done,
             data_done - started, time.time() - imported), flush=True)
    L, M = args.L, args.M
    results = []
    history = [] if args.path_history else None
    with pathnet.session(net, args.threads) as sess:
        sess.run(net.init)
        for task in (0, 1):
            keep, frozen = start_masks(args.control, task, results[0][2] if results else None,
                                       (L, M))
            images, labels = train[task]
            train[task] = None         # the graph holds its own copy from here on
            net.start_task(sess, task, images, labels, keep)
            batcher = Batcher(len(images), batch_rng)
            del images, labels
            generations, converged, mask, fitness = evolve(
                net, sess, task, frozen, batcher, evo_rng, args, log, history)
            print('task %d (%d vs %d) %s after %d generations, fitness %.4f, path %s'
                  % (task + 1, tasks[task][0], tasks[task][1],
                     'solved' if converged else 'NOT solved', generations, fitness,
                     pathnet.mask_to_str(mask)), flush=True)
            results.append((generations, converged, mask, fitness))
        accuracy = [net.evaluate(sess, task, results[task][2], *test[task]) for task in (0, 1)]
    if writer:
        writer.close()

    overlap = pathnet.overlap(results[0][2], results[1][2])
    row = {'timestamp': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
           'seed': args.seed, 'control': args.control,
           'L': args.L, 'M': args.M, 'N': args.N,
           'overlap': overlap, 'seconds': '%.1f' % (time.time() - started),
           'settings': settings(args)}
    for task in (0, 1):
        generations, converged, mask, fitness = results[task]
        t = 'task%d_' % (task + 1)
        row['task%d' % (task + 1)] = '%dv%d' % tasks[task]
        row[t + 'generations'] = generations
        row[t + 'converged'] = int(converged)
        row[t + 'fitness'] = '%.4f' % fitness
        row[t + 'test_accuracy'] = '%.4f' % accuracy[task]
        row[t + 'path'] = pathnet.mask_to_str(mask)
        print('task %d test accuracy (%d vs %d, winning path): %.4f'
              % (task + 1, tasks[task][0], tasks[task][1], accuracy[task]))
    with interrupts:
        append_row(args.results, row)
        if history:
            append_locked(args.path_history, ''.join(json.dumps(h) + '\n' for h in history))
        print('Entire Iter:%d,TASK1:%d,TASK2:%d,Overlap:%d'
              % (results[0][0] + results[1][0], results[0][0], results[1][0], overlap),
              flush=True)
    return row


def main(argv=None):
    args = parse_args(argv)
    interrupts = Interrupts()
    try:
        run(args, interrupts)
    except KeyboardInterrupt:
        print('interrupted: nothing was written to %s' % args.results, file=sys.stderr)
        return 130
    except (input_data.MnistError, OSError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
