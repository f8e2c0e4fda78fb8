"""PathNet's super network as one TensorFlow graph, and the evolutionary
operators on paths.

The graph is built once and finalized. A whole tournament (two candidate
paths trained for T minibatches each, fitness, winner kept) is ONE
session.run: the active modules of both candidates are gathered from the
network state into working copies, a graph loop trains the copies on the
same minibatches, and only the winner's copy is scattered back. The loser's
work is simply dropped, so the state is "snapshotted and restored" without
any copy of the whole network and without NumPy round trips.
"""
import os

# oneDNN reorders float sums between runs, so two runs of one seed diverge
# after some tens of generations; with TF_ENABLE_ONEDNN_OPTS=0 repeated runs
# are identical, and this model is faster too.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.get_logger().setLevel('ERROR')   # the deprecation notes of the v1 API
tf.disable_v2_behavior()

INPUTS = 784
CLASSES = 2
INIT_STDDEV, INIT_BIAS = 0.1, 0.1   # the TF 1.x tutorials' init, as in 2017
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8   # TF defaults


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

class PathNet:
    """The super network of L layers x M modules, each task's readout, the
    optimizer state, and the ops that run a tournament."""

    TOURNAMENTS = ('restore', 'shared')
    AGGREGATES = ('sum', 'mean')

    def __init__(self, L=3, M=10, N=3, filt=20, T=50, batch_size=16,
                 learning_rate=0.001, optimizer='adam', tasks=2, tournament='restore',
                 aggregate='sum', fresh_noise=0.0):
        """tournament: 'restore' (both candidates from the same state, the
        winner's training kept) or 'shared' (the paper's: A trains and keeps
        its updates, then B from A's end state). aggregate: how a layer
        combines its active modules. fresh_noise: salt-and-pepper rate drawn
        anew at every use of an image (the stored images are then clean);
        0 when the images were made noisy once, before they were loaded."""
        assert tournament in self.TOURNAMENTS and aggregate in self.AGGREGATES
        self.L, self.M, self.N, self.filt = L, M, N, filt
        self.T, self.batch_size = T, batch_size
        self.lr, self.optimizer = learning_rate, optimizer
        self.mode, self.aggregate, self.fresh_noise = tournament, aggregate, fresh_noise
        self.default_rng = np.random.default_rng(0)   # for callers that bring none
        self.graph = tf.Graph()
        with self.graph.as_default():
            self._placeholders(tasks)
            self._state(tasks)
            self._task_ops()
            self._tournament_op()
            self._eval_op()
            self.init = tf.global_variables_initializer()
        self.graph.finalize()   # nothing may be added while evolving

    # -- inputs ------------------------------------------------------------
    def _placeholders(self, tasks):
        L, M, T, B = self.L, self.M, self.T, self.batch_size
        with tf.name_scope('inputs'):
            self.geopath = tf.placeholder(tf.float32, [2, L, M], 'geopath')
            self.frozen = tf.placeholder(tf.float32, [L, M], 'frozen')
            self.task = tf.placeholder(tf.int32, [], 'task')
            # restore: both candidates train on the same T minibatches;
            # shared: each candidate on T minibatches of its own.
            self.batches = tf.placeholder(
                tf.int32, [T, B] if self.mode == 'restore' else [2, T, B], 'batches')
            self.noise_seed = tf.placeholder(tf.int64, [], 'noise_seed')
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

    # -- state: modules, readouts, optimizer moments, training data ----------
    def _state(self, tasks):
        M, F = self.M, self.filt
        # start_task gives every module and readout its initial values.
        with tf.name_scope('modules'):
            self.weights = [tf.Variable(tf.zeros(s), name='w%d' % l)
                            for l, s in enumerate(self._shapes())]
            self.biases = [tf.Variable(tf.zeros([M, F]), name='b%d' % l)
                           for l in range(self.L)]
        with tf.name_scope('readouts'):
            self.readout_w = tf.Variable(tf.zeros([tasks, F, CLASSES]), name='w')
            self.readout_b = tf.Variable(tf.zeros([tasks, CLASSES]), name='b')
        self.params = self.weights + self.biases + [self.readout_w, self.readout_b]
        with tf.name_scope('optimizer'):
            self.moments = [[tf.Variable(tf.zeros(p.shape), trainable=False)
                             for p in self.params] for _ in range(2)]
            self.step = tf.Variable(0.0, trainable=False, name='step')
        with tf.name_scope('data'):
            # The task's training set lives in the graph: a tournament then
            # needs only the minibatch indices as its feed.
            self.images = tf.Variable(tf.zeros([1, INPUTS]), trainable=False,
                                      validate_shape=False, name='images')
            self.labels = tf.Variable(tf.zeros([1, CLASSES]), trainable=False,
                                      validate_shape=False, name='labels')

    def _task_ops(self):
        """start_task: load the task's data, re-initialise every module not
        kept, give the task a fresh readout and a fresh optimizer state."""
        with tf.name_scope('start_task'):
            ops = [tf.assign(self.images, self.images_in, validate_shape=False),
                   tf.assign(self.labels, self.labels_in, validate_shape=False)]
            for l in range(self.L):
                keep = tf.cast(self.keep[l], tf.bool)
                for var, fresh in ((self.weights[l], self.init_weights[l]),
                                   (self.biases[l], tf.fill([self.M, self.filt], INIT_BIAS))):
                    k = tf.reshape(keep, [self.M] + [1] * (len(var.shape) - 1))
                    ops.append(tf.assign(var, tf.where_v2(k, var, fresh)))
            ops.append(tf.scatter_update(self.readout_w, [self.task],
                                         tf.expand_dims(self.init_readout, 0)))
            ops.append(tf.scatter_update(self.readout_b, [self.task],
                                         tf.fill([1, CLASSES], INIT_BIAS)))
            for m in self.moments[0] + self.moments[1]:
                ops.append(tf.assign(m, tf.zeros_like(m)))
            ops.append(tf.assign(self.step, 0.0))
            self.start_task_op = tf.group(*ops)

    # -- the network on gathered working copies -----------------------------
    def _slots(self, geopath, frozen):
        """The N module slots of each layer of C candidates.

        top_k on a 0/1 mask returns the active modules first (lower index
        first on ties), so every layer gets N distinct slots; a slot whose
        module is not on the path is 'off': it adds nothing forward and is
        never updated, and being distinct it can be scattered back safely.
        Returns, per layer, slots [C, N] and float masks on, train [C, N]."""
        C = int(geopath.shape[0])
        slots = tf.math.top_k(geopath, k=self.N, sorted=True).indices        # [C, L, N]
        on = tf.gather(geopath, slots, batch_dims=2)
        train = on
        if frozen is not None:
            frozen = tf.tile(tf.expand_dims(frozen, 0), [C, 1, 1])
            train = on * (1.0 - tf.gather(frozen, slots, batch_dims=2))
        return [tf.unstack(t, axis=1) for t in (slots, on, train)]

    def _layout(self, var, slots, l, C):
        """Rows `slots` [C, N] of a module variable ([M, in, F] weights or
        [M, F] biases) laid out so a layer is one matmul: weights [in, C*N*F]
        for layer 1 (all candidates share the input), [C, in, N*F] above."""
        g = tf.gather(var, tf.reshape(slots, [-1]))
        N, F = self.N, self.filt
        if len(var.shape) == 2:
            return tf.reshape(g, [-1]) if l == 0 else tf.reshape(g, [C, 1, N * F])
        inputs = int(var.shape[1])
        if l == 0:
            return tf.reshape(tf.transpose(g, [1, 0, 2]), [inputs, C * N * F])
        return tf.reshape(tf.transpose(tf.reshape(g, [C, N, inputs, F]), [0, 2, 1, 3]),
                          [C, inputs, N * F])

    def _unlayout(self, work, l, c, is_bias):
        """Candidate c's slots of a laid-out copy, as module rows [N, in?, F]."""
        N, F = self.N, self.filt
        if is_bias:
            return tf.gather(tf.reshape(work, [-1, N, F]), c)
        if l == 0:
            return tf.transpose(tf.gather(tf.reshape(work, [INPUTS, -1, N, F]), c, axis=1),
                                [1, 0, 2])
        return tf.transpose(tf.reshape(tf.gather(work, c), [-1, N, F]), [1, 0, 2])

    def _slot_mask(self, m, l, C):
        """A per-slot mask [C, N] spread over a laid-out copy of layer l:
        [C*N*F] in layer 1, [C, 1, N*F] above (broadcasts to weights too)."""
        mf = tf.tile(tf.reshape(m, [C, self.N, 1]), [1, 1, self.filt])
        return tf.reshape(mf, [-1] if l == 0 else [C, 1, -1])

    def _forward(self, x, ws, bs, readout_w, readout_b, on, keep, C):
        """Logits [C, batch, 2]. A module is dense + ReLU; a layer outputs
        the sum of its active modules (`on`, per layer [C, N]). Where the
        slot mask `keep` (per layer, as _slot_mask) is 0 the module is
        frozen: its weights get no gradient, but gradient still flows
        through it to the layers below."""
        N, F = self.N, self.filt

        def frozen_blend(t, k):
            return k * t + (1.0 - k) * tf.stop_gradient(t)
        # Layer 1 has nothing below it, so its blend can act on the small
        # pre-activations [B, C*N*F] instead of the large weights.
        def combine(h, l):     # h [C, B, F]: the sum of layer l's active modules
            if self.aggregate == 'sum':
                return h
            return h / tf.reshape(tf.maximum(tf.reduce_sum(on[l], 1), 1.0), [C, 1, 1])
        z = frozen_blend(tf.matmul(x, ws[0]) + bs[0], keep[0])
        h = tf.reshape(tf.nn.relu(z), [-1, C, N, F]) * tf.reshape(on[0], [1, C, N, 1])
        h = combine(tf.transpose(tf.reduce_sum(h, 2), [1, 0, 2]), 0)       # [C, B, F]
        for l in range(1, self.L):
            w, b = frozen_blend(ws[l], keep[l]), frozen_blend(bs[l], keep[l])
            z = tf.nn.relu(tf.matmul(h, w) + b)                            # [C, B, N*F]
            h = combine(tf.reduce_sum(tf.reshape(z, [C, -1, N, F])
                                      * tf.reshape(on[l], [C, 1, N, 1]), 2), l)
        return tf.matmul(h, readout_w) + readout_b

    def _copies(self, group, slots, C):
        """Laid-out copies of [weights..., biases..., readout w, readout b]."""
        L = self.L
        out = [self._layout(group[l], slots[l], l, C) for l in range(L)]
        out += [self._layout(group[L + l], slots[l], l, C) for l in range(L)]
        rw = tf.gather(group[2 * L], self.task)
        rb = tf.gather(group[2 * L + 1], self.task)
        return out + [tf.tile(tf.expand_dims(rw, 0), [C, 1, 1]),
                      tf.tile(tf.reshape(rb, [1, 1, CLASSES]), [C, 1, 1])]

    def _tournament_op(self):
        """restore: both candidates train at once from the same state and
        only the winner is kept. shared: candidate A trains and is kept,
        then B trains from the state A left, and is kept too."""
        with tf.name_scope('tournament'):
            if self.mode == 'restore':
                correct, finite, step, keep = self._train(self.geopath, self.batches,
                                                          self.step + 0.0, 0)
                # Ties go to the first candidate.
                first, second = tf.unstack(correct)
                self.winner = tf.cast(second > first, tf.int32)
                writes = keep(self.winner)
                self.finite = tf.gather(finite, self.winner)
            else:
                c_a, f_a, step_a, keep_a = self._train(self.geopath[:1], self.batches[0],
                                                       self.step + 0.0, 0)
                writes_a = keep_a(0)
                with tf.control_dependencies([writes_a]):   # B starts where A ended
                    c_b, f_b, step, keep_b = self._train(self.geopath[1:], self.batches[1],
                                                         step_a + 0.0, 1)
                    writes = keep_b(0)
                correct = tf.concat([c_a, c_b], 0)
                first, second = tf.unstack(correct)
                self.winner = tf.cast(second > first, tf.int32)
                self.finite = tf.logical_and(f_a[0], f_b[0])
            self.correct = correct
            with tf.control_dependencies([writes]):
                self.tournament_op = tf.assign(self.step, step)

    def _train(self, geopath, batches, step0, phase):
        """Train the C candidates of `geopath` [C, L, M] for T minibatches
        (`batches` [T, B]) on scratch copies of their modules, with the fused
        optimizer kernels (elementwise Adam in separate ops cost 3/4 of the
        time). Returns correct counts [C], whether every loss was finite [C],
        the step count after training, and keep(c): the ops that write
        candidate c's training back into the network state."""
        L, T, B = self.L, self.T, self.batch_size
        C = int(geopath.shape[0])
        slots, on, train = self._slots(geopath, self.frozen)
        keep = [self._slot_mask(train[l], l, C) for l in range(L)]
        params = self._copies(self.params, slots, C)
        moments = [self._copies(m, slots, C) for m in self.moments]
        # The scratch buffers' initializers must not wait for the training
        # this phase may depend on (shared: candidate A's writes).
        with tf.name_scope('scratch'), tf.control_dependencies(None):
            work = [tf.Variable(tf.zeros(p.shape), trainable=False) for p in params]
            work_m = [[tf.Variable(tf.zeros(p.shape), trainable=False) for p in params]
                      for _ in moments]
        # Only trained slots keep their moments: with zero moments and a
        # zero gradient the fused Adam step leaves a weight exactly as is.
        load = [tf.assign(w, p) for w, p in zip(work, params)]
        load += [tf.assign(w, m * k) for wm, mm in zip(work_m, moments)
                 for w, m, k in zip(wm, mm, keep + keep + [1.0, 1.0])]
        with tf.control_dependencies(load):
            i0 = tf.constant(0) + 0

        def body(i, correct, finite, step):
            with tf.control_dependencies([i]):      # read after last update
                p = [w.read_value() for w in work]
            batch = tf.gather(batches, i)
            x = tf.reshape(tf.gather(self.images, batch), [B, INPUTS])
            if self.fresh_noise:
                x = self._noisy(x, tf.cast(phase * T + i, tf.int64))
            y = tf.reshape(tf.gather(self.labels, batch), [1, B, CLASSES])
            logits = self._forward(x, p[:L], p[L:2 * L], p[-2], p[-1], on, keep, C)
            loss = tf.nn.softmax_cross_entropy_with_logits_v2(
                labels=tf.tile(y, [C, 1, 1]), logits=logits)
            # Candidates own disjoint copies, so one gradient of the summed
            # loss is each candidate's own gradient.
            grads = tf.gradients(tf.reduce_sum(tf.reduce_mean(loss, 1)), p)
            hits = tf.cast(tf.equal(tf.argmax(logits, 2), tf.argmax(y, 2)), tf.int32)
            finite = tf.logical_and(finite, tf.reduce_all(tf.is_finite(loss), 1))
            step = step + 1.0
            # The reads above may alias the scratch buffers, which the
            # kernels update in place: every gradient first.
            with tf.control_dependencies(grads + [hits, finite]):
                grads = [tf.identity(g) for g in grads]
            if self.optimizer == 'sgd':
                updates = [tf.raw_ops.ApplyGradientDescent(var=w, alpha=self.lr, delta=g)
                           for w, g in zip(work, grads)]
            else:
                updates = [tf.raw_ops.ApplyAdam(
                    var=w, m=m, v=v, beta1_power=ADAM_BETA1 ** step,
                    beta2_power=ADAM_BETA2 ** step, lr=self.lr, beta1=ADAM_BETA1,
                    beta2=ADAM_BETA2, epsilon=ADAM_EPSILON, grad=g)
                    for w, m, v, g in zip(work, work_m[0], work_m[1], grads)]
            with tf.control_dependencies(updates):
                return i + 1, correct + tf.reduce_sum(hits, 1), finite, step

        _, correct, finite, step = tf.while_loop(
            lambda i, *_: i < T, body,
            [i0, tf.zeros([C], tf.int32), tf.ones([C], tf.bool), step0],
            parallel_iterations=1)
        return correct, finite, step, lambda c: self._keep(c, slots, train, work, work_m,
                                                           [correct, finite, step])

    def _noisy(self, x, draw):
        """Salt-and-pepper noise drawn anew for this use of the images, from
        the tournament's seed and the minibatch's number: the same seed gives
        the same noise. One uniform draw per pixel, as in input_data."""
        u = tf.random.stateless_uniform(tf.shape(x), tf.stack([self.noise_seed, draw]))
        return tf.where_v2(u < self.fresh_noise,
                           tf.cast(u >= self.fresh_noise / 2, tf.float32), x)

    def _keep(self, c, slots, train, work, work_m, after):
        """Scatter candidate c's trained slots back into the network state.
        Its off and frozen slots are written back as they were, so they
        stay bit for bit; the other candidate's work is dropped."""
        L, N = self.L, self.N
        rows = [tf.gather(slots[l], c) for l in range(L)]                   # [N] each
        trained_slot = [tf.gather(train[l], c) > 0 for l in range(L)]
        with tf.control_dependencies(after):
            writes = []
            for state, scratch in ((self.params, work), (self.moments[0], work_m[0]),
                                   (self.moments[1], work_m[1])):
                for j in range(2 * L):
                    l, is_bias = j % L, j >= L
                    trained = self._unlayout(scratch[j].read_value(), l, c, is_bias)
                    kept = tf.reshape(trained_slot[l], [N] + [1] * (2 - is_bias))
                    writes.append(tf.scatter_update(state[j], rows[l], tf.where_v2(
                        kept, trained, tf.gather(state[j], rows[l]))))
                for j, shape in ((2 * L, [1, self.filt, CLASSES]), (2 * L + 1, [1, CLASSES])):
                    writes.append(tf.scatter_update(state[j], tf.reshape(self.task, [1]),
                                  tf.reshape(tf.gather(scratch[j].read_value(), c), shape)))
        return tf.group(*writes)

    def _eval_op(self):
        with tf.name_scope('evaluate'):
            slots, on, _ = self._slots(self.eval_geopath, None)
            p = self._copies(self.params, slots, 1)
            keep = [self._slot_mask(o, l, 1) for l, o in enumerate(on)]
            L = self.L
            logits = self._forward(self.images_in, p[:L], p[L:2 * L], p[-2], p[-1],
                                   on, keep, 1)
            hits = tf.equal(tf.argmax(logits[0], 1), tf.argmax(self.labels_in, 1))
            self.accuracy = tf.reduce_mean(tf.cast(hits, tf.float32))

    # -- the session side ----------------------------------------------------
    def check_masks(self, masks):
        """The graph gives each layer N module slots: a mask with more active
        modules would be cut silently (by top_k), so refuse it. masks:
        [C, L, M] 0/1 (C candidates)."""
        counts = np.count_nonzero(np.asarray(masks), axis=-1)            # [C, L]
        if counts.size and counts.max() > self.N:
            c, l = np.argwhere(counts > self.N)[0]
            where = ' (candidate %d)' % (c + 1) if len(counts) > 1 else ''
            raise ValueError('path has %d active modules in layer %d, at most N=%d%s'
                             % (counts[c, l], l + 1, self.N, where))

    def feed_dict(self, task, geopaths=None, frozen=None, batches=None, images=None,
                  labels=None, keep=None, init=None, noise_seed=None):
        """The one place feeds are built."""
        feeds = {self.task: task}
        if geopaths is not None:
            feeds[self.geopath if len(geopaths) == 2 else self.eval_geopath] = np.asarray(geopaths)
        for ph, value in ((self.frozen, frozen), (self.batches, batches), (self.images_in, images),
                          (self.labels_in, labels), (self.keep, keep),
                          (self.noise_seed, noise_seed)):
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

    def start_task(self, sess, task, images, labels, keep, rng=None):
        """Load a task's data; re-initialise (from rng) every module not kept,
        the task's readout and the optimizer state."""
        init = self.initial_weights(rng if rng is not None else self.default_rng)
        sess.run(self.start_task_op, self.feed_dict(task, images=images, labels=labels,
                                                     keep=keep, init=init))

    def tournament(self, sess, task, masks, frozen, batches, noise_seed=0):
        """One generation's training (see _tournament_op). Returns the correct
        counts [2], the winner's index, and whether every loss of the kept
        training was finite (False: the network diverged)."""
        self.check_masks(masks)
        correct, winner, finite, _ = sess.run(
            [self.correct, self.winner, self.finite, self.tournament_op],
            self.feed_dict(task, geopaths=masks, frozen=frozen, batches=batches,
                           noise_seed=noise_seed))
        return correct, int(winner), bool(finite)

    def evaluate(self, sess, task, mask, images, labels):
        """Accuracy of one path (mask [L, M]) on the given images."""
        self.check_masks([mask])
        return float(sess.run(self.accuracy, self.feed_dict(
            task, geopaths=[mask], images=images, labels=labels)))


def session(net, threads=0):
    """A session on the network's graph; threads=0 lets TensorFlow choose."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    return tf.Session(graph=net.graph, config=config)
