"""PathNet's binary-MNIST transfer experiment (Fernando et al. 2017).

Task 1 (5 vs 6) is evolved by tournament selection until solved, its winning
path is frozen, then a fresh population evolves task 2 (6 vs 7) on the same
super network. One row per experiment goes to the results log.

    python binary_mnist_pathnet.py [--seed 1 | --seeds 0-99] [--quiet] ...
"""
# First, before the slow imports: a signal from here on is only recorded.
from stop import STARTED, STOP, Interrupted, Stop, ignore_signals

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone

import numpy as np

import input_data
import results_log
from lockstep import scheduler
from report import Report
from results_log import LEVELS, VAL_LEVELS, TaskResult

# Not in the settings column: flags that change where output goes or how
# fast, never what is computed, and those with columns of their own.
NOT_SETTINGS = {'seed', 'seeds', 'control', 'data_dir', 'results', 'log_dir', 'quiet',
                'threads', 'path_history', 'history_every', 'slots'}
SLOTS = 1   # --slots' default: the best K of bench/bench_slots.py (docs/speed.md)


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
    # The 2017 script's names: the super network, the tournaments, the two tasks.
    for name, default, what in [
            ('L', 3, 'layers'), ('M', 10, 'modules per layer'),
            ('N', 3, 'max active modules per layer on a path'), ('filt', 20, 'units per module'),
            ('T', 50, 'minibatches per candidate per tournament'),
            ('batch_size', 16, 'images per minibatch'), ('candi', 64, 'population size'),
            ('max_steps', 1000, 'generation cap per task')]:
        p.add_argument('--' + name, type=positive, default=default, help=what)
    for name, default in (('a1', 5), ('a2', 6), ('b1', 6), ('b2', 7)):
        p.add_argument('--' + name, type=digit, default=default, help='task %d, %s class' % (
            ' ab'.index(name[0]), 'first' if name[1] == '1' else 'second'))
    p.add_argument('--learning_rate', type=float, default=0.001, help='the optimizer\'s step size')
    p.add_argument('--optimizer', choices=['adam', 'sgd'], default='adam',
                   help='Adam (its moments restored with the modules) or plain gradient descent')
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
    p.add_argument('--control', choices=results_log.CONTROLS, default='pathnet',
                   help='what task 2 starts from: task 1\'s path frozen, every other module '
                        're-initialised (pathnet) or kept (pathnet_noreinit); nothing frozen, '
                        'every module kept (finetune) or only task 1\'s path (finetune_reinit); '
                        'a fresh network (scratch)')
    p.add_argument('--task1_generations', type=positive, default=None,
                   help='train task 1 for exactly this many generations instead of until '
                        'the threshold (it is then recorded as converged if a winner reached '
                        'the threshold on the way); task 1\'s path is the last winner\'s')
    p.add_argument('--task2_generations', type=positive, default=None,
                   help='the same for task 2: a fixed budget of generations, read on its '
                        'held-out learning curve')
    p.add_argument('--train_images', type=positive, default=None,
                   help='task 2 trains on this many of its training images, half of each '
                        'class, drawn once per seed (an even number; default: all of them); '
                        'task 1 and every other draw are unchanged')
    p.add_argument('--val_every', type=int, default=5,
                   help='generations between evaluations of the winner on the task\'s '
                        'held-out validation images after the first 4*val_every, which are '
                        'all evaluated, until every level is reached; and at the end of each '
                        'task (0: only there). The first generation reaching each level is '
                        'recorded')
    seed = p.add_mutually_exclusive_group()
    seed.add_argument('--seed', type=int, default=None,
                      help='random seed; when not given, one is drawn and logged')
    seed.add_argument('--seeds', type=seed_list, default=None,
                      help='several experiments in this process, one after another: A-B or A,B,C')
    p.add_argument('--slots', type=positive, default=SLOTS,
                   help='experiments of --seeds run at once in one graph, in lockstep; each '
                        'seed\'s row is the same whatever the number')
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
    if args.val_every < 0:
        p.error('--val_every must be 0 or more')
    if args.train_images is not None and args.train_images % 2:
        p.error('--train_images must be even (half of each class), got %d' % args.train_images)
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


def start_masks(control, task, path1, shape):
    """(keep, frozen) [L, M] at the start of a task: the modules that keep their
    weights (the rest are re-initialised) and the frozen ones. Task 1 starts from a
    fresh network; task 2 from what its control says of task 1's path and of every
    other module."""
    none, every = np.zeros(shape, np.float32), np.ones(shape, np.float32)
    if task == 0:
        return none, none
    return {'pathnet': (path1, path1),             # the path frozen, the rest fresh
            'pathnet_noreinit': (every, path1),    # the path frozen, the rest kept
            'finetune': (every, none),             # everything kept, nothing frozen
            'finetune_reinit': (path1, none),      # the path kept, trainable; the rest fresh
            'scratch': (none, none)}[control]


class Experiment:
    """What one experiment's code needs beside the network: the flags, the seed's
    random streams, where it reports, and whether it was asked to stop. The streams are
    independent children of the seed: data (noise, test noise), evolution (populations,
    pairs, mutations), minibatches, initial weights, fresh noise, and task 2's subset of
    training images (--train_images). SeedSequence's children are numbered, so the
    first five are those of spawn(5), as before the sixth existed: rows without
    --train_images are unchanged."""

    def __init__(self, args, report, stop, provenance=None, seed=None, slot=0):
        self.args, self.report, self.stop, self.slot = args, report, stop, slot
        self.seed = args.seed if seed is None else seed
        self.provenance = provenance or build()
        (self.data_rng, self.evo_rng, self.batch_rng, self.init_rng, self.noise_rng,
         self.subset_rng) = (np.random.default_rng(s)
                             for s in np.random.SeedSequence(self.seed).spawn(6))
        # The population's module usage, for --path_history; written with the row.
        self.history = [] if args.path_history else None
        self.validation = None   # each task's held-out images and labels (experiment())


def build():
    """What a row names as its maker: the code's version and the TensorFlow and NumPy
    that ran it."""
    from pathnet import tf
    return {'code_version': results_log.code_version(), 'tensorflow': tf.version.VERSION,
            'numpy': np.__version__}


def evolve(net, sess, ex, task, frozen, batcher):
    """A generator: it yields each tournament (pathnet.Tournament), is sent its
    outcome (correct counts, winner, finite) and returns the task's TaskResult.
    One task: tournaments on a fresh random population until a winner's fitness reaches the threshold (task 1 with --task1_generations: for exactly
    that many generations; task 2 with --task2_generations likewise), the network
    diverges (a non-finite loss) or max_steps generations are played. The winner
    is evaluated on the task's held-out validation images every --val_every
    generations and at the end (the levels), and at the curve's generations."""
    from pathnet import random_population, mutate, path_mask, Tournament
    args, rng = ex.args, ex.evo_rng
    fixed = (args.task1_generations, args.task2_generations)[task]
    cap = fixed or args.max_steps
    population = random_population(rng, args.candi, args.L, args.M, args.N)
    images_per_candidate = args.T * args.batch_size
    # shared: each candidate trains on minibatches of its own.
    shape = (args.T, args.batch_size) if args.tournament == 'restore' else \
        (2, args.T, args.batch_size)

    def snapshot(generation):
        if ex.history is not None:
            counts = sum(path_mask(p, args.M) for p in population).astype(int)
            ex.history.append({'seed': ex.seed, 'task': task + 1, 'generation': generation,
                               'population': args.candi, 'counts': counts.tolist()})

    def evaluate(generation, mask):
        """The winner's held-out accuracy, on the curve if this generation is on it.
        Evaluating draws no random numbers and changes no state, so the extra
        evaluations for the curve leave every other column as it was."""
        accuracy = net.evaluate(sess, task, mask, *ex.validation[task], slot=ex.slot)
        ex.report.validation(task, generation, accuracy)
        if generation in on_curve:
            curve[generation] = accuracy
        return accuracy

    def validate(generation, mask):
        """An evaluation on the --val_every schedule: it also records the levels."""
        accuracy = evaluate(generation, mask)
        for level in VAL_LEVELS:
            if level not in val_reached and accuracy >= level:
                val_reached[level] = generation
        return accuracy
    best, start, reached, val_reached, converged = 0.0, time.time(), {}, {}, False
    on_curve, curve = set(results_log.curve_generations(cap)), {}
    for generation in range(1, cap + 1):
        ex.stop.check()
        pair = rng.choice(args.candi, size=2, replace=False)
        masks = np.stack([path_mask(population[i], args.M) for i in pair])
        batches = batcher.take(int(np.prod(shape))).reshape(shape)
        noise_seed = int(ex.noise_rng.integers(2 ** 62)) if args.noise_mode == 'fresh' else 0
        correct, w, finite = yield Tournament(task, masks, frozen, batches, noise_seed)
        fitness = correct / images_per_candidate
        winner, loser = pair[w], pair[1 - w]
        population[loser] = mutate(population[winner], rng, args.M)
        best = max(best, fitness[w])
        ex.report.generation(task, generation, fitness, best, time.time() - start)
        if not finite:
            ex.report.diverged(ex.seed, task, generation)
            snapshot(generation)
            return TaskResult(generation, False, True, masks[w], fitness[w], reached,
                              validate(generation, masks[w]), val_reached, curve)
        for level in LEVELS:
            if level not in reached and fitness[w] >= level:
                reached[level] = generation
        solved = fitness[w] >= args.threshold
        converged = converged or solved
        end = generation == cap or solved and not fixed
        # Held-out accuracy rises within the first generations (a pilot: 0.95 by
        # generation 5), so every generation early on, then every val_every, and
        # none once every level is reached: what is left to record is the end.
        if end or args.val_every and len(val_reached) < len(VAL_LEVELS) and (
                generation <= 4 * args.val_every or generation % args.val_every == 0):
            val_accuracy = validate(generation, masks[w])
        elif generation in on_curve:    # the curve only: the levels keep their schedule
            evaluate(generation, masks[w])
        if generation % args.history_every == 0 or end:
            snapshot(generation)
        if end:
            return TaskResult(generation, converged, False, masks[w], fitness[w], reached,
                              val_accuracy, val_reached, curve)


def experiment(net, sess, data, ex):
    """One experiment (both tasks) for ex.seed in slot ex.slot of an already
    built graph: everything in the slot is re-initialised from the seed, so
    its row depends neither on what ran before it in the slot nor on what
    runs in the other slots. A generator, as evolve(); it returns the row."""
    args, started = ex.args, time.time()
    tasks = [(args.a1, args.a2), (args.b1, args.b2)]
    # fresh: the stored training images are clean and the graph adds noise
    # at every use; the test images get theirs once, as under fixed.
    train_noise = args.noise if args.noise_mode == 'fixed' else 0.0
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b,
                                    train_noise, ex.data_rng) for a, b in tasks]
    test = [input_data.binary_task(data['test_images'], data['test_labels'], a, b,
                                   args.noise, ex.data_rng) for a, b in tasks]
    # Held out from fitness; its noise drawn once, as the test images' (after
    # theirs, so the other draws are those of a run without it).
    ex.validation = [input_data.binary_task(data['validation_images'],
                                            data['validation_labels'], a, b, args.noise,
                                            ex.data_rng) for a, b in tasks]
    if args.train_images:
        # Picked from the noisy images, from a stream of its own: every image's noise
        # and every other draw are those of a run on all images.
        keep = input_data.balanced_subset(train[1][1], args.train_images, ex.subset_rng)
        train[1] = tuple(a[keep] for a in train[1])
    results = []
    for task in (0, 1):
        keep, frozen = start_masks(args.control, task, results[0].mask if results else None,
                                   (args.L, args.M))
        images, labels = train[task]
        # Task 1 re-initialises all the slot's state: nothing of its last experiment is left.
        net.start_task(sess, task, images, labels, keep, ex.init_rng, slot=ex.slot)
        result = yield from evolve(net, sess, ex, task, frozen,
                                   input_data.Batcher(len(images), ex.batch_rng))
        ex.report.task(task, tasks[task], result)
        results.append(result)
        if task == 0:
            # Retention: task 1's test accuracy before task 2 touches the network (no
            # random draw: the test images' noise was drawn above, evaluating draws none).
            before = net.evaluate(sess, 0, result.mask, *test[0], slot=ex.slot)
    accuracy = [net.evaluate(sess, task, results[task].mask, *test[task], slot=ex.slot)
                for task in (0, 1)]
    for task in (0, 1):
        ex.report.accuracy(task, tasks[task], accuracy[task], before if task == 0 else None)
    return results_log.make_row(
        ex.seed, args.control, settings(args), (args.L, args.M, args.N), tasks, results,
        accuracy, time.time() - started,
        datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'), ex.provenance, before)


def run(args, stop, done, failed):
    """Every experiment of args.seeds, one after another on one graph; the
    seeds written and those that failed go to `done` and `failed`."""
    results_log.check_log(args.results)
    results_log.check_writable(args.results)
    results_log.check_writable(args.path_history)
    results_log.check_writable(args.log_dir, folder=True)
    stop.check()
    started = time.time()
    data = input_data.load_mnist(input_data.default_data_dir(args.data_dir))
    input_data.require_classes(data, {args.a1, args.a2, args.b1, args.b2},
                               input_data.default_data_dir(args.data_dir))
    input_data.require_train_images(data, (args.b1, args.b2), args.train_images)
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
                          fresh_noise=args.noise if args.noise_mode == 'fresh' else 0.0,
                          slots=min(args.slots, len(args.seeds)))
    report, provenance, running = Report(args), build(), {}
    report.ready(imports=started - STARTED + imported - data_done,
                 data=data_done - started, graph=time.time() - imported)

    def start(k, seed, slot):
        # Several slots at once: each experiment's output is told when it ends.
        running[slot] = ex = Experiment(args, Report(args, hold=net.S > 1), stop, provenance,
                                        seed=seed, slot=slot)
        ex.report.experiment(k, seed)
        return experiment(net, sess, data, ex)

    def finish(seed, slot, row):
        stop.check()     # a row only from a run that was not asked to stop
        write(args, row, running[slot].history)
        running.pop(slot).report.written(row)
        done.append(seed)

    def fail(seed, slot, error):
        running.pop(slot).report.failed(seed, error)
        failed.append(seed)
    with pathnet.session(net, args.threads) as sess:
        sess.run(net.init)      # once: starting a task re-initialises its slot
        try:
            scheduler.play(net, sess, args.seeds, start, finish, fail, stop,
                           check=lambda request: net.check_masks(request.masks))
        finally:    # unfinished experiments (a stop): what they said so far, no row
            for ex in running.values():
                ex.report.close()
    report.seeds(done, failed)


class Unsaved(Exception):
    """A finished experiment's output that could not be written (e.g. a full disk):
    the error line, then the output itself on stderr, so the result can be recovered."""

    def __init__(self, seed, error):
        super().__init__('seed %d: %s; what was not saved follows' % (seed, error))
        self.text = error.unsaved


def write(args, row, history):
    """The row, then the path history. Signals are only recorded meanwhile, so a row
    is never half written; a failed append is rolled back (the file is as it was)."""
    for path in (args.results, args.path_history if history else None):
        if path:
            os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    try:
        results_log.append_row(args.results, row)
        if history:
            results_log.append_locked(args.path_history,
                                      ''.join(json.dumps(h) + '\n' for h in history))
    except results_log.AppendError as e:
        raise Unsaved(row['seed'], e) from None


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
    except Unsaved as e:
        print('error: %s' % e, file=sys.stderr)
        print(e.text, end='', file=sys.stderr, flush=True)
        return 1
    except (input_data.MnistError, results_log.LogError, OSError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == '__main__':
    status = main(stop=STOP)
    ignore_signals()   # the outcome is decided
    sys.exit(status)
