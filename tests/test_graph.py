"""The super network graph: tournaments, freezing, optimizer state, graph size.

A small network on synthetic data keeps these fast; the properties do not
depend on size."""
import numpy as np
import pytest

import pathnet
from pathnet import PathNet, path_mask, session, tf

L, M, N, F, T, B = 3, 6, 2, 5, 4, 8


@pytest.fixture(scope='module')
def net():
    return PathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B, learning_rate=0.01)


@pytest.fixture(scope='module')
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = (rng.random((300, 784)) < 0.1).astype(np.float32)      # sparse, like digits
    x[:, :40] = rng.random((300, 40)) < np.where(y[:, None] == 1, 0.3, 0.1)
    return x, np.eye(2, dtype=np.float32)[y]


def fresh(net, data, task=0, keep=None, seed=0):
    """A session on the shared network, every module drawn afresh from a
    generator of the test's own (not the network's default one, which
    earlier tests would have advanced: a test alone would start elsewhere)."""
    sess = session(net)
    sess.run(net.init)
    net.start_task(sess, task, *data, keep if keep is not None else np.zeros((L, M), np.float32),
                   np.random.default_rng(seed))
    return sess


def variables(net):
    return net.params + net.moments[0] + net.moments[1] + [net.step]


def state(sess, net):
    return {v.name: sess.run(v) for v in variables(net)}


def restore(sess, net, values):
    for v in variables(net):
        v.load(values[v.name], sess)    # feeds the initializer: no new ops


def module_state(values, net, l, m):
    """Weights, biases and both moments of module m of layer l."""
    out = []
    for group in (net.params, net.moments[0], net.moments[1]):
        out += [values[group[l].name][m], values[group[L + l].name][m]]
    return out


def mask(*layers):
    """Mask of a path given as the active modules of each layer."""
    out = np.zeros((L, M), np.float32)
    for l, modules in enumerate(layers):
        out[l, modules] = 1.0
    return out


def batches(seed):
    return np.random.default_rng(seed).integers(0, 300, (T, B))


def warm_up(sess, net, rng, frozen, task=0, rounds=8):
    """A few tournaments on random paths, so moments are non-zero."""
    for _ in range(rounds):
        pair = pathnet.random_population(rng, 2, L, M, N)
        net.tournament(sess, task, np.stack([path_mask(p, M) for p in pair]), frozen,
                       batches(int(rng.integers(1 << 30))))


NO_FROZEN = np.zeros((L, M), np.float32)


def test_graph_is_finalized_and_op_count_constant(net, data):
    sess = fresh(net, data)
    before = len(net.graph.get_operations())
    warm_up(sess, net, np.random.default_rng(1), NO_FROZEN, rounds=30)
    net.evaluate(sess, 0, mask([0], [1], [2]), *data)
    assert len(net.graph.get_operations()) == before
    with pytest.raises(RuntimeError):
        with net.graph.as_default():
            tf.constant(1.0)


def test_tournament_matches_per_module_reference_with_stock_adam(net, data):
    """The gathered, two-candidate, in-graph loop computes what the plain
    design (one variable per module, tf.train.AdamOptimizer on the path's
    unfrozen modules and the readout, one run per minibatch) computes."""
    sess = fresh(net, data)
    frozen = mask([1], [4], [0])
    frozen[1, 4] = 0                              # frozen: (0, 1) and (2, 0)
    path = mask([0, 1], [2, 4], [0, 5])
    start = state(sess, net)
    b = batches(7)
    correct, winner, _ = net.tournament(sess, 0, np.stack([path, path]), frozen, b)
    after = state(sess, net)

    g = tf.Graph()
    with g.as_default():
        mods = {}
        for l in range(L):
            for m in np.flatnonzero(path[l]):
                mods[l, m] = (tf.Variable(start[net.weights[l].name][m]),
                              tf.Variable(start[net.biases[l].name][m]))
        rw = tf.Variable(start[net.readout_w.name][0])
        rb = tf.Variable(start[net.readout_b.name][0])
        x = tf.placeholder(tf.float32, [None, 784])
        y = tf.placeholder(tf.float32, [None, 2])
        h = x
        for l in range(L):
            h = tf.add_n([tf.nn.relu(tf.matmul(h, w) + bias)
                          for (ll, m), (w, bias) in sorted(mods.items()) if ll == l])
        logits = tf.matmul(h, rw) + rb
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
        hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1)), tf.int32))
        trainable = [rw, rb] + [v for (l, m), pair in mods.items() if not frozen[l, m] for v in pair]
        step = tf.train.AdamOptimizer(net.lr).minimize(loss, var_list=trainable)
        with tf.Session() as ref:
            ref.run(tf.global_variables_initializer())
            ref_correct = sum(ref.run([hits, step], {x: data[0][i], y: data[1][i]})[0] for i in b)
            ref_mods = ref.run(mods)
            ref_rw, ref_rb = ref.run([rw, rb])

    assert correct[0] == correct[1] == ref_correct and winner == 0
    for (l, m), (w, bias) in ref_mods.items():
        np.testing.assert_allclose(after[net.weights[l].name][m], w, rtol=1e-5, atol=3e-5)
        np.testing.assert_allclose(after[net.biases[l].name][m], bias, rtol=1e-5, atol=3e-5)
        if frozen[l, m]:
            assert np.array_equal(after[net.weights[l].name][m], start[net.weights[l].name][m])
        else:
            assert not np.array_equal(after[net.weights[l].name][m], start[net.weights[l].name][m])
    # Adam divides by sqrt(v): float reordering of tiny gradients shows at
    # ~1e-7; a wrong module or slot would differ by ~1e-2.
    np.testing.assert_allclose(after[net.readout_w.name][0], ref_rw, rtol=1e-5, atol=3e-5)
    np.testing.assert_allclose(after[net.readout_b.name][0], ref_rb, rtol=1e-5, atol=3e-5)
    assert after[net.step.name] == T


def test_candidates_start_from_same_state_on_same_minibatches(net, data):
    sess = fresh(net, data)
    # long enough that the network no longer predicts one class everywhere
    warm_up(sess, net, np.random.default_rng(2), NO_FROZEN, rounds=40)
    start = state(sess, net)
    a, b = mask([0, 1], [2], [3, 4]), mask([5], [0, 1], [2])
    differ = 0
    for seed in range(5, 10):
        restore(sess, net, start)
        same, w, _ = net.tournament(sess, 0, np.stack([a, a]), NO_FROZEN, batches(seed))
        assert same[0] == same[1] and w == 0                 # identical: tie -> first
        restore(sess, net, start)
        ab, _, _ = net.tournament(sess, 0, np.stack([a, b]), NO_FROZEN, batches(seed))
        restore(sess, net, start)
        ba, _, _ = net.tournament(sess, 0, np.stack([b, a]), NO_FROZEN, batches(seed))
        # each candidate's result depends on its path only, not on its slot
        # or on the other candidate
        assert ab[0] == same[0] == ba[1] and ab[1] == ba[0]
        differ += ab[0] != ab[1]
    assert differ                          # and the two paths really differ


@pytest.mark.parametrize('order', [0, 1])
def test_winner_state_is_what_remains_and_inactive_modules_untouched(net, data, order):
    """Run in both candidate orders, so the winner sits once in each slot."""
    sess = fresh(net, data, seed=4)       # from here a beats b 30 to 24 (seed 0: a tie)
    warm_up(sess, net, np.random.default_rng(3), NO_FROZEN, rounds=40)
    start = state(sess, net)
    # a and b differ in how many modules each layer has, so their slots
    # hold different modules and some of them are off
    a, b = mask([0, 1], [2, 3], [4]), mask([1, 5], [3], [0, 2])
    pair = (a, b) if order == 0 else (b, a)
    correct, w, _ = net.tournament(sess, 0, np.stack(pair), NO_FROZEN, batches(14))
    assert w == int(correct[1] > correct[0])
    assert correct[0] != correct[1]          # a real win, in the slot under test
    after = state(sess, net)
    winner, loser = pair[w], pair[1 - w]
    # the same state is reached by training the winner alone from the start
    restore(sess, net, start)
    net.tournament(sess, 0, np.stack([winner, winner]), NO_FROZEN, batches(14))
    alone = state(sess, net)
    for name in after:
        np.testing.assert_allclose(after[name], alone[name], rtol=1e-6, atol=1e-8)
    for l in range(L):
        for m in range(M):
            was, now = module_state(start, net, l, m), module_state(after, net, l, m)
            if winner[l, m]:
                assert not np.array_equal(was[0], now[0])
            else:       # inactive, or trained only by the loser: bit for bit
                assert all(np.array_equal(x, y) for x, y in zip(was, now)), (l, m, loser[l, m])
    # the other task's readout is not touched
    assert np.array_equal(after[net.readout_w.name][1], start[net.readout_w.name][1])


def test_frozen_modules_bit_identical_through_task_2(net, data):
    sess = fresh(net, data)
    rng = np.random.default_rng(4)
    warm_up(sess, net, rng, NO_FROZEN)
    path1 = mask([0, 1], [2, 5], [3, 4])
    end_of_task1 = state(sess, net)
    net.start_task(sess, 1, *data, path1, rng)       # freeze path1, re-init the rest
    task2_start = state(sess, net)
    for l in range(L):
        for m in range(M):
            w_before, w_now = (s[net.weights[l].name][m] for s in (end_of_task1, task2_start))
            assert np.array_equal(w_before, w_now) == bool(path1[l, m])
    assert task2_start[net.step.name] == 0
    assert all(not v.any() for g in net.moments for v in (task2_start[x.name] for x in g))
    # task-2 tournaments whose paths use frozen modules
    for i in range(12):
        pair = pathnet.random_population(rng, 2, L, M, N)
        if i % 2:       # every other: each layer's first gene a frozen module (at most N)
            pair[:, :, 0] = [np.flatnonzero(path1[l])[i // 2 % 2] for l in range(L)]
        masks = np.stack([path_mask(p, M) for p in pair])
        net.tournament(sess, 1, masks, path1, batches(100 + i))
    after = state(sess, net)
    changed = 0
    for l in range(L):
        for m in range(M):
            was, now = module_state(task2_start, net, l, m), module_state(after, net, l, m)
            if path1[l, m]:
                assert all(np.array_equal(x, y) for x, y in zip(was, now))
            else:
                changed += not np.array_equal(was[0], now[0])
    assert changed > 0
    for name in (net.readout_w.name, net.readout_b.name):     # task 1's readout kept
        assert np.array_equal(after[name][0], end_of_task1[name][0])


def test_start_task_keep_mask_for_controls(net, data):
    sess = fresh(net, data)
    warm_up(sess, net, np.random.default_rng(5), NO_FROZEN)
    end = state(sess, net)
    rng = np.random.default_rng(55)
    net.start_task(sess, 1, *data, np.ones((L, M), np.float32), rng)       # finetune
    kept = state(sess, net)
    net.start_task(sess, 1, *data, np.zeros((L, M), np.float32), rng)      # scratch
    fresh_all = state(sess, net)
    for l in range(L):
        for group in (net.weights, net.biases):
            assert np.array_equal(kept[group[l].name], end[group[l].name])
        for m in range(M):
            assert not np.array_equal(fresh_all[net.weights[l].name][m], end[net.weights[l].name][m])
    assert not np.array_equal(kept[net.readout_w.name][1], end[net.readout_w.name][1])


def test_evaluate_matches_numpy_forward(net, data):
    sess = fresh(net, data)
    warm_up(sess, net, np.random.default_rng(6), NO_FROZEN)
    s = state(sess, net)
    path = mask([0, 5], [1], [2, 4])
    x, y = data
    h = x
    for l in range(L):
        h = sum(np.maximum(h @ s[net.weights[l].name][m] + s[net.biases[l].name][m], 0)
                for m in np.flatnonzero(path[l]))
    logits = h @ s[net.readout_w.name][0] + s[net.readout_b.name][0]
    expected = np.mean(logits.argmax(1) == y.argmax(1))
    assert net.evaluate(sess, 0, path, x, y) == pytest.approx(expected, abs=1e-6)


def test_evolution_learns_a_separable_task(net, data):
    sess = fresh(net, data)
    rng = np.random.default_rng(7)
    first = [net.tournament(sess, 0, np.stack([mask([0], [0], [0])] * 2), NO_FROZEN,
                            batches(i))[0][0] for i in range(1)]
    for i in range(40):
        net.tournament(sess, 0, np.stack([mask([0], [0], [0])] * 2), NO_FROZEN, batches(i))
    last, _, _ = net.tournament(sess, 0, np.stack([mask([0], [0], [0])] * 2), NO_FROZEN, batches(99))
    assert first[0] < T * B * 0.8 and last[0] >= T * B * 0.9
