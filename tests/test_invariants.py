"""Checks that hold on every TensorFlow build (test_driver.py's golden rows
hold on one): a row's overlap and test accuracies agree with its paths and
the trained network, start_task draws what the contract states, and a
tournament's divergence flag covers the training it keeps."""
import csv

import numpy as np
import pytest

import binary_mnist_pathnet as driver
import input_data
import pathnet
import results_log
from pathnet import INIT_BIAS, PathNet, session

# Three tiny experiments; noise-free, so the test split can be rebuilt here.
ARGV = ['--seeds', '1-3', '--noise', '0', '--T', '4', '--candi', '6', '--max_steps', '6',
        '--threshold', '0.9', '--quiet']


def positions(path):
    """A row's path, e.g. '1-4|0|2-3', as its (layer, module) positions."""
    return {(l, int(m)) for l, layer in enumerate(path.split('|')) for m in layer.split('-')}


def as_mask(path, M):
    mask = np.zeros((len(path.split('|')), M), np.float32)
    for l, m in positions(path):
        mask[l, m] = 1.0
    return mask


@pytest.fixture(scope='module')
def written(mnist_dir, tmp_path_factory):
    """The rows of one driver run (main(ARGV)), each with what net.evaluate
    gives on the experiment's final state, looked up while the row is being
    written: {(test split of task d, readout of task r, path of task p):
    accuracy}, d, r, p in 0, 1 (task 1, task 2)."""
    log = tmp_path_factory.mktemp('invariants') / 'log.csv'
    data = input_data.load_mnist(mnist_dir)
    sessions, accuracies = [], []
    real_session, real_append = pathnet.session, results_log.append_row

    def spy_session(net, *a, **k):
        sessions.append((net, real_session(net, *a, **k)))
        return sessions[-1][1]

    def append_row(path, row):
        net, sess = sessions[-1]
        tests = [input_data.binary_task(data['test_images'], data['test_labels'],
                                        *map(int, row['task%d' % t].split('v')), 0.0, None)
                 for t in (1, 2)]
        masks = [as_mask(row['task%d_path' % t], net.M) for t in (1, 2)]
        accuracies.append({(d, r, p): net.evaluate(sess, r, masks[p], *tests[d])
                           for d in (0, 1) for r in (0, 1) for p in (0, 1)})
        real_append(path, row)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pathnet, 'session', spy_session)
        mp.setattr(results_log, 'append_row', append_row)
        mp.delenv('PATHNET_BATCH_PID', raising=False)
        assert driver.main(ARGV + ['--results', str(log), '--data_dir', mnist_dir]) == 0
    with open(log, newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['seed'] for r in rows] == ['1', '2', '3'] and len(accuracies) == 3
    return list(zip(rows, accuracies))


@pytest.mark.slow
def test_overlap_is_the_count_of_positions_on_both_paths(written):
    counts = []
    for row, _ in written:
        one, two = positions(row['task1_path']), positions(row['task2_path'])
        assert int(row['overlap']) == len(one & two), row
        counts.append((len(one & two), len(one), len(two)))
    # Not a trivial pass: somewhere the overlap is neither 0 nor either path's size.
    assert any(0 < both < min(n1, n2) for both, n1, n2 in counts), counts


def test_each_task_is_tested_with_its_own_path_and_readout(written):
    for row, accuracy in written:
        for t in (0, 1):
            assert row['task%d_test_accuracy' % (t + 1)] == '%.4f' % accuracy[t, t, t], \
                (row, accuracy)
    # Not a trivial pass: the other task's readout, and the other task's
    # path, each give a different figure somewhere.
    for wrong in ((lambda t: (t, 1 - t, t)), (lambda t: (t, t, 1 - t))):
        assert any('%.4f' % accuracy[wrong(t)] != '%.4f' % accuracy[t, t, t]
                   for _, accuracy in written for t in (0, 1))


# ---------------------------------------------------------------------------
# start_task: the contract's initialiser for every module it does not keep.

def read(sess, net):
    return sess.run({'w': net.weights, 'b': net.biases, 'rw': net.readout_w,
                     'rb': net.readout_b})


def assert_truncated_normal(values):
    """Drawn from a normal of stddev 0.1 redrawn beyond 2 stddevs: nothing
    beyond 0.2, and the spread of that distribution (stddev 0.0880, 28.5%
    beyond one stddev, mean 0), within sampling error of ~30,000 values."""
    v = np.concatenate([np.ravel(a) for a in values]).astype(np.float64)
    assert len(v) > 20000
    assert np.abs(v).max() <= 0.2 + 1e-6, np.abs(v).max()
    assert abs(v.std() - 0.0880) < 0.0020, v.std()
    assert abs(v.mean()) < 0.003, v.mean()
    assert abs(np.mean(np.abs(v) > 0.1) - 0.2847) < 0.015, np.mean(np.abs(v) > 0.1)


def test_start_task_draws_fresh_weights_and_biases_for_modules_not_kept():
    L, M, N, F = 3, 6, 2, 8
    net = PathNet(L=L, M=M, N=N, filt=F, T=3, batch_size=8, learning_rate=0.05)
    rng = np.random.default_rng(0)
    x = (rng.random((200, 784)) < 0.2).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 200)]
    keep = np.zeros((L, M), np.float32)
    keep[0, [1, 4]] = keep[1, 0] = keep[2, [2, 3]] = 1.0
    with session(net, 1) as sess:
        sess.run(net.init)
        net.start_task(sess, 0, x, y, np.zeros((L, M), np.float32), np.random.default_rng(1))
        first = read(sess, net)
        assert_truncated_normal(first['w'])
        assert all((b == np.float32(0.1)).all() for b in first['b'])
        assert np.abs(first['rw'][0]).max() <= 0.2 + 1e-6 and first['rw'][0].std() > 0.02
        assert (first['rb'][0] == np.float32(0.1)).all()
        # Train every module, so every weight and bias moves away from its start.
        for i in range(4):
            for pair in (([0, 1], [2, 3], [4, 5]), ([2, 3], [4, 5], [0, 1]),
                         ([4, 5], [0, 1], [2, 3])):
                masks = np.zeros((2, L, M), np.float32)
                for l, modules in enumerate(pair):
                    masks[:, l, modules] = 1.0
                net.tournament(sess, 0, masks, np.zeros((L, M), np.float32),
                               rng.integers(0, 200, (3, 8)))
        trained = read(sess, net)
        for l in range(L):
            for m in range(M):
                assert not np.array_equal(trained['w'][l][m], first['w'][l][m]), (l, m)
                assert (trained['b'][l][m] != np.float32(0.1)).any(), (l, m)
        net.start_task(sess, 1, x, y, keep, np.random.default_rng(2))
        second = read(sess, net)
    fresh = []
    for l in range(L):
        for m in range(M):
            w, b = second['w'][l][m], second['b'][l][m]
            if keep[l, m]:                              # kept: bit for bit
                assert np.array_equal(w, trained['w'][l][m]), (l, m)
                assert np.array_equal(b, trained['b'][l][m]), (l, m)
            else:                                       # a new draw, new biases
                assert (b == np.float32(INIT_BIAS)).all() and INIT_BIAS == 0.1, (l, m)
                assert not np.array_equal(w, trained['w'][l][m]), (l, m)
                assert not np.array_equal(w, first['w'][l][m]), (l, m)
                fresh.append(w)
    assert_truncated_normal(fresh)
    # task 2's readout is fresh; task 1's is kept
    assert np.abs(second['rw'][1]).max() <= 0.2 + 1e-6 and second['rw'][1].std() > 0.02
    assert not np.array_equal(second['rw'][1], trained['rw'][1])
    assert (second['rb'][1] == np.float32(0.1)).all()
    assert np.array_equal(second['rw'][0], trained['rw'][0])
    assert np.array_equal(second['rb'][0], trained['rb'][0])


# ---------------------------------------------------------------------------
# The divergence flag: restore, the winner's training; shared, both candidates'.

def two_layer_path(m1, m2, M=3):
    mask = np.zeros((2, M), np.float32)
    mask[0, m1] = mask[1, m2] = 1.0
    return mask


def test_restore_divergence_flag_is_the_winners():
    """Module 2 of layer 1 holds NaN weights: the path through it (BAD) has
    NaN logits, which argmax reads as class 0, while the readout's bias makes
    the other path (GOOD) answer class 1. With labels all 0 BAD wins, with
    labels all 1 GOOD wins, in either slot; the flag is the winner's."""
    net = PathNet(L=2, M=3, N=1, filt=4, T=3, batch_size=4, learning_rate=0.01)
    bad, good = two_layer_path(2, 0), two_layer_path(0, 0)
    x = (np.random.default_rng(0).random((16, 784)) < 0.2).astype(np.float32)
    batches = np.random.default_rng(1).integers(0, 16, (3, 4))
    seen = set()
    with session(net, 1) as sess:
        sess.run(net.init)
        for label in (0, 1):
            y = np.zeros((16, 2), np.float32)
            y[:, label] = 1.0
            for pair in ((bad, good), (good, bad)):
                net.start_task(sess, 0, x, y, np.zeros((2, 3), np.float32),
                               np.random.default_rng(2))
                w1 = sess.run(net.weights[0])
                w1[2] = np.nan
                net.weights[0].load(w1, sess)
                rb = sess.run(net.readout_b)
                rb[0] = [0.0, 50.0]
                net.readout_b.load(rb, sess)
                correct, w, finite = net.tournament(sess, 0, np.stack(pair),
                                                    np.zeros((2, 3), np.float32), batches)
                bad_won = pair[w] is bad
                assert sorted(correct) == [0, 12] and bad_won == (label == 0), (label, correct)
                assert finite is (not bad_won), (label, w, correct, finite)
                seen.add((w, bad_won))
                # the winner's training is what remains: NaN only when BAD won
                assert bool(np.isfinite(sess.run(net.readout_w)).all()) != bad_won
    assert seen == {(0, True), (1, True), (0, False), (1, False)}


def test_shared_divergence_flag_covers_both_candidates():
    """Shared: A's training and B's both stay, so either one's non-finite
    loss clears the flag, whoever wins. Images 8..15 have labels [3e38, 3e38]
    (POISON): their loss overflows to inf. DEAD, the path through layer 2's
    module 2 (bias -10), outputs 0 for every image, so on POISON it gets an
    infinite loss while no gradient reaches its modules or the readout's
    weights, and gradient descent moves both readout biases alike (finite):
    the other candidate, on LIVE and other images, trains normally. (Adam
    would not do: v = inf, then inf - inf, makes the readout NaN.)"""
    T, B = 3, 4
    net = PathNet(L=2, M=3, N=1, filt=4, T=T, batch_size=B, learning_rate=0.01,
                  optimizer='sgd', tournament='shared')
    rng = np.random.default_rng(0)
    x = (rng.random((16, 784)) < 0.2).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    y[8:] = 3e38
    normal, poison = rng.integers(0, 8, (T, B)), rng.integers(8, 16, (T, B))
    dead, live = two_layer_path(0, 2), two_layer_path(1, 1)
    flags = {}
    with session(net, 1) as sess:
        sess.run(net.init)
        for case, (pair, batches) in {'A diverged': ((dead, live), (poison, normal)),
                                      'B diverged': ((live, dead), (normal, poison)),
                                      'neither': ((dead, live), (normal, normal))}.items():
            net.start_task(sess, 0, x, y, np.zeros((2, 3), np.float32), np.random.default_rng(1))
            b2 = sess.run(net.biases[1])
            b2[2] = -10.0
            net.biases[1].load(b2, sess)
            before = sess.run(net.params)
            correct, w, finite = net.tournament(sess, 0, np.stack(pair),
                                                np.zeros((2, 3), np.float32), np.stack(batches))
            flags[case] = finite
            after = sess.run(net.params)
            assert all(np.isfinite(p).all() for p in after), case
            assert not np.array_equal(after[0][1], before[0][1]), case     # LIVE trained
    assert flags == {'A diverged': False, 'B diverged': False, 'neither': True}
