"""A plain TF1 PathNet tournament: the baseline bench/benchmark.py measures
pathnet.py against.

    python bench/plain_tf1.py [--forward masked|cond] [--seed 1] [--max_steps 300]
                              [a flag of binary_mnist_pathnet.py]

(one experiment, one --seed; the driver's --tournament shared, --aggregate
mean and --noise_mode fresh are not implemented here and are refused)

Same algorithm, settings and task data as binary_mnist_pathnet.py (it reuses
the driver's argument parser, random streams, minibatch order and evolution
loop, so the same seed gives the same data, first populations, pairs and
minibatches), but the tournament
is written the way a straightforward TensorFlow 1 script writes it:

- one tf.Variable per module (weights and bias) and per task readout;
- every module of a layer is computed and multiplied by its 0/1 path-mask
  entry, which is fed through a placeholder (as the 2017 script did), and so
  are the frozen flags: the graph is built once and finalized. --forward
  cond instead puts each module in a tf.cond on its mask entry, so only the
  path's 3x3 modules are computed: the other thing a careful script might
  try, so the benchmark measures both;
- the stock tf.train.AdamOptimizer (GradientDescentOptimizer for
  --optimizer sgd), one session.run per minibatch, the minibatch fed from
  NumPy;
- snapshot and restore of the whole network state (weights, readouts and the
  optimizer's slots and step counters) between the two candidates through
  two shadow copies and assign ops built once: save the start, train the
  first, save it, restore the start, train the second, and restore the
  first only if it won. A careful plain script does this rather than the
  2017 script's per-variable NumPy round trips (a fetch and a feed of every
  variable each time); copying the whole state rather than the two paths'
  modules keeps the ops fixed and costs about 0.2 ms a copy here, under 1 ms
  of a generation.

One thing a plain script cannot get from the stock optimizer in one
apply_gradients call: a module that is inactive or frozen must keep its
weights AND its Adam moments unchanged (PATHNET.md), but a dense Adam step
with a zero gradient still decays the moments and moves the weights by the
old momentum. So each module gets its own optimizer instance whose
apply_gradients runs inside a tf.cond on "on the path and not frozen".
Consequence: Adam's bias-correction step count is per module (it counts the
minibatches that module was trained on), while pathnet.py keeps one global
count. Speed is unaffected; trajectories of the same seed differ slightly.

Initial weights: this script keeps the plain way, TensorFlow's own
truncated_normal initialisers seeded once with tf.set_random_seed(seed) when
the graph is built (a re-initialised module redraws from the op's stream).
pathnet.py instead draws them from the run's NumPy generator (start_task's
rng); start_task here accepts that argument for the driver's sake and
ignores it. So the same seed gives pathnet.py and this script different
initial weights, and their runs differ from the first tournament on (the
test loads pathnet's weights into this graph to compare one tournament).
The divergence check is the driver's too: a tournament reports whether every
loss of the kept candidate's training was finite (one more scalar fetched
per minibatch).
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.modules.setdefault('keras', None)   # TF 2.x imports Keras if installed; unused

import numpy as np  # noqa: E402

import pathnet  # noqa: E402  (sets the oneDNN and logging environment first)
import results_log  # noqa: E402
from pathnet import tf, INPUTS, CLASSES, INIT_STDDEV, INIT_BIAS  # noqa: E402


class PlainPathNet:
    """Same interface as pathnet.PathNet for what the driver's evolve() and
    lockstep.scheduler.alone use: init, S (one slot), start_task(sess, task,
    images, labels, keep, rng=None), tournaments(sess, requests),
    tournament(sess, task, masks, frozen, batches, noise_seed=0) ->
    (correct [2], winner, finite) and evaluate(sess, task, mask, images,
    labels)."""

    S = 1   # one experiment per graph: a plain script has no lockstep slots

    def __init__(self, L=3, M=10, N=3, filt=20, T=50, batch_size=16,
                 learning_rate=0.001, optimizer='adam', tasks=2, seed=0, forward='masked'):
        self.L, self.M, self.N, self.filt = L, M, N, filt
        self.T, self.batch_size, self.lr = T, batch_size, learning_rate
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(seed)
            self.x = tf.placeholder(tf.float32, [None, INPUTS], 'x')
            self.y = tf.placeholder(tf.float32, [None, CLASSES], 'y')
            self.geopath = tf.placeholder(tf.float32, [L, M], 'geopath')
            self.frozen = tf.placeholder(tf.float32, [L, M], 'frozen')
            self.keep = tf.placeholder(tf.float32, [L, M], 'keep')
            self._variables(tasks)
            self._network(forward)
            self._training(tasks, optimizer)
            self._state_ops(tasks)
            self.init = tf.global_variables_initializer()
        self.graph.finalize()   # a plain script must not grow its graph either
        self.data = [None] * tasks

    def _variables(self, tasks):
        F = self.filt
        self.w = [[tf.Variable(tf.truncated_normal([INPUTS if l == 0 else F, F],
                                                   stddev=INIT_STDDEV), name='w%d_%d' % (l, m))
                   for m in range(self.M)] for l in range(self.L)]
        self.b = [[tf.Variable(tf.fill([F], INIT_BIAS), name='b%d_%d' % (l, m))
                   for m in range(self.M)] for l in range(self.L)]
        self.rw = [tf.Variable(tf.truncated_normal([F, CLASSES], stddev=INIT_STDDEV),
                               name='readout_w%d' % t) for t in range(tasks)]
        self.rb = [tf.Variable(tf.fill([CLASSES], INIT_BIAS), name='readout_b%d' % t)
                   for t in range(tasks)]

    def _network(self, forward):
        """A layer outputs the sum of its active modules. 'masked': every
        module is computed and multiplied by its mask entry (the 2017
        script's way); 'cond': each module sits in a tf.cond on its mask
        entry, so only the path's modules are computed."""
        h = self.x
        for l in range(self.L):
            outs = []
            for m in range(self.M):
                def module(h=h, w=self.w[l][m], b=self.b[l][m]):
                    return tf.nn.relu(tf.matmul(h, w) + b)
                if forward == 'cond':
                    outs.append(tf.cond(self.geopath[l, m] > 0, module,
                                        lambda h=h: tf.zeros([tf.shape(h)[0], self.filt])))
                else:
                    outs.append(self.geopath[l, m] * module())
            h = tf.add_n(outs)
        self.h = h

    def _training(self, tasks, optimizer):
        """Per task: logits, hits and one train op. Module updates are
        conditional (see the module docstring); the readout always trains."""
        def make():
            if optimizer == 'sgd':
                return tf.train.GradientDescentOptimizer(self.lr)
            return tf.train.AdamOptimizer(self.lr)
        # One optimizer per module and per readout, shared by both tasks'
        # train ops (they never run in the same session.run).
        module_opt = [[make() for _ in range(self.M)] for _ in range(self.L)]
        readout_opt = [make() for _ in range(tasks)]
        trains = (1.0 - self.frozen) * self.geopath
        self.hits, self.finite, self.train = [], [], []
        for t in range(tasks):
            logits = tf.matmul(self.h, self.rw[t]) + self.rb[t]
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
                labels=self.y, logits=logits))
            hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(self.y, 1)),
                                         tf.int32))
            finite = tf.reduce_all(tf.is_finite(loss))
            params = [v for l in range(self.L) for m in range(self.M)
                      for v in (self.w[l][m], self.b[l][m])] + [self.rw[t], self.rb[t]]
            grads = tf.gradients(loss, params)
            # Updates are in place: every gradient and the fitness count are
            # computed from the pre-update weights before any variable moves.
            with tf.control_dependencies(grads + [hits, finite]):
                grads = [tf.identity(g) for g in grads]
            updates = [readout_opt[t].apply_gradients(list(zip(grads[-2:], params[-2:])))]
            for i, (l, m) in enumerate((l, m) for l in range(self.L) for m in range(self.M)):
                pairs = list(zip(grads[2 * i:2 * i + 2], params[2 * i:2 * i + 2]))

                def apply(opt=module_opt[l][m], pairs=pairs):
                    with tf.control_dependencies([opt.apply_gradients(pairs)]):
                        return tf.constant(True)
                updates.append(tf.cond(trains[l, m] > 0, apply, lambda: tf.constant(False)))
            self.hits.append(hits)
            self.finite.append(finite)
            self.train.append(tf.group(*updates))
        self.opt_vars = [v for row in module_opt for o in row for v in o.variables()]
        self.opt_vars += [v for o in readout_opt for v in o.variables()]

    def _state_ops(self, tasks):
        """Two shadow copies of the whole state, with save/restore ops, and
        the start of a task (re-initialise what is not kept, fresh readout,
        fresh optimizer state)."""
        state = [v for row in self.w + self.b for v in row] + self.rw + self.rb + self.opt_vars
        self.save, self.restore = [], []
        for k in range(2):
            shadow = [tf.Variable(tf.zeros(v.shape, v.dtype.base_dtype), trainable=False,
                                  name='shadow%d' % k) for v in state]
            self.save.append(tf.group(*[tf.assign(s, v) for s, v in zip(shadow, state)]))
            self.restore.append(tf.group(*[tf.assign(v, s) for s, v in zip(shadow, state)]))
        reinit = []
        for l in range(self.L):
            for m in range(self.M):
                kept = self.keep[l, m] > 0
                for v in (self.w[l][m], self.b[l][m]):
                    # initial_value re-runs the variable's own random initialiser
                    reinit.append(tf.assign(v, tf.where_v2(kept, v, v.initial_value)))
        fresh_opt = tf.variables_initializer(self.opt_vars)
        self.start_ops = [tf.group(reinit + [fresh_opt, self.rw[t].initializer,
                                             self.rb[t].initializer]) for t in range(tasks)]

    # -- the session side ----------------------------------------------------
    def start_task(self, sess, task, images, labels, keep, rng=None):
        """rng is ignored: re-initialised modules redraw from TensorFlow's
        own seeded initialisers (see the module docstring)."""
        self.data[task] = (images, labels)
        sess.run(self.start_ops[task], {self.keep: keep})

    def _train(self, sess, task, mask, frozen, batches):
        """T minibatches on one path, one session.run each; the correct count
        and whether every loss was finite."""
        images, labels = self.data[task]
        feed = {self.geopath: mask, self.frozen: frozen}
        correct, finite = 0, True
        for batch in batches:
            feed[self.x], feed[self.y] = images[batch], labels[batch]
            hits, ok, _ = sess.run([self.hits[task], self.finite[task], self.train[task]], feed)
            correct += hits
            finite = finite and bool(ok)
        return correct, finite

    def tournament(self, sess, task, masks, frozen, batches, noise_seed=0):
        """Both candidates from the same state on the same minibatches, the
        winner's state kept (ties to the first). Returns (correct [2], winner,
        finite: every loss of the winner's training was finite), as
        pathnet.PathNet.tournament does. Only the restore tournament on
        fixed noise: batches [T, B], noise_seed 0."""
        if np.ndim(batches) != 2 or noise_seed:
            raise ValueError('plain_tf1 runs the restore tournament on fixed noise only')
        sess.run(self.save[0])                      # the starting state
        a, finite_a = self._train(sess, task, masks[0], frozen, batches)
        sess.run(self.save[1])                      # candidate 1's result
        sess.run(self.restore[0])
        b, finite_b = self._train(sess, task, masks[1], frozen, batches)
        winner = int(b > a)
        if winner == 0:
            sess.run(self.restore[1])               # else candidate 2's state stays
        return np.array([a, b]), winner, (finite_a, finite_b)[winner]

    def tournaments(self, sess, requests):
        """The driver's call (see pathnet.PathNet.tournaments) for the one slot."""
        (r,) = requests
        if r is None:
            return [None]
        return [self.tournament(sess, r.task, r.masks, r.frozen, r.batches, r.noise_seed)]

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        """Accuracy of one path (mask [L, M]) on the given images: the held-out
        measure evolve() takes at a task's end and on its curve."""
        hits = sess.run(self.hits[task], {self.x: images, self.y: labels, self.geopath: mask})
        return float(hits) / len(images)


def main(argv=None):
    import argparse
    import binary_mnist_pathnet as driver
    import input_data
    from lockstep.scheduler import alone
    # --forward is this script's own flag; every other flag is the driver's.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--forward', choices=['masked', 'cond'], default='masked')
    own, rest = pre.parse_known_args(argv)
    args = driver.parse_args(rest)
    unsupported = [flag for flag, value, plain in (
        ('--seeds', len(args.seeds), 1), ('--tournament', args.tournament, 'restore'),
        ('--aggregate', args.aggregate, 'sum'), ('--noise_mode', args.noise_mode, 'fixed'),
        ('--train_images', args.train_images, None))
        if value != plain]
    if unsupported:
        sys.exit('error: plain_tf1 runs one experiment of the restore tournament, sum '
                 'aggregate and fixed noise on all images; not supported: %s'
                 % ', '.join(unsupported))
    args.seed = args.seeds[0]
    data = input_data.load_mnist(input_data.default_data_dir(args.data_dir))
    # The driver's experiment context: same seed, same random streams in its
    # order, so the same data and choices. Its init and noise streams are not
    # used here.
    ex = driver.Experiment(args, driver.Report(args), driver.Stop())
    tasks = [(args.a1, args.a2), (args.b1, args.b2)]
    train, test, ex.validation = ([input_data.binary_task(
        data[part + '_images'], data[part + '_labels'], a, b, args.noise, ex.data_rng)
        for a, b in tasks] for part in ('train', 'test', 'validation'))
    del data, test      # test: drawn only so that the held-out images are the driver's
    net = PlainPathNet(L=args.L, M=args.M, N=args.N, filt=args.filt, T=args.T,
                       batch_size=args.batch_size, learning_rate=args.learning_rate,
                       optimizer=args.optimizer, seed=args.seed, forward=own.forward)
    results = []
    with pathnet.session(net, args.threads) as sess:
        sess.run(net.init)
        for task in (0, 1):
            keep, frozen = driver.start_masks(args.control, task,
                                              results[0].mask if results else None,
                                              (args.L, args.M))
            net.start_task(sess, task, *train[task], keep)
            t0 = time.time()
            r = alone(driver.evolve(net, sess, ex, task, frozen,
                                    input_data.Batcher(len(train[task][0]), ex.batch_rng)),
                      net, sess)
            print('task %d (%d vs %d) %s after %d generations, fitness %.4f, path %s, %.1f ms/gen'
                  % (task + 1, tasks[task][0], tasks[task][1],
                     'solved' if r.converged else 'DIVERGED' if r.diverged else 'NOT solved',
                     r.generations, r.fitness, results_log.path_text(r.mask),
                     1000 * (time.time() - t0) / r.generations), flush=True)
            results.append(r)
    print('Entire Iter:%d,TASK1:%d,TASK2:%d,Overlap:%d'
          % (results[0].generations + results[1].generations, results[0].generations,
             results[1].generations, results_log.overlap(results[0].mask, results[1].mask)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
