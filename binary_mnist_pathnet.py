"""PathNet's binary-MNIST transfer experiment (Fernando et al. 2017).

Task 1 (5 vs 6) is evolved by tournament selection until solved, its winning
path is frozen, then a fresh population evolves task 2 (6 vs 7) on the same
super network. One row per experiment goes to the results log.

    python binary_mnist_pathnet.py [--seed 1 | --seeds 0-99] [--quiet] ...
"""
import signal
import sys
import time

PROCESS_START = time.time()   # before the imports: they count as start-up


class Interrupted(Exception):
    pass


class Stop:
    """Ctrl-C, SIGTERM and the death of the batch that started this run only
    record a request; the run stops at the next safe point (between
    tournaments, between experiments, before a row is written). Raising from
    the signal handler while TensorFlow's C++ code was on the stack aborted
    or crashed runs. Installed before the other imports, so a signal from
    the script's first lines on (all but the interpreter's own first ~20 ms)
    ends with the same line and exit 130."""

    def __init__(self, parent=None):
        self.signal, self.parent, self.child = None, parent, False

    def watch(self, parent):
        """Stop when the batch with this pid is gone."""
        self.parent, self.child = parent, os.getppid() == parent

    def install(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._record)
        return self

    def _record(self, sig, _frame):
        self.signal = self.signal or sig

    def requested(self):
        # A batch killed with -9 cannot signal its runs: they notice that it
        # is gone, or (its direct children) that they have a new parent
        # while it is not yet reaped.
        if self.parent is not None and (self.child and os.getppid() != self.parent
                                        or not alive(self.parent)):
            self.signal = self.signal or signal.SIGTERM
        return self.signal is not None

    def check(self):
        if self.requested():
            raise Interrupted


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process: it exists
        pass
    return True


if __name__ == '__main__':
    STOP = Stop().install()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import numpy as np  # noqa: E402

import input_data  # noqa: E402
import results_log  # noqa: E402

# Not in the settings column: flags that change where output goes or how
# fast, never what is computed, and those with columns of their own.
NOT_SETTINGS = {'seed', 'seeds', 'control', 'data_dir', 'results', 'log_dir', 'quiet',
                'threads', 'path_history', 'history_every'}
# Transfer can be read at several thresholds from the same runs: the first
# generation whose winner reached each of these is recorded too.
REACHED = (0.95, 0.98, 0.99)


def seed_list(text):
    """'3-5' -> [3, 4, 5]; '1,4,9' and mixes like '0-3,7' too."""
    seeds = []
    for part in text.split(','):
        a, dash, b = part.strip().partition('-')
        if not a.isdigit() or (dash and not b.isdigit()):
            raise argparse.ArgumentTypeError('expected seeds like 3-5 or 1,4,9, got %r' % text)
        lo, hi = int(a), int(b or a)
        if lo > hi or hi >= 2 ** 31:
            raise argparse.ArgumentTypeError('bad seed range %r (0 <= A <= B < 2^31)' % part)
        seeds += range(lo, hi + 1)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError('a seed is given twice in %r' % text)
    return seeds


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
    p.add_argument('--noise_mode', choices=['fixed', 'fresh'], default='fixed',
                   help='draw each training image\'s noise once (fixed) or at every use (fresh)')
    p.add_argument('--tournament', choices=['restore', 'shared'], default='restore',
                   help='restore: both candidates train from the same state, the winner\'s '
                        'training is kept; shared (the paper\'s): A trains, then B from where '
                        'A left the network, both kept')
    p.add_argument('--aggregate', choices=['sum', 'mean'], default='sum',
                   help='how a layer combines its active modules')
    p.add_argument('--control', choices=['pathnet', 'scratch', 'finetune'], default='pathnet',
                   help='task 2: freeze task 1\'s path (pathnet), start from a fresh network '
                        '(scratch), or from all of task 1\'s weights, nothing frozen (finetune)')
    seed = p.add_mutually_exclusive_group()
    seed.add_argument('--seed', type=int, default=None,
                      help='random seed; when not given, one is drawn and logged')
    seed.add_argument('--seeds', type=seed_list, default=None,
                      help='several experiments in this process, one after another: A-B or A,B,C')
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
    if args.seeds is None:
        if args.seed is None:
            args.seed = int.from_bytes(os.urandom(4), 'little') >> 1
        elif not 0 <= args.seed < 2 ** 31:
            p.error('--seed must be in 0..2^31-1')
        args.seeds = [args.seed]
    args.defaults = {a.dest: a.default for a in p._actions}
    return args


def settings(args):
    """The settings that differ from the defaults, as command-line flags."""
    return ' '.join('--%s=%s' % (k, v) for k, v in sorted(vars(args).items())
                    if k in args.defaults and k not in NOT_SETTINGS and v != args.defaults[k])


def check_writable(path, folder=False):
    """Fail before training, not after it, and create nothing: a failed or
    interrupted run leaves no empty file behind."""
    if path is None:
        return
    if os.path.exists(path):
        if os.path.isdir(path) != folder:
            raise OSError('cannot write %s: it is %s' % (
                path, 'a folder' if not folder else 'not a folder'))
        if not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
            raise OSError('cannot write %s: permission denied' % path)
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OSError('cannot write %s: %s is not a folder' % (path, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError('cannot write %s: %s is not writable' % (path, parent))


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


class TaskResult:
    def __init__(self, generations, converged, diverged, mask, fitness, reached):
        self.generations, self.converged, self.diverged = generations, converged, diverged
        self.mask, self.fitness, self.reached = mask, fitness, reached


def evolve(net, sess, task, frozen, batcher, rngs, args, log, history, stop):
    """One task: tournaments on a fresh random population until a winner's
    fitness reaches the threshold, the network diverges (a non-finite loss)
    or max_steps generations are played."""
    from pathnet import random_population, mutate, path_mask
    rng, noise_rng = rngs
    population = random_population(rng, args.candi, args.L, args.M, args.N)
    images_per_candidate = args.T * args.batch_size
    # shared: each candidate trains on minibatches of its own.
    shape = (args.T, args.batch_size) if args.tournament == 'restore' else \
        (2, args.T, args.batch_size)

    def snapshot(generation):
        if history is not None:
            counts = sum(path_mask(p, args.M) for p in population).astype(int)
            history.append({'seed': args.seed, 'task': task + 1, 'generation': generation,
                            'population': args.candi, 'counts': counts.tolist()})
    best, start, reached = 0.0, time.time(), {}
    for generation in range(1, args.max_steps + 1):
        stop.check()
        pair = rng.choice(args.candi, size=2, replace=False)
        masks = np.stack([path_mask(population[i], args.M) for i in pair])
        batches = batcher.take(int(np.prod(shape))).reshape(shape)
        noise_seed = int(noise_rng.integers(2 ** 62)) if args.noise_mode == 'fresh' else 0
        correct, w, finite = net.tournament(sess, task, masks, frozen, batches, noise_seed)
        fitness = correct / images_per_candidate
        winner, loser = pair[w], pair[1 - w]
        population[loser] = mutate(population[winner], rng, args.M)
        best = max(best, fitness[w])
        log(task, generation, fitness, best, time.time() - start)
        if not finite:
            print('warning: seed %d: task %d diverged at generation %d (non-finite loss); '
                  'recorded as not converged' % (args.seed, task + 1, generation),
                  file=sys.stderr, flush=True)
            snapshot(generation)
            return TaskResult(generation, False, True, masks[w], fitness[w], reached)
        for level in REACHED:
            if level not in reached and fitness[w] >= level:
                reached[level] = generation
        solved = fitness[w] >= args.threshold
        if generation % args.history_every == 0 or solved or generation == args.max_steps:
            snapshot(generation)
        if solved:
            return TaskResult(generation, True, False, masks[w], fitness[w], reached)
    return TaskResult(args.max_steps, False, False, masks[w], fitness[w], reached)


def experiment(net, sess, data, args, stop, log, history):
    """One experiment (both tasks) for args.seed on an already built graph:
    everything is re-initialised from the seed, so its row does not depend
    on what ran before it in this process. Returns the row."""
    import pathnet
    started = time.time()
    streams = np.random.SeedSequence(args.seed).spawn(5)
    data_rng, evo_rng, batch_rng, init_rng, noise_rng = (np.random.default_rng(s)
                                                        for s in streams)
    tasks = [(args.a1, args.a2), (args.b1, args.b2)]
    # fresh: the stored training images are clean and the graph adds noise
    # at every use; the test images get theirs once, as under fixed.
    train_noise = args.noise if args.noise_mode == 'fixed' else 0.0
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b,
                                    train_noise, data_rng) for a, b in tasks]
    test = [input_data.binary_task(data['test_images'], data['test_labels'], a, b,
                                   args.noise, data_rng) for a, b in tasks]
    results = []
    sess.run(net.init)
    for task in (0, 1):
        keep, frozen = start_masks(args.control, task, results[0].mask if results else None,
                                   (args.L, args.M))
        images, labels = train[task]
        net.start_task(sess, task, images, labels, keep, init_rng)
        result = evolve(net, sess, task, frozen, Batcher(len(images), batch_rng),
                        (evo_rng, noise_rng), args, log, history, stop)
        print('task %d (%d vs %d) %s after %d generations, fitness %.4f, path %s'
              % (task + 1, tasks[task][0], tasks[task][1],
                 'solved' if result.converged else
                 'DIVERGED' if result.diverged else 'NOT solved',
                 result.generations, result.fitness, pathnet.mask_to_str(result.mask)),
              flush=True)
        results.append(result)
    accuracy = [net.evaluate(sess, task, results[task].mask, *test[task]) for task in (0, 1)]

    row = {'timestamp': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
           'seed': args.seed, 'control': args.control,
           'L': args.L, 'M': args.M, 'N': args.N,
           'overlap': pathnet.overlap(results[0].mask, results[1].mask),
           'seconds': '%.1f' % (time.time() - started), 'settings': settings(args)}
    for task, r in enumerate(results):
        t = 'task%d_' % (task + 1)
        row['task%d' % (task + 1)] = '%dv%d' % tasks[task]
        row[t + 'generations'] = r.generations
        row[t + 'converged'] = int(r.converged)
        row[t + 'diverged'] = int(r.diverged)
        row[t + 'fitness'] = '%.4f' % r.fitness
        row[t + 'test_accuracy'] = '%.4f' % accuracy[task]
        row[t + 'path'] = pathnet.mask_to_str(r.mask)
        for level in REACHED:
            row['%sgen_%.2f' % (t, level)] = r.reached.get(level, '')
        print('task %d test accuracy (%d vs %d, winning path): %.4f'
              % (task + 1, tasks[task][0], tasks[task][1], accuracy[task]))
    return row


def run(args, stop, done, failed):
    """Every experiment of args.seeds, one after another on one graph; the
    seeds written and those that failed go to `done` and `failed`."""
    results_log.check_log(args.results)
    check_writable(args.results)
    check_writable(args.path_history)
    check_writable(args.log_dir, folder=True)
    stop.check()
    started = time.time()
    data = input_data.load_mnist(input_data.default_data_dir(args.data_dir))
    input_data.require_classes(data, {args.a1, args.a2, args.b1, args.b2},
                               input_data.default_data_dir(args.data_dir))
    data_done = time.time()
    stop.check()

    # TensorFlow 2.x imports Keras at start-up when it is installed (0.4 s and
    # 50 MB here); this process never uses it.
    sys.modules.setdefault('keras', None)
    import pathnet
    imported = time.time()
    stop.check()
    net = pathnet.PathNet(L=args.L, M=args.M, N=args.N, filt=args.filt, T=args.T,
                          batch_size=args.batch_size, learning_rate=args.learning_rate,
                          optimizer=args.optimizer, tasks=2, tournament=args.tournament,
                          aggregate=args.aggregate,
                          fresh_noise=args.noise if args.noise_mode == 'fresh' else 0.0)
    print('ready %.1fs after start: imports %.1fs, data %.1fs, graph %.1fs'
          % (time.time() - PROCESS_START, started - PROCESS_START + imported - data_done,
             data_done - started, time.time() - imported), flush=True)
    several = len(args.seeds) > 1
    with pathnet.session(net, args.threads) as sess:
        for k, seed in enumerate(args.seeds):
            stop.check()
            args.seed = seed
            emit('start', seed)
            if several:
                print('experiment %d of %d: seed %d' % (k + 1, len(args.seeds), seed), flush=True)
            writer = None
            if args.log_dir:
                writer = pathnet.tf.summary.FileWriter(
                    os.path.join(args.log_dir, 'seed%d' % seed) if several else args.log_dir)
            history = [] if args.path_history else None
            try:
                row = experiment(net, sess, data, args, stop, progress(args, writer), history)
            except (Interrupted, KeyboardInterrupt):
                raise
            except Exception as e:   # one seed's failure must not cost the others
                print('error: seed %d failed: %s: %s' % (seed, type(e).__name__, first_line(e)),
                      file=sys.stderr, flush=True)
                emit('failed', seed, error='%s: %s' % (type(e).__name__, first_line(e)))
                failed.append(seed)
                continue
            finally:
                if writer:
                    writer.close()
            stop.check()     # a row only from a run that was not asked to stop
            write(args, row, history)
            emit('done', seed, task1_generations=row['task1_generations'],
                 task2_generations=row['task2_generations'], overlap=row['overlap'])
            done.append(seed)
    if several:
        print('seeds: %d done, %d failed%s' % (len(done), len(failed),
              ' (%s)' % ' '.join(map(str, failed)) if failed else ''), flush=True)


def emit(event, seed, **fields):
    """One JSON line for the batch that started this run (batch.py), appended
    to the file named by $PATHNET_EVENTS (unset: nothing). The console is
    flushed first and its byte position sent along, so the batch files each
    console line under the right experiment without reading the text."""
    path = os.environ.get('PATHNET_EVENTS')
    if not path:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        console = os.lseek(sys.stdout.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError):   # a pipe or a terminal has no position
        console = None
    line = json.dumps(dict(event=event, seed=seed, console=console, **fields)) + '\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode('utf-8'))
    finally:
        os.close(fd)


def first_line(error):
    """The informative line of an exception (TensorFlow's start with a
    generic 'Graph execution error:')."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    lines = [l for l in lines if not l.endswith('execution error:')] or lines or ['']
    return lines[0]


def progress(args, writer):
    """The per-generation report: a console line and TensorBoard scalars."""
    def log(task, generation, fitness, best, seconds):
        if writer:
            from pathnet import tf
            writer.add_summary(tf.Summary(value=[
                tf.Summary.Value(tag='task%d/fitness_%s' % (task + 1, c), simple_value=f)
                for c, f in zip('ab', fitness)] + [
                tf.Summary.Value(tag='task%d/best' % (task + 1), simple_value=best)]),
                generation)
        if not args.quiet:
            print('task %d  gen %4d  fitness %.4f %.4f  best %.4f  %6.1fs'
                  % (task + 1, generation, fitness[0], fitness[1], best, seconds), flush=True)
    return log


def write(args, row, history):
    """The row, the path history, then the 2017 summary line. Signals are only
    recorded meanwhile, so a row is never half written."""
    for path in (args.results, args.path_history if history else None):
        if path:
            os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    results_log.append_row(args.results, row)
    if history:
        results_log.append_locked(args.path_history,
                                  ''.join(json.dumps(h) + '\n' for h in history))
    print('Entire Iter:%d,TASK1:%d,TASK2:%d,Overlap:%d'
          % (row['task1_generations'] + row['task2_generations'], row['task1_generations'],
             row['task2_generations'], row['overlap']), flush=True)


def main(argv=None, stop=None):
    """Exit status: 0 all experiments written, 1 an error (or a seed failed),
    130 interrupted (the rows of finished experiments are kept)."""
    stop = stop or Stop()
    args = parse_args(argv)
    parent = os.environ.get('PATHNET_BATCH_PID')
    if parent and parent.isdigit():
        stop.watch(int(parent))
    done, failed = [], []
    try:
        run(args, stop, done, failed)
    except (Interrupted, KeyboardInterrupt):
        print('interrupted: %s' % ('nothing was written to %s' % args.results if not done else
              '%d finished experiment(s) kept in %s' % (len(done), args.results)),
              file=sys.stderr, flush=True)
        return 130
    except (input_data.MnistError, results_log.LogError, OSError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == '__main__':
    status = main(stop=STOP)
    # The outcome is decided. At exit Python restores the default handlers,
    # and a signal during TensorFlow's teardown (up to a second) would kill a
    # finished run; ignored handlers it leaves alone.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(status)
