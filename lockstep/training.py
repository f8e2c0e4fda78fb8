"""The tournament's training loop, built for S experiment slots at once.

Each slot is a whole experiment with its own state (pathnet.PathNet keeps a
set of variables per slot). Outside the loop, every slot's candidates gather
their modules into scratch copies of their own; inside it, ONE graph loop
trains the candidates of all slots together: layers 2.. and the readout are
one batched matmul over all S*C candidates, the loss, gradients and hit counts
are computed once. Per slot remain what differs between slots: layer 1 (each
slot reads its own minibatch, so one matmul per slot), the fresh-noise draw,
and the fused optimizer kernel (its step count, hence Adam's bias correction,
is the slot's own, and the kernel takes it as a scalar).

Every per-candidate number is computed by the same kernels on the same
shapes as when the slot runs alone, so a slot's results do not depend on
what runs beside it (tests/test_slots.py checks it bit for bit).
"""
import os

# As pathnet.py: this module may be imported first (the tests import it).
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow.compat.v1 as tf  # noqa: E402

INPUTS = 784
CLASSES = 2
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8   # TF defaults


class Training:
    """Mixed into PathNet, which provides the sizes (L, M, N, filt, T,
    batch_size, S), the optimizer settings, the placeholders (frozen [S, L, M],
    task_of_slot [S], noise_seed [S]) and self.slot[s], each slot's state."""

    # -- a path's modules, gathered --------------------------------------------
    def _modules(self, geopath, frozen):
        """The N module positions of each layer of C candidates (geopath
        [C, L, M]).

        top_k on a 0/1 mask returns the active modules first (lower index
        first on ties), so every layer gets N distinct positions; a position
        whose module is not on the path is 'off': it adds nothing forward and
        is never updated, and being distinct it can be scattered back safely.
        Returns, per layer, picks [C, N] and float masks on, train [C, N]."""
        C = int(geopath.shape[0])
        picks = tf.math.top_k(geopath, k=self.N, sorted=True).indices        # [C, L, N]
        on = tf.gather(geopath, picks, batch_dims=2)
        train = on
        if frozen is not None:
            frozen = tf.tile(tf.expand_dims(frozen, 0), [C, 1, 1])
            train = on * (1.0 - tf.gather(frozen, picks, batch_dims=2))
        return [tf.unstack(t, axis=1) for t in (picks, on, train)]

    def _layout(self, var, picks, l, C):
        """Rows `picks` [C, N] of a module variable ([M, in, F] weights or
        [M, F] biases) laid out so a layer is one matmul: weights [in, C*N*F]
        for layer 1 (a slot's candidates share its input), [C, in, N*F] above."""
        g = tf.gather(var, tf.reshape(picks, [-1]))
        N, F = self.N, self.filt
        if len(var.shape) == 2:
            return tf.reshape(g, [-1]) if l == 0 else tf.reshape(g, [C, 1, N * F])
        inputs = int(var.shape[1])
        if l == 0:
            return tf.reshape(tf.transpose(g, [1, 0, 2]), [inputs, C * N * F])
        return tf.reshape(tf.transpose(tf.reshape(g, [C, N, inputs, F]), [0, 2, 1, 3]),
                          [C, inputs, N * F])

    def _unlayout(self, work, l, c, is_bias):
        """Candidate c's modules of a laid-out copy, as module rows [N, in?, F]."""
        N, F = self.N, self.filt
        if is_bias:
            return tf.gather(tf.reshape(work, [-1, N, F]), c)
        if l == 0:
            return tf.transpose(tf.gather(tf.reshape(work, [INPUTS, -1, N, F]), c, axis=1),
                                [1, 0, 2])
        return tf.transpose(tf.reshape(tf.gather(work, c), [-1, N, F]), [1, 0, 2])

    def _module_mask(self, m, l, C):
        """A per-module mask [C, N] spread over a laid-out copy of layer l:
        [C*N*F] in layer 1, [C, 1, N*F] above (broadcasts to weights too)."""
        mf = tf.tile(tf.reshape(m, [C, self.N, 1]), [1, 1, self.filt])
        return tf.reshape(mf, [-1] if l == 0 else [C, 1, -1])

    def _copies(self, group, picks, C, task):
        """Laid-out copies of [weights..., biases..., readout w, readout b]."""
        L = self.L
        out = [self._layout(group[l], picks[l], l, C) for l in range(L)]
        out += [self._layout(group[L + l], picks[l], l, C) for l in range(L)]
        rw = tf.gather(group[2 * L], task)
        rb = tf.gather(group[2 * L + 1], task)
        return out + [tf.tile(tf.expand_dims(rw, 0), [C, 1, 1]),
                      tf.tile(tf.reshape(rb, [1, 1, CLASSES]), [C, 1, 1])]

    # -- the network ------------------------------------------------------------
    def _forward(self, xs, p, on, keep, C):
        """Logits [S*C, batch, 2] of S slots of C candidates. xs: each slot's
        images [batch, 784]; p: each slot's laid-out copies (_copies); on[l]:
        per layer [S*C, N], which modules are on the path; keep: per layer, as
        _module_mask, stacked ([S, 1, C*N*F] in layer 1, [S*C, 1, N*F] above):
        where 0 the module is frozen, its weights get no gradient but gradient
        still flows through it to the layers below. A module is dense + ReLU;
        a layer outputs the sum (or mean) of its active modules."""
        L, N, F, S = self.L, self.N, self.filt, len(xs)

        def frozen_blend(t, k):
            return k * t + (1.0 - k) * tf.stop_gradient(t)

        def stacked(j):    # one parameter of every slot, candidates along axis 0
            return tf.concat([q[j] for q in p], 0) if S > 1 else p[0][j]

        def matmul(a, b):
            """A batched matmul over the S*C candidates. TensorFlow's CPU kernel
            takes another path for a batch of one (a lone experiment's shared
            tournament, C = 1) than for a larger one, and that path sums in
            another order (the readout's [B, F] x [F, 2] differs in the last
            bit): then one matmul per slot, as the slot alone would run it."""
            if C > 1 or S == 1:
                return tf.matmul(a, b)
            return tf.concat([tf.matmul(x, y) for x, y in zip(tf.split(a, S), tf.split(b, S))], 0)

        def combine(h, l):     # h [S*C, B, F]: the sum of layer l's active modules
            if self.aggregate == 'sum':
                return h
            return h / tf.reshape(tf.maximum(tf.reduce_sum(on[l], 1), 1.0), [-1, 1, 1])
        # Each slot reads its own images: layer 1 is a matmul per slot. Its blend
        # can act on the small pre-activations instead of the large weights.
        z = tf.stack([tf.matmul(x, q[0]) + q[L] for x, q in zip(xs, p)])   # [S, B, C*N*F]
        z = frozen_blend(z, keep[0])
        h = tf.reshape(tf.nn.relu(z), [S, -1, C, N, F]) * tf.reshape(on[0], [S, 1, C, N, 1])
        h = combine(tf.reshape(tf.transpose(tf.reduce_sum(h, 3), [0, 2, 1, 3]),
                               [S * C, -1, F]), 0)
        for l in range(1, L):
            w, b = frozen_blend(stacked(l), keep[l]), frozen_blend(stacked(L + l), keep[l])
            z = tf.nn.relu(matmul(h, w) + b)                            # [S*C, B, N*F]
            h = combine(tf.reduce_sum(tf.reshape(z, [S * C, -1, N, F])
                                      * tf.reshape(on[l], [S * C, 1, N, 1]), 2), l)
        return matmul(h, stacked(2 * L)) + stacked(2 * L + 1)

    # -- the training loop --------------------------------------------------------
    def _train(self, geopath, batches, step0, phase):
        """Train the C candidates of every slot (geopath [S, C, L, M]) for T
        minibatches (batches [S, T, B]) on scratch copies of their modules, with
        the fused optimizer kernels (elementwise Adam in separate ops cost 3/4 of
        the time). step0 [S]: each slot's optimizer step count. Returns correct
        counts [S, C], whether every loss was finite [S, C], the step counts
        after training [S], and keep(c): the ops that write candidate c[s] of
        every slot s back into that slot's state."""
        L, T, B, S = self.L, self.T, self.batch_size, self.S
        C = int(geopath.shape[1])
        picks, on, train, keep, work, work_m, load = [], [], [], [], [], [], []
        for s, state in enumerate(self.slot):
            pk, o, tr = self._modules(geopath[s], self.frozen[s])
            kp = [self._module_mask(tr[l], l, C) for l in range(L)]
            params = self._copies(state.params, pk, C, self.task_of_slot[s])
            moments = [self._copies(m, pk, C, self.task_of_slot[s]) for m in state.moments]
            # The scratch buffers' initializers must not wait for the training
            # this phase may depend on (shared: candidate A's writes).
            with tf.name_scope('scratch'), tf.control_dependencies(None):
                w = [tf.Variable(tf.zeros(q.shape), trainable=False) for q in params]
                wm = [[tf.Variable(tf.zeros(q.shape), trainable=False) for q in params]
                      for _ in moments]
            # Only trained modules keep their moments: with zero moments and a
            # zero gradient the fused Adam step leaves a weight exactly as is.
            load += [tf.assign(a, q) for a, q in zip(w, params)]
            load += [tf.assign(a, m * k) for am, mm in zip(wm, moments)
                     for a, m, k in zip(am, mm, kp + kp + [1.0, 1.0])]
            picks.append(pk), on.append(o), train.append(tr), keep.append(kp)
            work.append(w), work_m.append(wm)
        on_all = [tf.concat([o[l] for o in on], 0) for l in range(L)]          # [S*C, N]
        keep_all = [tf.reshape(tf.stack([k[0] for k in keep]), [S, 1, -1])] + \
            [tf.concat([k[l] for k in keep], 0) for l in range(1, L)]
        with tf.control_dependencies(load):
            i0 = tf.constant(0) + 0

        def body(i, correct, finite, step):
            with tf.control_dependencies([i]):      # read after last update
                p = [[a.read_value() for a in w] for w in work]
            batch = tf.unstack(tf.gather(batches, i, axis=1))                # S x [B]
            xs, ys = [], []
            for s, state in enumerate(self.slot):
                x = tf.reshape(tf.gather(state.images, batch[s]), [B, INPUTS])
                if self.fresh_noise:
                    x = self._noisy(x, self.noise_seed[s], tf.cast(phase * T + i, tf.int64))
                xs.append(x)
                y = tf.reshape(tf.gather(state.labels, batch[s]), [1, B, CLASSES])
                ys.append(tf.tile(y, [C, 1, 1]))
            y = tf.concat(ys, 0) if S > 1 else ys[0]                           # [S*C, B, 2]
            logits = self._forward(xs, p, on_all, keep_all, C)
            loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits)
            # Candidates own disjoint copies, so one gradient of the summed
            # loss is each candidate's own gradient.
            flat = [a for q in p for a in q]
            grads = tf.gradients(tf.reduce_sum(tf.reduce_mean(loss, 1)), flat)
            hits = tf.cast(tf.equal(tf.argmax(logits, 2), tf.argmax(y, 2)), tf.int32)
            finite = tf.logical_and(finite, tf.reshape(
                tf.reduce_all(tf.is_finite(loss), 1), [S, C]))
            step = step + 1.0
            # The reads above may alias the scratch buffers, which the
            # kernels update in place: every gradient first.
            with tf.control_dependencies(grads + [hits, finite]):
                grads = [tf.identity(g) for g in grads]
            updates = []
            for s, (w, wm, t) in enumerate(zip(work, work_m, tf.unstack(step))):
                g = grads[s * len(w):(s + 1) * len(w)]
                if self.optimizer == 'sgd':
                    updates += [tf.raw_ops.ApplyGradientDescent(var=a, alpha=self.lr, delta=d)
                                for a, d in zip(w, g)]
                else:
                    # The slot's own step: its bias correction, as a scalar.
                    b1, b2 = ADAM_BETA1 ** t, ADAM_BETA2 ** t
                    updates += [tf.raw_ops.ApplyAdam(
                        var=a, m=m, v=v, beta1_power=b1, beta2_power=b2, lr=self.lr,
                        beta1=ADAM_BETA1, beta2=ADAM_BETA2, epsilon=ADAM_EPSILON, grad=d)
                        for a, m, v, d in zip(w, wm[0], wm[1], g)]
            with tf.control_dependencies(updates):
                return i + 1, correct + tf.reshape(tf.reduce_sum(hits, 1), [S, C]), finite, step

        _, correct, finite, step = tf.while_loop(
            lambda i, *_: i < T, body,
            [i0, tf.zeros([S, C], tf.int32), tf.ones([S, C], tf.bool), step0],
            parallel_iterations=1)

        def keep_candidates(c):
            after = [correct, finite, step]
            return tf.group(*[self._keep(state, c[s], picks[s], train[s], work[s], work_m[s],
                                         self.task_of_slot[s], after)
                              for s, state in enumerate(self.slot)])
        return correct, finite, step, keep_candidates

    def _noisy(self, x, seed, draw):
        """Salt-and-pepper noise drawn anew for this use of the images, from
        the slot's tournament seed and the minibatch's number: the same seed
        gives the same noise. One uniform draw per pixel, as in input_data."""
        u = tf.random.stateless_uniform(tf.shape(x), tf.stack([seed, draw]))
        return tf.where_v2(u < self.fresh_noise,
                           tf.cast(u >= self.fresh_noise / 2, tf.float32), x)

    def _keep(self, state, c, picks, train, work, work_m, task, after):
        """Scatter candidate c's trained modules back into a slot's state. Its
        off and frozen modules are written back as they were, so they stay
        bit for bit; the other candidate's work is dropped."""
        L, N = self.L, self.N
        rows = [tf.gather(picks[l], c) for l in range(L)]                    # [N] each
        trained_module = [tf.gather(train[l], c) > 0 for l in range(L)]
        with tf.control_dependencies(after):
            writes = []
            for group, scratch in ((state.params, work), (state.moments[0], work_m[0]),
                                   (state.moments[1], work_m[1])):
                for j in range(2 * L):
                    l, is_bias = j % L, j >= L
                    trained = self._unlayout(scratch[j].read_value(), l, c, is_bias)
                    kept = tf.reshape(trained_module[l], [N] + [1] * (2 - is_bias))
                    writes.append(tf.scatter_update(group[j], rows[l], tf.where_v2(
                        kept, trained, tf.gather(group[j], rows[l]))))
                for j, shape in ((2 * L, [1, self.filt, CLASSES]), (2 * L + 1, [1, CLASSES])):
                    writes.append(tf.scatter_update(group[j], tf.reshape(task, [1]),
                                  tf.reshape(tf.gather(scratch[j].read_value(), c), shape)))
        return tf.group(*writes)
