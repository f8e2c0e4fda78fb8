"""bench/plain_tf1.py, the benchmark's plain baseline, is the same tournament:
it computes what pathnet.PathNet computes from the same state, keeps the
winner's state, drops the loser's, and never moves frozen or inactive
modules. Small network, synthetic data, as in test_graph.py."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'bench'))
import plain_tf1  # noqa: E402
from pathnet import PathNet, session  # noqa: E402

# The small network, its synthetic data and helpers are test_graph's.
from test_graph import B, F, L, M, N, NO_FROZEN, T, batches, data, mask  # noqa: E402,F401

pytestmark = pytest.mark.slow       # a minute or more: the benchmark's baseline, not the product


@pytest.fixture(scope='module', params=['masked', 'cond'])
def plain(request):
    """Both forward variants the benchmark measures."""
    return plain_tf1.PlainPathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B,
                                  learning_rate=0.01, seed=3, forward=request.param)


def fresh(net, data, keep=NO_FROZEN):
    sess = session(net, 1)
    sess.run(net.init)
    net.start_task(sess, 0, *data, keep)
    return sess


def state(sess, net):
    """Every variable of the plain graph except the shadow copies."""
    return {v.name: sess.run(v) for v in net.graph.get_collection('variables')
            if 'shadow' not in v.name}


def module_vars(net, l, m, with_slots=True):
    names = ('w%d_%d' % (l, m), 'b%d_%d' % (l, m))
    return [v for v in net.graph.get_collection('variables')
            if 'shadow' not in v.name and v.name.split('/')[0].split(':')[0] in names
            and (with_slots or '/' not in v.name)]


def warm_up(sess, net, rng, frozen, rounds=10):
    for i in range(rounds):
        pair = [mask(*[rng.choice(M, N, replace=False) for _ in range(L)]) for _ in range(2)]
        net.tournament(sess, 0, np.stack(pair), frozen, batches(1000 + i))


def test_graph_finalized_and_op_count_constant(plain, data):
    sess = fresh(plain, data)
    before = len(plain.graph.get_operations())
    warm_up(sess, plain, np.random.default_rng(1), NO_FROZEN)
    assert len(plain.graph.get_operations()) == before
    assert plain.graph.finalized


def test_same_tournament_as_pathnet_from_the_same_state(plain, data):
    """Load pathnet's initial weights into the plain graph: one tournament
    gives the same fitness counts, winner and trained modules. (Only the
    first: from then on Adam's step count differs, per module vs global.)"""
    net = PathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B, learning_rate=0.01)
    ps = session(net, 1)
    ps.run(net.init)
    # rng 19: initial weights whose two candidates do not tie (the second wins)
    net.start_task(ps, 0, *data, NO_FROZEN, np.random.default_rng(19))
    start = {v: ps.run(v) for v in net.params}
    qs = fresh(plain, data)
    for l in range(L):
        for m in range(M):
            plain.w[l][m].load(start[net.weights[l]][m], qs)
            plain.b[l][m].load(start[net.biases[l]][m], qs)
    plain.rw[0].load(start[net.readout_w][0], qs)
    plain.rb[0].load(start[net.readout_b][0], qs)
    frozen = mask([1], [], [0])
    a, b = mask([0, 1], [2, 4], [0, 5]), mask([3], [1, 2], [4])
    got = plain.tournament(qs, 0, np.stack([a, b]), frozen, batches(7))
    want = net.tournament(ps, 0, np.stack([a, b]), frozen, batches(7))
    assert len(got) == len(want) == 3           # (correct, winner, finite)
    assert list(got[0]) == list(want[0]) and got[1] == want[1]
    assert got[2] is want[2] is True
    assert got[0][0] != got[0][1]                  # a real comparison
    for l in range(L):
        for m in range(M):
            np.testing.assert_allclose(qs.run(plain.w[l][m]), ps.run(net.weights[l])[m],
                                       rtol=1e-5, atol=2e-6)
            np.testing.assert_allclose(qs.run(plain.b[l][m]), ps.run(net.biases[l])[m],
                                       rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(qs.run(plain.rw[0]), ps.run(net.readout_w)[0],
                               rtol=1e-5, atol=2e-6)
    # The held-out measure from the same state: each path's accuracy is pathnet's.
    accuracy = [plain.evaluate(qs, 0, path, *data) for path in (a, b)]
    assert accuracy == [pytest.approx(net.evaluate(ps, 0, path, *data)) for path in (a, b)]


def test_winner_kept_loser_dropped_frozen_untouched(plain, data):
    sess = fresh(plain, data)
    rng = np.random.default_rng(3)
    frozen = mask([4], [5], [])
    # long enough that the network no longer predicts one class everywhere
    warm_up(sess, plain, rng, frozen, rounds=50)
    start = state(sess, plain)
    a, b = mask([0, 1], [2, 3], [4]), mask([1, 4], [3, 5], [0, 2])
    # evaluate: the path's own accuracy (another path scores otherwise) against
    # the labels given (swapped labels score the complement).
    images, labels = data
    accuracy = plain.evaluate(sess, 0, a, images, labels)
    assert accuracy != plain.evaluate(sess, 0, b, images, labels)
    assert plain.evaluate(sess, 0, a, images, labels[:, ::-1]) == pytest.approx(1 - accuracy)
    evaluated = state(sess, plain)
    assert all(np.array_equal(start[k], evaluated[k]) for k in start)    # it changes nothing

    def reset():
        for v in plain.graph.get_collection('variables'):
            if v.name in start:
                v.load(start[v.name], sess)     # feeds the initializer: no new ops
    # minibatches on which the two paths do not tie, so there is a real winner
    seed = next(s for s in range(11, 60) if reset() or
                len(set(plain.tournament(sess, 0, np.stack([a, b]), frozen, batches(s))[0])) == 2)
    wins = set()
    for pair in ((a, b), (b, a)):
        reset()
        correct, w, finite = plain.tournament(sess, 0, np.stack(pair), frozen, batches(seed))
        assert w == int(correct[1] > correct[0]) and finite is True
        wins.add(w)
        after = state(sess, plain)
        winner = pair[w]
        reset()
        plain.tournament(sess, 0, np.stack([winner, winner]), frozen, batches(seed))
        alone = state(sess, plain)
        for name in after:             # the winner's state is what remains
            np.testing.assert_array_equal(after[name], alone[name], err_msg=name)
        for l in range(L):
            for m in range(M):
                moved = [not np.array_equal(start[v.name], after[v.name])
                         for v in module_vars(plain, l, m)]
                if winner[l, m] and not frozen[l, m]:
                    assert all(moved), (l, m)
                else:       # inactive, frozen or trained only by the loser
                    assert not any(moved), (l, m)
        assert np.array_equal(after[plain.rw[1].name], start[plain.rw[1].name])
    assert wins == {0, 1}        # the winner sat once in each slot


def test_start_task_keeps_only_kept_modules(plain, data):
    sess = fresh(plain, data)
    warm_up(sess, plain, np.random.default_rng(5), NO_FROZEN, rounds=3)
    before = state(sess, plain)
    keep = mask([0, 1], [2], [3, 4])
    plain.start_task(sess, 1, *data, keep)
    now = state(sess, plain)
    for l in range(L):
        for m in range(M):
            name = plain.w[l][m].name
            assert np.array_equal(before[name], now[name]) == bool(keep[l, m])
    assert all(not np.any(sess.run(v)) or 'power' in v.name for v in plain.opt_vars)


def test_sgd_trains_the_path_only(data):
    net = plain_tf1.PlainPathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B, learning_rate=0.1,
                                 optimizer='sgd', seed=1)
    sess = fresh(net, data)
    w0, w1 = sess.run([net.w[0][0], net.w[0][1]])
    net.tournament(sess, 0, np.stack([mask([0], [0], [0])] * 2), NO_FROZEN, batches(1))
    assert not np.array_equal(w0, sess.run(net.w[0][0]))
    assert np.array_equal(w1, sess.run(net.w[0][1]))            # off the path


def test_divergence_reported_like_pathnet(data):
    """A learning rate that blows the network up: the tournament says the
    kept training was not finite, as pathnet.PathNet's does (the driver
    then stops the task)."""
    net = plain_tf1.PlainPathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B, learning_rate=1e30,
                                 optimizer='sgd', seed=1)
    sess = fresh(net, data)
    pair = np.stack([mask([0], [0], [0]), mask([1], [1], [1])])
    finite = [net.tournament(sess, 0, pair, NO_FROZEN, batches(i))[2] for i in range(3)]
    assert finite[-1] is False


def test_refuses_what_it_does_not_implement(plain, data):
    sess = fresh(plain, data)
    pair = np.stack([mask([0], [0], [0])] * 2)
    with pytest.raises(ValueError):      # shared tournament: batches [2, T, B]
        plain.tournament(sess, 0, pair, NO_FROZEN, np.stack([batches(1)] * 2))
    with pytest.raises(ValueError):      # fresh noise
        plain.tournament(sess, 0, pair, NO_FROZEN, batches(1), noise_seed=5)


def test_the_script_runs_one_experiment_through_the_drivers_loop(mnist_dir):
    """python bench/plain_tf1.py: both tasks through the driver's evolve() and
    lockstep's scheduler (one slot), held-out evaluation at each task's end,
    the 2017 log line at the end; what it does not implement is refused."""
    import subprocess
    script = plain_tf1.__file__
    env = dict(os.environ, MNIST_DATA_DIR=mnist_dir)
    p = subprocess.run([sys.executable, script, '--seed', '1', '--max_steps', '3', '--T', '5',
                        '--quiet'], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'Entire Iter:6,TASK1:3,TASK2:3,Overlap:' in p.stdout
    for flag in ('--tournament=shared', '--train_images=20'):
        p = subprocess.run([sys.executable, script, '--max_steps', '3', flag],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 1 and 'not supported: ' + flag.split('=')[0] in p.stderr
