"""Tournaments checked against an independent float64 NumPy reference.

The reference knows only the contract (the project's PATHNET.md) and the layout
of the state variables (net.params = per-layer weights [M, in, F], per-layer
biases [M, F], readout weights [tasks, F, 2], readout biases [tasks, 2];
net.moments = Adam's m and v in the same layout; net.step). It trains one
path one minibatch at a time with hand-written backprop and TF's Adam / plain
gradient descent update rules:

    train_path(state, mask, frozen, task, batches, data, opt)
        -> (new state, correct count)       # "path A for T minibatches from S"
    copy_tournament(state, masks, frozen, task, batches [T, B], ...)
        both from `state` on the same batches, winner's state kept
    shared_tournament(state, masks, frozen, task, batches [2, T, B], ...)
        A on batches[0] from `state`, then B on batches[1] from where A left it

Every test starts from a WARM state (task 2 after a task switch, non-zero
moments, step > 0) and plays several tournaments in a row; after each one
every weight, both moments and the step counter are compared, and every row
the reference leaves untouched must be bit-identical in the network.

A small network on synthetic data keeps this fast."""
import copy

import numpy as np
import pytest

import pathnet
from pathnet import PathNet, path_mask, session

L, M, N, F, T, B = 3, 5, 3, 6, 5, 8
TASK = 1                                   # task 2's readout
LR = {'adam': 0.01, 'sgd': 0.5}
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8       # TF's Adam defaults
HAS_SHARED = hasattr(pathnet.PathNet, 'TOURNAMENTS')
needs_shared = pytest.mark.skipif(not HAS_SHARED, reason='shared tournament not built yet')


def genes(*layers):
    """A path in the paper's form: [L, N] module indices (repeats allowed)."""
    return path_mask(np.array(layers), M)


# Layer 1 of A has 2 distinct modules, layers 2 and 3 of B have 1 and 2:
# repeated indices. FROZEN holds modules on A, on B and on both.
A = genes([0, 0, 1], [2, 3, 2], [0, 4, 4])
B_ = genes([0, 3, 4], [1, 1, 1], [0, 3, 3])
B2 = genes([0, 2, 4], [1, 4, 1], [0, 2, 3])
FROZEN = np.zeros((L, M), np.float32)
FROZEN[0, 1] = FROZEN[1, 1] = FROZEN[2, 0] = FROZEN[2, 3] = 1.0
NO_FROZEN = np.zeros((L, M), np.float32)


# ---------------------------------------------------------------------------
# The reference.

def read_state(sess, net):
    p, m, v, step = sess.run([net.params, net.moments[0], net.moments[1], net.step])
    as64 = lambda arrays: [np.array(a, np.float64) for a in arrays]   # noqa: E731
    return {'p': as64(p), 'm': as64(m), 'v': as64(v), 'step': float(step)}


def raw_state(sess, net):
    """The same, float32 as stored (for bit-for-bit comparisons)."""
    p, m, v, step = sess.run([net.params, net.moments[0], net.moments[1], net.step])
    return {'p': p, 'm': m, 'v': v, 'step': step}


def gradients(p, mask, task, x, y, aggregate='sum'):
    """Gradients of the mean softmax cross-entropy of one minibatch w.r.t.
    every module on the path (frozen ones too) and the task's readout, as
    {(param index, row): gradient}, and the number of hits. aggregate: a
    layer passes on the sum of its active modules, or (mean) their mean."""
    hs, zs, h = [x], [], x
    for l in range(L):
        z = {m: h @ p[l][m] + p[L + l][m] for m in np.flatnonzero(mask[l])}
        h = sum(np.maximum(a, 0.0) for a in z.values()) / (len(z) if aggregate == 'mean' else 1)
        zs.append(z)
        hs.append(h)
    logits = h @ p[2 * L][task] + p[2 * L + 1][task]
    e = np.exp(logits - logits.max(1, keepdims=True))
    d = (e / e.sum(1, keepdims=True) - y) / len(x)
    grads = {(2 * L, task): hs[-1].T @ d, (2 * L + 1, task): d.sum(0)}
    dh = d @ p[2 * L][task].T
    for l in reversed(range(L)):
        below = np.zeros_like(hs[l])
        for m, z in zs[l].items():
            dz = dh / (len(zs[l]) if aggregate == 'mean' else 1) * (z > 0)
            grads[l, m] = hs[l].T @ dz
            grads[L + l, m] = dz.sum(0)
            below += dz @ p[l][m].T
        dh = below
    hits = int(np.sum(logits.argmax(1) == y.argmax(1)))
    return grads, hits


def train_path(state, mask, frozen, task, batches, data, opt, aggregate='sum'):
    """Path `mask` trained for len(batches) minibatches from `state`. Only
    its unfrozen modules and the task's readout are updated. Returns the new
    state (the input is not modified) and the correct count."""
    s = copy.deepcopy(state)
    x_all, y_all = (np.asarray(a, np.float64) for a in data)
    correct = 0
    for batch in batches:
        grads, hits = gradients(s['p'], mask, task, x_all[batch], y_all[batch], aggregate)
        correct += hits
        s['step'] += 1
        t = s['step']
        for (j, row), g in grads.items():
            if j < 2 * L and frozen[j % L, row]:
                continue
            if opt == 'sgd':
                s['p'][j][row] -= LR[opt] * g
            else:
                m = s['m'][j][row] = BETA1 * s['m'][j][row] + (1 - BETA1) * g
                v = s['v'][j][row] = BETA2 * s['v'][j][row] + (1 - BETA2) * g * g
                lr_t = LR[opt] * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
                s['p'][j][row] -= lr_t * m / (np.sqrt(v) + EPS)
    return s, correct


def copy_tournament(state, masks, frozen, task, batches, data, opt, aggregate='sum'):
    """Default mode: both candidates from `state` on the same [T, B]
    minibatches; the winner's state is kept (ties to the first)."""
    runs = [train_path(state, m, frozen, task, batches, data, opt, aggregate) for m in masks]
    correct = [c for _, c in runs]
    winner = int(correct[1] > correct[0])
    return runs[winner][0], correct, winner


def shared_tournament(state, masks, frozen, task, batches, data, opt, aggregate='sum'):
    """The paper's serial mode: batches [2, T, B]; A trains on batches[0]
    from `state`, then B on batches[1] from the state A left; both stay."""
    after_a, ca = train_path(state, masks[0], frozen, task, batches[0], data, opt, aggregate)
    after_b, cb = train_path(after_a, masks[1], frozen, task, batches[1], data, opt, aggregate)
    return after_b, [ca, cb], int(cb > ca)


# ---------------------------------------------------------------------------
# Comparison.

def rows(state):
    """(group, param index, row) -> array, for every module row and readout row."""
    for group in ('p', 'm', 'v'):
        for j, a in enumerate(state[group]):
            for r in range(a.shape[0]):
                yield (group, j, r), a[r]


def assert_matches(ref, ref_before, got, got_before):
    """Every row within float tolerance of the reference; every row the
    reference did not touch bit-identical to what the network had before."""
    assert got['step'] == ref['step']
    ref_rows, before_rows = dict(rows(ref)), dict(rows(ref_before))
    got_rows, got_before_rows = dict(rows(got)), dict(rows(got_before))
    for key, want in ref_rows.items():
        have = got_rows[key]
        if np.array_equal(want, before_rows[key]):
            assert np.array_equal(have, got_before_rows[key]), ('changed', key)
        else:
            # float32 vs float64: Adam divides by sqrt(v), so relative error
            # of tiny gradients shows; a wrong module, slot, moment or step
            # count differs by orders of magnitude more.
            scale = np.abs(want).max()
            np.testing.assert_allclose(have, want, rtol=1e-4, atol=3e-4 * scale + 1e-12,
                                       err_msg=str(key))


# ---------------------------------------------------------------------------
# Fixtures: data and a warm network.

def make_data(seed=0, n=300):
    """Sparse binary-ish images; task 1's label shows in pixels 0..39, task
    2's in pixels 40..79."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 784)) < 0.1).astype(np.float32)
    ys = rng.integers(0, 2, (2, n))
    for t, y in enumerate(ys):
        x[:, 40 * t:40 * (t + 1)] = rng.random((n, 40)) < np.where(y[:, None] == 1, 0.35, 0.05)
    return x, [np.eye(2, dtype=np.float32)[y] for y in ys]


DATA_X, DATA_Y = make_data()
DATA = (DATA_X, DATA_Y[TASK])


def batches(seed, shape=(T, B)):
    return np.random.default_rng(seed).integers(0, len(DATA_X), shape)


def build(opt, tournament=None, aggregate='sum'):
    kwargs = {} if tournament is None else {'tournament': tournament}
    return PathNet(L=L, M=M, N=N, filt=F, T=T, batch_size=B, learning_rate=LR[opt],
                   optimizer=opt, tasks=2, aggregate=aggregate, **kwargs)


def warm(net, opt, frozen, warm_batches):
    """Task 1 trained a little, task switch (frozen kept, the rest and the
    optimizer re-initialised), then task 2 warmed up on path A: moments
    non-zero, step > 0, and A clearly better than B."""
    sess = session(net, threads=1)
    sess.run(net.init)
    net.start_task(sess, 0, DATA_X, DATA_Y[0], NO_FROZEN)
    for i in range(5):
        net.tournament(sess, 0, np.stack([A, A]), NO_FROZEN, warm_batches(i))
    net.start_task(sess, TASK, DATA_X, DATA_Y[TASK], frozen)
    for i in range(12):
        net.tournament(sess, TASK, np.stack([A, A]), frozen, warm_batches(100 + i))
    s = read_state(sess, net)
    assert s['step'] > 0
    if opt == 'adam':
        assert all(np.abs(a).max() > 0 for a in s['m'] + s['v'])
    return sess


@pytest.fixture(scope='module', params=['adam', 'sgd'])
def copy_net(request):
    return request.param, build(request.param)


# ---------------------------------------------------------------------------
# The default (copy) tournament.

def test_reference_detects_nothing_when_nothing_changes():
    """The comparison itself: a state compared with itself passes, and a
    state with one weight nudged is refused."""
    s = {'p': [np.ones((2, 3))], 'm': [np.zeros((2, 3))], 'v': [np.zeros((2, 3))], 'step': 1.0}
    assert_matches(s, s, s, s)
    t = copy.deepcopy(s)
    t['p'][0][1, 2] += 1e-3
    with pytest.raises(AssertionError):
        assert_matches(s, s, t, s)


@pytest.mark.slow
def test_several_copy_tournaments_match_reference_from_warm_state(copy_net):
    """Three tournaments in a row on task 2: A beats B (winner in slot 0),
    then a mutant of B loses to A (winner in slot 1), then A against itself
    (a tie: the first). Frozen modules on both paths, repeated indices."""
    opt, net = copy_net
    sess = warm(net, opt, FROZEN, lambda i: batches(i))
    ref = read_state(sess, net)
    got = raw_state(sess, net)
    for k, (pair, expected) in enumerate((((A, B_), 0), ((B2, A), 1), ((A, A), 0))):
        b = batches(1000 + k)
        ref_next, ref_correct, ref_winner = copy_tournament(ref, pair, FROZEN, TASK, b, DATA, opt)
        correct, winner, _ = net.tournament(sess, TASK, np.stack(pair), FROZEN, b)
        got_next = raw_state(sess, net)
        assert list(correct) == ref_correct and winner == ref_winner == expected, (k, correct)
        if k < 2:
            assert ref_correct[expected] > ref_correct[1 - expected]     # a real win
        # T steps: the loser's T steps are not counted
        assert got_next['step'] == got['step'] + T == ref_next['step']
        assert_matches(ref_next, ref, got_next, got)
        ref, got = ref_next, got_next
    sess.close()


# ---------------------------------------------------------------------------
# Masks with more than N modules in a layer.

def test_tournament_refuses_more_than_N_modules_in_a_layer(copy_net):
    opt, net = copy_net
    sess = warm(net, opt, NO_FROZEN, lambda i: batches(i))
    before = raw_state(sess, net)
    wide = A.copy()
    wide[1, [0, 1, 2, 3]] = 1.0                     # 4 modules in layer 2
    with pytest.raises(ValueError, match=r'path has 4 active modules in layer 2, at most N=3'):
        net.tournament(sess, TASK, np.stack([A, wide]), NO_FROZEN, batches(7))
    after = raw_state(sess, net)                     # refused before anything ran
    assert all(np.array_equal(before[g][j], after[g][j])
               for g in ('p', 'm', 'v') for j in range(2 * L + 2))
    assert after['step'] == before['step']
    net.tournament(sess, TASK, np.stack([A, B_]), NO_FROZEN, batches(7))   # N is fine
    sess.close()


def test_evaluate_evaluates_the_given_path_and_refuses_too_many_modules():
    """A trained network that does not answer one class for everything: a
    path's accuracy depends on its modules, so a path with one module too
    many cannot be answered by the accuracy of a cut path: refused."""
    net = PathNet(L=L, M=M, N=2, filt=F, T=T, batch_size=B, learning_rate=0.01)
    sess = session(net, threads=1)
    sess.run(net.init)
    x, y = DATA_X, DATA_Y[0]
    net.start_task(sess, 0, x, y, NO_FROZEN)
    two = genes([0, 1], [2, 3], [0, 4])
    for i in range(30):
        net.tournament(sess, 0, np.stack([two, two]), NO_FROZEN, batches(i))
    trained = net.evaluate(sess, 0, two, x, y)
    predicted_1 = np.mean(y[:, 1])
    assert trained > max(predicted_1, 1 - predicted_1) + 0.15        # above chance
    other = genes([0, 2], [2, 3], [0, 4])                         # one module swapped
    assert net.evaluate(sess, 0, other, x, y) != trained          # the path matters
    three = two.copy()
    three[0, 2] = 1.0                                              # 3 modules in layer 1
    with pytest.raises(ValueError, match=r'path has 3 active modules in layer 1, at most N=2'):
        net.evaluate(sess, 0, three, x, y)
    sess.close()


# ---------------------------------------------------------------------------
# The shared (serial) tournament: runs once PathNet(tournament='shared') exists.

@pytest.fixture(scope='module', params=['adam', 'sgd'])
def shared_net(request):
    if not HAS_SHARED:
        pytest.skip('shared tournament not built yet')
    return request.param, build(request.param, tournament='shared')


@needs_shared
def test_shared_mode_is_listed():
    assert 'shared' in PathNet.TOURNAMENTS


@pytest.mark.slow
@needs_shared
def test_several_shared_tournaments_match_reference_from_warm_state(shared_net):
    """A trains on its T minibatches and stays; B trains on its own T
    minibatches from where A left the network (weights, moments, step) and
    stays too. Three in a row; the winner once in each slot."""
    opt, net = shared_net
    sess = warm(net, opt, FROZEN, lambda i: batches(i, (2, T, B)))
    ref = read_state(sess, net)
    got = raw_state(sess, net)
    winners = []
    for k, pair in enumerate(((A, B_), (B2, A), (A, B2))):
        b = batches(2000 + k, (2, T, B))
        ref_next, ref_correct, ref_winner = shared_tournament(ref, pair, FROZEN, TASK, b, DATA, opt)
        correct, winner, _ = net.tournament(sess, TASK, np.stack(pair), FROZEN, b)
        got_next = raw_state(sess, net)
        assert list(correct) == ref_correct and winner == ref_winner, (k, correct)
        winners.append(winner)
        assert got_next['step'] == got['step'] + 2 * T == ref_next['step']
        assert_matches(ref_next, ref, got_next, got)
        ref, got = ref_next, got_next
    assert winners[:2] == [0, 1]
    sess.close()


@needs_shared
def test_shared_tournament_keeps_frozen_modules_bit_identical(shared_net):
    opt, net = shared_net
    sess = warm(net, opt, FROZEN, lambda i: batches(i, (2, T, B)))
    start = raw_state(sess, net)
    rng = np.random.default_rng(9)
    for i in range(8):
        pair = [path_mask(p, M) for p in pathnet.random_population(rng, 2, L, M, N)]
        pair = np.maximum(np.stack(pair), FROZEN * (i % 2))  # every other: all frozen on
        pair = np.stack([p if (p.sum(1) <= N).all() else A for p in pair])
        net.tournament(sess, TASK, pair, FROZEN, batches(3000 + i, (2, T, B)))
    end = raw_state(sess, net)
    changed = 0
    for l in range(L):
        for m in range(M):
            for g in ('p', 'm', 'v'):
                for j in (l, L + l):
                    same = np.array_equal(start[g][j][m], end[g][j][m])
                    assert same or not FROZEN[l, m], (g, j, m)
                    changed += not same
    assert changed
    assert end['step'] == start['step'] + 8 * 2 * T
    sess.close()


# ---------------------------------------------------------------------------
# Mean aggregation (--aggregate mean): every layer passes on the mean of its
# active modules, so each module's gradient is scaled by 1/count as well.

@pytest.mark.slow
@pytest.mark.parametrize('opt, tournament', [('adam', 'restore'), ('sgd', 'restore'),
                                             ('adam', 'shared')])
def test_mean_aggregation_tournaments_match_reference_from_warm_state(opt, tournament):
    """Three tournaments in a row from a warm state, as above, with layers
    that average their active modules. The paths have 1, 2 and 3 distinct
    modules in a layer (a repeated index counts once) and frozen modules."""
    net = build(opt, tournament, aggregate='mean')
    shape = (T, B) if tournament == 'restore' else (2, T, B)
    play = copy_tournament if tournament == 'restore' else shared_tournament
    sess = warm(net, opt, FROZEN, lambda i: batches(i, shape))
    ref, got = read_state(sess, net), raw_state(sess, net)
    for k, pair in enumerate(((A, B_), (B2, A), (A, B2))):
        b = batches(4000 + k, shape)
        ref_next, ref_correct, ref_winner = play(ref, pair, FROZEN, TASK, b, DATA, opt, 'mean')
        correct, winner, _ = net.tournament(sess, TASK, np.stack(pair), FROZEN, b)
        got_next = raw_state(sess, net)
        assert list(correct) == ref_correct and winner == ref_winner, (k, correct, ref_correct)
        assert_matches(ref_next, ref, got_next, got)
        ref, got = ref_next, got_next
    sess.close()
