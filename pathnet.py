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

# oneDNN reorders float sums between runs: off, same seed gives the same run
# (../shared/NOTES.md); it is also faster for this model.
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


def overlap(mask_a, mask_b):
    """Number of (layer, module) positions active in both paths."""
    return int(np.sum((mask_a > 0) & (mask_b > 0)))


def mask_to_str(mask):
    """Compact readable form: active modules per layer, '|' between layers,
    e.g. '1-4-7|0-2|3-5-9'."""
    return '|'.join('-'.join(str(m) for m in np.flatnonzero(row)) for row in mask)


def str_to_mask(text, M):
    layers = text.split('|')
    mask = np.zeros((len(layers), M), np.float32)
    for l, layer in enumerate(layers):
        mask[l, [int(m) for m in layer.split('-')]] = 1.0
    return mask


# ---------------------------------------------------------------------------
# The graph.

class PathNet:
    """The super network of L layers x M modules, each task's readout, the
    optimizer state, and the ops that run a tournament."""

    def __init__(self, L=3, M=10, N=3, filt=20, T=50, batch_size=16,
                 learning_rate=0.001, optimizer='adam', tasks=2, seed=0):
        self.L, self.M, self.N, self.filt = L, M, N, filt
        self.T, self.batch_size = T, batch_size
        self.lr, self.optimizer = learning_rate, optimizer
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(seed)
            self._placeholders(tasks)
            self._state(tasks)
            self._task_ops()
            self._tournament_op()
            self._eval_op()
            self.init = tf.global_variables_initializer()
        self.graph.finalize()   # nothing may be added while evolving

    # -- inputs ------------------------------------------------------------
    def _placeholders(self, tasks):
        L, M = self.L, self.M
        with tf.name_scope('inputs'):
            self.geopath = tf.placeholder(tf.float32, [2, L, M], 'geopath')
            self.frozen = tf.placeholder(tf.float32, [L, M], 'frozen')
            self.task = tf.placeholder(tf.int32, [], 'task')
            self.batches = tf.placeholder(tf.int32, [self.T, self.batch_size], 'batches')
            self.images_in = tf.placeholder(tf.float32, [None, INPUTS], 'images')
            self.labels_in = tf.placeholder(tf.float32, [None, CLASSES], 'labels')
            self.keep = tf.placeholder(tf.float32, [L, M], 'keep')
            self.eval_geopath = tf.placeholder(tf.float32, [1, L, M], 'eval_geopath')

    # -- state: modules, readouts, optimizer moments, training data ----------
    def _state(self, tasks):
        M, F = self.M, self.filt
        self.shapes = [[M, INPUTS if l == 0 else F, F] for l in range(self.L)]
        with tf.name_scope('modules'):
            self.weights = [tf.Variable(self._init_w(s), name='w%d' % l)
                            for l, s in enumerate(self.shapes)]
            self.biases = [tf.Variable(self._init_b([M, F]), name='b%d' % l)
                           for l in range(self.L)]
        with tf.name_scope('readouts'):
            self.readout_w = tf.Variable(self._init_w([tasks, F, CLASSES]), name='w')
            self.readout_b = tf.Variable(self._init_b([tasks, CLASSES]), name='b')
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

    def _init_w(self, shape):
        return tf.truncated_normal(shape, stddev=INIT_STDDEV)

    def _init_b(self, shape):
        return tf.fill(shape, INIT_BIAS)

    def _task_ops(self):
        """start_task: load the task's data, re-initialise every module not
        kept, give the task a fresh readout and a fresh optimizer state."""
        with tf.name_scope('start_task'):
            ops = [tf.assign(self.images, self.images_in, validate_shape=False),
                   tf.assign(self.labels, self.labels_in, validate_shape=False)]
            for l in range(self.L):
                keep = tf.cast(self.keep[l], tf.bool)
                for var, fresh in ((self.weights[l], self._init_w(self.shapes[l])),
                                   (self.biases[l], self._init_b([self.M, self.filt]))):
                    k = tf.reshape(keep, [self.M] + [1] * (len(var.shape) - 1))
                    ops.append(tf.assign(var, tf.where_v2(k, var, fresh)))
            ops.append(tf.scatter_update(self.readout_w, [self.task],
                                         self._init_w([1, self.filt, CLASSES])))
            ops.append(tf.scatter_update(self.readout_b, [self.task],
                                         self._init_b([1, CLASSES])))
            for m in self.moments[0] + self.moments[1]:
                ops.append(tf.assign(m, tf.zeros_like(m)))
            ops.append(tf.assign(self.step, 0.0))
            self.start_task_op = tf.group(*ops)

    # -- the network on gathered working copies -----------------------------
    def _gather(self, geopath, frozen):
        """Working copies of the active modules of C candidates.

        top_k on a 0/1 mask returns the active modules first (lower index
        first on ties), so every layer gets N distinct slots; a slot whose
        module is not on the path is 'off': it adds nothing forward and is
        never updated, and being distinct it can be scattered back safely."""
        C = geopath.shape[0]
        slots = tf.math.top_k(geopath, k=self.N, sorted=True).indices   # [C, L, N]
        on = tf.cast(tf.gather(geopath, slots, batch_dims=2) > 0, tf.float32)
        if frozen is None:
            frozen_slot = tf.zeros_like(on)
        else:
            frozen_slot = tf.gather(tf.tile(frozen[None], [C, 1, 1]), slots, batch_dims=2)
        train = on * (1.0 - frozen_slot)                                   # [C, L, N]
        return slots, on, train, C

    def _layout(self, var, slots_l, l, C):
        """State variable [M, in, F] -> working copy of C*N slots, laid out
        so a layer is one matmul: [in, C*N*F] for layer 1 (shared input),
        [C, in, N*F] above it. Biases [M, F] -> [C*N*F] / [C, 1, N*F]."""
        g = tf.gather(var, tf.reshape(slots_l, [-1]))       # [C*N, in?, F]
        N, F = self.N, self.filt
        if len(var.shape) == 2:                              # bias
            return tf.reshape(g, [-1]) if l == 0 else tf.reshape(g, [C, 1, N * F])
        inputs = int(var.shape[1])
        if l == 0:
            return tf.reshape(tf.transpose(g, [1, 0, 2]), [inputs, C * N * F])
        return tf.reshape(tf.transpose(tf.reshape(g, [C, N, inputs, F]), [0, 2, 1, 3]),
                          [C, inputs, N * F])

    def _unlayout(self, work, l, winner, C, is_bias):
        """Inverse of _layout for the winner's slots only: -> [N, in?, F]."""
        N, F = self.N, self.filt
        if is_bias:
            return tf.reshape(work, [C, N, F])[winner]
        if l == 0:
            w = tf.reshape(work, [INPUTS, C, N, F])[:, winner]
            return tf.transpose(w, [1, 0, 2])
        w = tf.reshape(work[winner], [-1, N, F])
        return tf.transpose(w, [1, 0, 2])

    def _forward(self, x, work_w, work_b, readout_w, readout_b, on, C):
        """Logits [C, batch, 2]. Each module is dense + ReLU; a layer's
        output is the sum of its active modules."""
        N, F = self.N, self.filt
        h = tf.nn.relu(tf.matmul(x, work_w[0]) + work_b[0])            # [B, C*N*F]
        h = tf.reshape(h, [-1, C, N, F]) * on[None, :, 0, :, None]
        h = tf.transpose(tf.reduce_sum(h, 2), [1, 0, 2])               # [C, B, F]
        for l in range(1, self.L):
            z = tf.nn.relu(tf.matmul(h, work_w[l]) + work_b[l])        # [C, B, N*F]
            z = tf.reshape(z, [C, -1, N, F]) * on[:, None, l, :, None]
            h = tf.reduce_sum(z, 2)
        return tf.matmul(h, readout_w) + readout_b

    def _update(self, p, g, m, v, k, step):
        """One optimizer step on a working copy; where k is False (off or
        frozen slots) weights and moments stay exactly as they were."""
        if self.optimizer == 'sgd':
            return tf.where_v2(k, p - self.lr * g, p), m, v
        m2 = tf.where_v2(k, ADAM_BETA1 * m + (1 - ADAM_BETA1) * g, m)
        v2 = tf.where_v2(k, ADAM_BETA2 * v + (1 - ADAM_BETA2) * tf.square(g), v)
        lr = self.lr * tf.sqrt(1 - ADAM_BETA2 ** step) / (1 - ADAM_BETA1 ** step)
        return tf.where_v2(k, p - lr * m2 / (tf.sqrt(v2) + ADAM_EPSILON), p), m2, v2

    def _tournament_op(self):
        L, N, F, T = self.L, self.N, self.filt, self.T
        with tf.name_scope('tournament'):
            slots, on, train, C = self._gather(self.geopath, self.frozen)
            # Working copies: [weights..., biases..., readout w, readout b],
            # then the same list for each moment.
            def copies(group):
                ws = [self._layout(group[l], slots[:, l], l, C) for l in range(L)]
                bs = [self._layout(group[L + l], slots[:, l], l, C) for l in range(L)]
                rw = tf.tile(tf.gather(group[2 * L], self.task)[None], [C, 1, 1])
                rb = tf.tile(tf.gather(group[2 * L + 1], self.task)[None, None], [C, 1, 1])
                return ws + bs + [rw, rb]
            params = copies(self.params)
            m0, v0 = copies(self.moments[0]), copies(self.moments[1])
            # Per-copy update masks, broadcastable to each working copy.
            k = tf.cast(train, tf.bool)
            def mask(l, is_bias):
                kl = tf.reshape(tf.tile(k[:, l, :, None], [1, 1, F]), [C, N * F])
                if l == 0:
                    return tf.reshape(kl, [-1]) if is_bias else tf.reshape(kl, [1, -1])
                return kl[:, None, :]
            masks = ([mask(l, False) for l in range(L)] + [mask(l, True) for l in range(L)]
                     + [tf.constant(True), tf.constant(True)])
            n = len(params)

            def body(i, correct, step, *state):
                p, m, v = state[:n], state[n:2 * n], state[2 * n:]
                batch = self.batches[i]
                x = tf.reshape(tf.gather(self.images, batch), [self.batch_size, INPUTS])
                y = tf.reshape(tf.gather(self.labels, batch), [self.batch_size, CLASSES])
                logits = self._forward(x, p[:L], p[L:2 * L], p[-2], p[-1], on, C)
                loss = tf.nn.softmax_cross_entropy_with_logits_v2(
                    labels=tf.tile(y[None], [C, 1, 1]), logits=logits)
                # Candidates own disjoint copies, so one gradient of the summed
                # loss is each candidate's own gradient.
                grads = tf.gradients(tf.reduce_sum(tf.reduce_mean(loss, 1)), list(p))
                hits = tf.equal(tf.argmax(logits, 2), tf.argmax(y, 1)[None])
                step = step + 1.0
                new = [self._update(*a, step) for a in zip(p, grads, m, v, masks)]
                return ([i + 1, correct + tf.reduce_sum(tf.cast(hits, tf.int32), 1), step]
                        + [u[0] for u in new] + [u[1] for u in new] + [u[2] for u in new])

            out = tf.while_loop(lambda i, *_: i < T, body,
                                [tf.constant(0), tf.zeros([C], tf.int32), self.step]
                                + params + m0 + v0, parallel_iterations=1)
            self.correct = out[1]
            # Ties go to the first candidate.
            self.winner = tf.cast(self.correct[1] > self.correct[0], tf.int32)
            trained = out[3:]
            winner_slots = tf.gather(slots, self.winner)                    # [L, N]
            writes = [tf.assign(self.step, out[2])]
            for group, start in ((self.params, 0), (self.moments[0], n), (self.moments[1], 2 * n)):
                for j in range(n):
                    work, var = trained[start + j], group[j]
                    if j < 2 * L:
                        l = j % L
                        value = self._unlayout(work, l, self.winner, C, is_bias=j >= L)
                        writes.append(tf.scatter_update(var, winner_slots[l], value))
                    else:
                        writes.append(tf.scatter_update(var, [self.task],
                                                        tf.gather(work, self.winner)[None]
                                                        if j == 2 * L else
                                                        tf.gather(work, self.winner)))
            self.tournament_op = tf.group(*writes)

    def _eval_op(self):
        with tf.name_scope('evaluate'):
            slots, on, _, C = self._gather(self.eval_geopath, None)
            ws = [self._layout(self.weights[l], slots[:, l], l, C) for l in range(self.L)]
            bs = [self._layout(self.biases[l], slots[:, l], l, C) for l in range(self.L)]
            rw = tf.gather(self.readout_w, self.task)[None]
            rb = tf.gather(self.readout_b, self.task)[None, None]
            logits = self._forward(self.images_in, ws, bs, rw, rb, on, C)[0]
            hits = tf.equal(tf.argmax(logits, 1), tf.argmax(self.labels_in, 1))
            self.accuracy = tf.reduce_mean(tf.cast(hits, tf.float32))

    # -- the session side ----------------------------------------------------
    def feed_dict(self, task, geopaths=None, frozen=None, batches=None, images=None,
                  labels=None, keep=None):
        """The one place feeds are built."""
        feeds = {self.task: task}
        if geopaths is not None:
            feeds[self.geopath if len(geopaths) == 2 else self.eval_geopath] = np.asarray(geopaths)
        for ph, value in ((self.frozen, frozen), (self.batches, batches), (self.images_in, images),
                          (self.labels_in, labels), (self.keep, keep)):
            if value is not None:
                feeds[ph] = value
        return feeds

    def start_task(self, sess, task, images, labels, keep):
        sess.run(self.start_task_op, self.feed_dict(task, images=images, labels=labels, keep=keep))

    def tournament(self, sess, task, masks, frozen, batches):
        """Train both candidates from the same state on the same minibatches
        and keep the winner. Returns (correct counts [2], winner index)."""
        correct, winner, _ = sess.run(
            [self.correct, self.winner, self.tournament_op],
            self.feed_dict(task, geopaths=masks, frozen=frozen, batches=batches))
        return correct, int(winner)

    def evaluate(self, sess, task, mask, images, labels):
        return float(sess.run(self.accuracy, self.feed_dict(
            task, geopaths=[mask], images=images, labels=labels)))


def session(net, threads=0):
    """A session on the network's graph; threads=0 lets TensorFlow choose."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    return tf.Session(graph=net.graph, config=config)
