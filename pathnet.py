"""PathNet's super network as one TensorFlow graph, and the evolutionary
operators on paths.

The graph is built once and finalized. A whole tournament (two candidate
paths trained for T minibatches each, fitness, winner kept) is ONE
session.run: the active modules of both candidates are gathered from the
network state into working copies, a graph loop trains the copies on the
same minibatches, and only the winner's copy is scattered back. The loser's
work is simply dropped, so the state is "snapshotted and restored" without
any copy of the whole network and without NumPy round trips.

With slots=K the graph holds K experiments (each slot its own modules,
readouts, optimizer state and training data) and one session.run plays a
tournament of every slot: the training loop (lockstep/training.py) trains
all their candidates together. slots=1 is the ordinary single experiment.
"""
import os

# oneDNN reorders float sums between runs, so two runs of one seed diverge
# after some tens of generations; with TF_ENABLE_ONEDNN_OPTS=0 repeated runs
# are identical, and this model is faster too.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from lockstep.training import (INPUTS, CLASSES, ADAM_BETA1, ADAM_BETA2,  # noqa: E402,F401
                               ADAM_EPSILON, Training)

tf.get_logger().setLevel('ERROR')   # the deprecation notes of the v1 API
tf.disable_v2_behavior()

INIT_STDDEV, INIT_BIAS = 0.1, 0.1   # the TF 1.x tutorials' init, as in 2017


# ---------------------------------------------------------------------------
# Evolutionary operators. A path (genotype) is an int array [L, N] of module
# indices; the graph takes its 0/1 mask [L, M] (the geopath).

def random_population(rng, size, L, M, N):
    """`size` random paths: N independent draws per layer (repeats allowed,
    so a layer has 1..N distinct modules)."""
    return rng.integers(0, M, size=(size, L, N))


def mutate(path, rng, M):
    """Each gene, with probability 1/(L*N), shifts by a uniform integer in
    [-2, 2], wrapping modulo M. Returns a new path."""
    hit = rng.random(path.shape) < 1.0 / path.size
    shift = rng.integers(-2, 3, size=path.shape)
    return np.where(hit, (path + shift) % M, path)


def path_mask(path, M):
    """[L, N] genes -> [L, M] float32 mask with 1 on every active module."""
    mask = np.zeros((path.shape[0], M), np.float32)
    mask[np.arange(path.shape[0])[:, None], path] = 1.0
    return mask


# ---------------------------------------------------------------------------
# The graph.

class PathNet(Training):
    """The super network of L layers x M modules, each task's readout, the
    optimizer state, and the ops that run a tournament; all of it once per
    slot (an experiment of its own) when slots > 1."""

    TOURNAMENTS = ('restore', 'shared')
    AGGREGATES = ('sum', 'mean')

    def __init__(self, L=3, M=10, N=3, filt=20, T=50, batch_size=16,
                 learning_rate=0.001, optimizer='adam', tasks=2, tournament='restore',
                 aggregate='sum', fresh_noise=0.0, slots=1):
        """tournament: 'restore' (both candidates from the same state, the
        winner's training kept) or 'shared' (the paper's: A trains and keeps
        its updates, then B from A's end state). aggregate: how a layer
        combines its active modules. fresh_noise: salt-and-pepper rate drawn
        anew at every use of an image (the stored images are then clean);
        0 when the images were made noisy once, before they were loaded.
        slots: how many experiments the graph holds."""
        assert tournament in self.TOURNAMENTS and aggregate in self.AGGREGATES and slots >= 1
        self.L, self.M, self.N, self.filt = L, M, N, filt
        self.T, self.batch_size, self.S = T, batch_size, slots
        self.lr, self.optimizer = learning_rate, optimizer
        self.mode, self.aggregate, self.fresh_noise = tournament, aggregate, fresh_noise
        self.default_rng = np.random.default_rng(0)   # for callers that bring none
        self.graph = tf.Graph()
        with self.graph.as_default():
            self._placeholders()
            self.slot = [self._state(tasks, s) for s in range(slots)]
            self._tournament_op()
            self.init = tf.global_variables_initializer()
        self.graph.finalize()   # nothing may be added while evolving
        # Slot 0's state by its old names, for a single experiment's callers.
        for name in ('weights', 'biases', 'readout_w', 'readout_b', 'params', 'moments',
                     'step', 'images', 'labels', 'start_task_op', 'accuracy'):
            setattr(self, name, getattr(self.slot[0], name))

    # -- inputs ------------------------------------------------------------
    def _placeholders(self):
        L, M, T, B, S = self.L, self.M, self.T, self.batch_size, self.S
        with tf.name_scope('inputs'):
            # A tournament: every slot's pair of paths, frozen modules, task...
            self.geopath = tf.placeholder(tf.float32, [S, 2, L, M], 'geopath')
            self.frozen = tf.placeholder(tf.float32, [S, L, M], 'frozen')
            self.task_of_slot = tf.placeholder(tf.int32, [S], 'task_of_slot')
            # restore: both candidates train on the same T minibatches;
            # shared: each candidate on T minibatches of its own.
            self.batches = tf.placeholder(
                tf.int32, [S, T, B] if self.mode == 'restore' else [S, 2, T, B], 'batches')
            self.noise_seed = tf.placeholder(tf.int64, [S], 'noise_seed')
            # ... and what starting a task or evaluating a path in one slot needs.
            self.task = tf.placeholder(tf.int32, [], 'task')
            self.images_in = tf.placeholder(tf.float32, [None, INPUTS], 'images')
            self.labels_in = tf.placeholder(tf.float32, [None, CLASSES], 'labels')
            self.keep = tf.placeholder(tf.float32, [L, M], 'keep')
            # Initial values come from the run's NumPy generator, so one graph
            # serves any number of seeds and a seed's row does not depend on
            # what ran before it in the process.
            self.init_weights = [tf.placeholder(tf.float32, s, 'init_w%d' % l)
                                 for l, s in enumerate(self._shapes())]
            self.init_readout = tf.placeholder(tf.float32, [self.filt, CLASSES], 'init_readout')
            self.eval_geopath = tf.placeholder(tf.float32, [1, L, M], 'eval_geopath')

    def _shapes(self):
        return [[self.M, INPUTS if l == 0 else self.filt, self.filt] for l in range(self.L)]

    # -- a slot: modules, readouts, optimizer moments, training data --------
    def _state(self, tasks, s):
        """Slot s's variables and its start_task and evaluate ops. Variables of
        their own (not a slot dimension): the fused optimizer kernels and the
        task's data need whole variables, and a slot's ops then have the shapes
        of a single experiment's."""
        M, F = self.M, self.filt
        x = SimpleNamespace()
        with tf.name_scope('slot%d' % s if s else None):
            # start_task gives every module and readout its initial values.
            with tf.name_scope('modules'):
                x.weights = [tf.Variable(tf.zeros(sh), name='w%d' % l)
                             for l, sh in enumerate(self._shapes())]
                x.biases = [tf.Variable(tf.zeros([M, F]), name='b%d' % l)
                            for l in range(self.L)]
            with tf.name_scope('readouts'):
                x.readout_w = tf.Variable(tf.zeros([tasks, F, CLASSES]), name='w')
                x.readout_b = tf.Variable(tf.zeros([tasks, CLASSES]), name='b')
            x.params = x.weights + x.biases + [x.readout_w, x.readout_b]
            with tf.name_scope('optimizer'):
                x.moments = [[tf.Variable(tf.zeros(p.shape), trainable=False)
                              for p in x.params] for _ in range(2)]
                x.step = tf.Variable(0.0, trainable=False, name='step')
            with tf.name_scope('data'):
                # The task's training set lives in the graph: a tournament then
                # needs only the minibatch indices as its feed.
                x.images = tf.Variable(tf.zeros([1, INPUTS]), trainable=False,
                                       validate_shape=False, name='images')
                x.labels = tf.Variable(tf.zeros([1, CLASSES]), trainable=False,
                                       validate_shape=False, name='labels')
            x.start_task_op = self._task_op(x)
            x.accuracy = self._eval_op(x)
        return x

    def _task_op(self, x):
        """start_task: load the task's data, re-initialise every module not
        kept, give the task a fresh readout and a fresh optimizer state."""
        with tf.name_scope('start_task'):
            ops = [tf.assign(x.images, self.images_in, validate_shape=False),
                   tf.assign(x.labels, self.labels_in, validate_shape=False)]
            for l in range(self.L):
                keep = tf.cast(self.keep[l], tf.bool)
                for var, fresh in ((x.weights[l], self.init_weights[l]),
                                   (x.biases[l], tf.fill([self.M, self.filt], INIT_BIAS))):
                    k = tf.reshape(keep, [self.M] + [1] * (len(var.shape) - 1))
                    ops.append(tf.assign(var, tf.where_v2(k, var, fresh)))
            ops.append(tf.scatter_update(x.readout_w, [self.task],
                                         tf.expand_dims(self.init_readout, 0)))
            ops.append(tf.scatter_update(x.readout_b, [self.task],
                                         tf.fill([1, CLASSES], INIT_BIAS)))
            for m in x.moments[0] + x.moments[1]:
                ops.append(tf.assign(m, tf.zeros_like(m)))
            ops.append(tf.assign(x.step, 0.0))
            return tf.group(*ops)

    def _eval_op(self, x):
        with tf.name_scope('evaluate'):
            picks, on, _ = self._modules(self.eval_geopath, None)
            p = self._copies(x.params, picks, 1, self.task)
            keep = [self._module_mask(o, l, 1) for l, o in enumerate(on)]
            keep[0] = tf.reshape(keep[0], [1, 1, -1])
            logits = self._forward([self.images_in], [p], on, keep, 1)
            hits = tf.equal(tf.argmax(logits[0], 1), tf.argmax(self.labels_in, 1))
            return tf.reduce_mean(tf.cast(hits, tf.float32))

    def _tournament_op(self):
        """restore: both candidates train at once from the same state and
        only the winner is kept. shared: candidate A trains and is kept,
        then B trains from the state A left, and is kept too. Every slot at
        once, each in its own state."""
        S = self.S
        step0 = tf.stack([x.step for x in self.slot]) + 0.0
        with tf.name_scope('tournament'):
            if self.mode == 'restore':
                correct, finite, step, keep = self._train(self.geopath, self.batches, step0, 0)
                # Ties go to the first candidate.
                first, second = tf.unstack(correct, axis=1)
                self.winner = tf.cast(second > first, tf.int32)
                writes = keep(tf.unstack(self.winner))
                self.finite = tf.gather(finite, self.winner, batch_dims=1)
            else:
                first = [tf.constant(0)] * S
                c_a, f_a, step_a, keep_a = self._train(self.geopath[:, :1],
                                                       self.batches[:, 0], step0, 0)
                writes_a = keep_a(first)
                with tf.control_dependencies([writes_a]):   # B starts where A ended
                    c_b, f_b, step, keep_b = self._train(self.geopath[:, 1:],
                                                         self.batches[:, 1], step_a + 0.0, 1)
                    writes = keep_b(first)
                correct = tf.concat([c_a, c_b], 1)
                a, b = tf.unstack(correct, axis=1)
                self.winner = tf.cast(b > a, tf.int32)
                self.finite = tf.logical_and(f_a[:, 0], f_b[:, 0])
            self.correct = correct
            with tf.control_dependencies([writes]):
                self.tournament_op = tf.group(*[tf.assign(x.step, t) for x, t in
                                                zip(self.slot, tf.unstack(step))])

    # -- the session side ----------------------------------------------------
    def check_masks(self, masks):
        """The graph gives each layer N module positions: a mask with more
        active modules would be cut silently (by top_k), so refuse it. masks:
        [C, L, M] 0/1 (C candidates)."""
        counts = np.count_nonzero(np.asarray(masks), axis=-1)            # [C, L]
        if counts.size and counts.max() > self.N:
            c, l = np.argwhere(counts > self.N)[0]
            where = ' (candidate %d)' % (c + 1) if len(counts) > 1 else ''
            raise ValueError('path has %d active modules in layer %d, at most N=%d%s'
                             % (counts[c, l], l + 1, self.N, where))

    def feed_dict(self, task, geopaths=None, images=None, labels=None, keep=None, init=None):
        """The feeds of start_task and evaluate (tournaments: tournaments())."""
        feeds = {self.task: task}
        if geopaths is not None:
            feeds[self.eval_geopath] = np.asarray(geopaths)
        for ph, value in ((self.images_in, images), (self.labels_in, labels), (self.keep, keep)):
            if value is not None:
                feeds[ph] = value
        if init is not None:
            feeds.update(zip(self.init_weights + [self.init_readout], init))
        return feeds

    def initial_weights(self, rng):
        """Fresh module weights for every layer and a readout: the TF 1.x
        tutorials' truncated normal (redrawn beyond two standard deviations)."""
        def truncated_normal(shape):
            w = rng.standard_normal(shape, dtype=np.float32)
            while True:
                out = np.abs(w) > 2
                if not out.any():
                    return w * np.float32(INIT_STDDEV)
                w[out] = rng.standard_normal(int(out.sum()), dtype=np.float32)
        return [truncated_normal(s) for s in self._shapes()] + \
            [truncated_normal([self.filt, CLASSES])]

    def start_task(self, sess, task, images, labels, keep, rng=None, slot=0):
        """Load a task's data into a slot; re-initialise (from rng) every module
        not kept, the task's readout and the optimizer state."""
        init = self.initial_weights(rng if rng is not None else self.default_rng)
        sess.run(self.slot[slot].start_task_op, self.feed_dict(
            task, images=images, labels=labels, keep=keep, init=init))

    def tournaments(self, sess, requests):
        """One generation of every slot (see _tournament_op): requests[s] is
        slot s's Tournament, None for an idle slot (it trains on whatever it
        holds and its result is dropped). Returns per slot (correct counts [2],
        the winner's index, whether every loss of the kept training was finite)
        or None."""
        L, M, T, B = self.L, self.M, self.T, self.batch_size
        idle = Tournament(0, np.zeros((2, L, M), np.float32), np.zeros((L, M), np.float32),
                          np.zeros((T, B) if self.mode == 'restore' else (2, T, B), np.int32), 0)
        full = [r if r is not None else idle for r in requests]
        for r in full:
            self.check_masks(r.masks)
        correct, winner, finite, _ = sess.run(
            [self.correct, self.winner, self.finite, self.tournament_op],
            {self.task_of_slot: [r.task for r in full],
             self.geopath: np.stack([r.masks for r in full]),
             self.frozen: np.stack([r.frozen for r in full]),
             self.batches: np.stack([r.batches for r in full]),
             self.noise_seed: [r.noise_seed for r in full]})
        return [(correct[s], int(winner[s]), bool(finite[s])) if r is not None else None
                for s, r in enumerate(requests)]

    def tournament(self, sess, task, masks, frozen, batches, noise_seed=0):
        """One tournament of slot 0 (the others idle): tournaments() for one."""
        return self.tournaments(sess, [Tournament(task, masks, frozen, batches, noise_seed)]
                                + [None] * (self.S - 1))[0]

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        """Accuracy of one path (mask [L, M]) of a slot on the given images."""
        self.check_masks([mask])
        return float(sess.run(self.slot[slot].accuracy, self.feed_dict(
            task, geopaths=[mask], images=images, labels=labels)))


class Tournament:
    """What one tournament of one experiment needs: its task, the pair's
    masks [2, L, M], the frozen modules [L, M], the minibatch indices and the
    fresh-noise seed. evolve() yields these; PathNet.tournaments plays them."""

    def __init__(self, task, masks, frozen, batches, noise_seed=0):
        self.task, self.masks, self.frozen = task, masks, frozen
        self.batches, self.noise_seed = batches, noise_seed


def session(net, threads=0):
    """A session on the network's graph; threads=0 lets TensorFlow choose."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    return tf.Session(graph=net.graph, config=config)
