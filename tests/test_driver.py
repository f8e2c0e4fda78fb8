"""The driver's own logic: evolve() on a stub network, the minibatch stream,
the test split, thresholds, several seeds in one process, interruption and
failure between experiments, fresh noise, mean aggregation, golden rows.

Runs are in-process (main(argv)) with tiny settings; MNIST is read once."""
import argparse
import csv
import os
import re
import sys
import types

import numpy as np
import pytest

import binary_mnist_pathnet as driver
import input_data
import pathnet
import results_log
from conftest import ROOT
from pathnet import PathNet, path_mask, session, tf

SMALL = ['--max_steps', '4', '--T', '3', '--candi', '4', '--quiet']
GEN_LINE = re.compile(r'^task (\d)  gen +(\d+)  fitness ([\d.]+) ([\d.]+)  best ([\d.]+)')
_MNIST = {}


@pytest.fixture(autouse=True)
def cached_mnist(monkeypatch):
    """Every in-process run reads the same MNIST arrays; read them once."""
    real = input_data.load_mnist

    def load(data_dir, *a, **k):
        if data_dir not in _MNIST:
            _MNIST[data_dir] = real(data_dir, *a, **k)
        return {key: v.copy() for key, v in _MNIST[data_dir].items()}
    monkeypatch.setattr(input_data, 'load_mnist', load)
    monkeypatch.delenv('PATHNET_BATCH_PID', raising=False)


def rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def comparable(row):
    row = dict(row)
    row.pop('timestamp'), row.pop('seconds')
    return row


def run_main(tmp_path, mnist_dir, argv, name='log.csv', stop=None):
    log = str(tmp_path / name)
    code = driver.main(argv + ['--results', log, '--data_dir', mnist_dir], stop=stop)
    return code, (rows(log) if (tmp_path / name).exists() else [])


# ---------------------------------------------------------------------------
# 1. evolve() on a stub network

class SpyRng:
    """The run's generator, recording the pairs it draws."""

    def __init__(self, seed):
        self.g, self.pairs = np.random.default_rng(seed), []

    def choice(self, *a, **k):
        out = self.g.choice(*a, **k)
        self.pairs.append(np.array(out))
        return out

    def __getattr__(self, name):
        return getattr(self.g, name)


class StubNet:
    """tournament() returns scripted (correct, winner, finite) and records
    what it was given, with the population as it stood at that moment."""

    def __init__(self, script=(), populations=None, val_script=()):
        self.script, self.calls, self.populations = list(script), [], populations
        self.val_script, self.evaluations = list(val_script), []

    def tournament(self, sess, task, masks, frozen, batches, noise_seed):
        self.calls.append(dict(task=task, masks=np.array(masks), frozen=frozen,
                               batches=np.array(batches), noise_seed=noise_seed,
                               population=self.populations[-1].copy()
                               if self.populations else None))
        if self.script:
            correct, w, finite = self.script.pop(0)
        else:
            g = len(self.calls)
            correct, w, finite = ([1, 0], 0, True) if g % 3 else ([0, 1], 1, True)
        self.calls[-1]['winner'] = w
        return np.array(correct), w, finite

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        """The validation accuracy: scripted (val_script) or 0.5."""
        self.evaluations.append((len(self.calls), task, np.array(mask)))
        return self.val_script.pop(0) if self.val_script else 0.5


class NoStop:
    def check(self):
        pass


class SilentReport(driver.Report):
    def generation(self, *a):
        pass


def evolve_args(**kw):
    args = driver.parse_args(['--seed', '1', '--T', '10', '--batch_size', '10',
                              '--candi', '6', '--M', '10'])
    vars(args).update(kw)
    return args


@pytest.fixture
def spies(monkeypatch):
    """Record every population drawn (the array evolve then updates in
    place) and every mutation (its input and output)."""
    populations, mutations = [], []
    real_pop, real_mutate = pathnet.random_population, pathnet.mutate

    def random_population(rng, size, L, M, N):
        pop = real_pop(rng, size, L, M, N)
        populations.append(pop)
        return pop

    def mutate(path, rng, M):
        out = real_mutate(path, rng, M)
        mutations.append((np.array(path), np.array(out)))
        return out
    monkeypatch.setattr(pathnet, 'random_population', random_population)
    monkeypatch.setattr(pathnet, 'mutate', mutate)
    return populations, mutations


def evolve(net, args, rng=None, batcher=None, noise_rng=None, task=0):
    rng = rng if rng is not None else SpyRng(5)
    batcher = batcher or input_data.Batcher(1000, np.random.default_rng(6))
    frozen = np.zeros((args.L, args.M), np.float32)
    ex = driver.Experiment(args, SilentReport(args), NoStop())
    ex.evo_rng, ex.noise_rng = rng, noise_rng or np.random.default_rng(7)
    ex.validation = [('validation images, task %d' % t, 'labels') for t in (1, 2)]
    return play(driver.evolve(net, None, ex, task, frozen, batcher), net)


def play(steps, net, sess=None):
    """Drive a generator of driver.evolve/experiment alone, each tournament it
    yields played by net.tournament; its return value."""
    outcome = None
    try:
        while True:
            r = steps.send(outcome)
            outcome = net.tournament(sess, r.task, r.masks, r.frozen, r.batches, r.noise_seed)
    except StopIteration as end:
        return end.value


def test_evolve_pairs_distinct_members_and_loser_becomes_mutated_winner(spies):
    populations, mutations = spies
    args = evolve_args(threshold=1.0, max_steps=60)
    net, rng = StubNet(populations=populations), SpyRng(5)
    result = evolve(net, args, rng=rng)
    assert result.generations == 60 and len(net.calls) == 60 and len(mutations) == 60
    final = populations[-1]
    befores = [c['population'] for c in net.calls] + [final]
    for g, call in enumerate(net.calls):
        pair, before, after = rng.pairs[g], befores[g], befores[g + 1]
        assert pair[0] != pair[1] and 0 <= pair.min() and pair.max() < args.candi
        # the masks fed are the pair's paths, in the pair's order
        assert np.array_equal(call['masks'], [path_mask(before[i], args.M) for i in pair])
        w = call['winner']
        winner, loser = pair[w], pair[1 - w]
        src, out = mutations[g]
        assert np.array_equal(src, before[winner])           # mutated: the winner's copy
        assert np.array_equal(after[loser], out)             # ... put in the loser's place
        assert np.array_equal(after[winner], before[winner])  # the winner unchanged
        others = [i for i in range(args.candi) if i not in pair]
        assert np.array_equal(after[others], before[others])
    # mutation really happened somewhere (so the checks above had teeth)
    assert any(not np.array_equal(a, b) for a, b in mutations)


def test_evolve_stops_at_first_generation_winner_reaches_threshold(spies):
    args = evolve_args(threshold=0.97, max_steps=50)
    script = [([50, 60], 1, True), ([96, 40], 0, True), ([70, 98], 1, True),
              ([99, 99], 0, True)]
    net = StubNet(script)
    result = evolve(net, args)
    assert (result.generations, result.converged, result.diverged) == (3, True, False)
    assert len(net.calls) == 3
    assert result.fitness == pytest.approx(0.98)
    assert np.array_equal(result.mask, net.calls[2]['masks'][1])
    assert result.reached == {0.95: 2, 0.98: 3}


def test_evolve_at_cap_is_not_converged(spies):
    args = evolve_args(threshold=0.999, max_steps=5)
    net = StubNet([([90, 80], 0, True)] * 5 + [([100, 100], 0, True)])
    result = evolve(net, args)
    assert (result.generations, result.converged, result.diverged) == (5, False, False)
    assert len(net.calls) == 5 and result.fitness == pytest.approx(0.9)


def test_evolve_non_finite_stops_as_diverged(spies, capsys):
    args = evolve_args(threshold=0.97, max_steps=50)
    net = StubNet([([50, 60], 1, True), ([40, 99], 1, False), ([99, 99], 0, True)])
    result = evolve(net, args)
    assert (result.generations, result.converged, result.diverged) == (2, False, True)
    assert len(net.calls) == 2
    assert 'task 1 diverged at generation 2' in capsys.readouterr().err


def test_evolve_threshold_columns_record_first_generation_reached(spies):
    args = evolve_args(threshold=1.0, max_steps=7)
    winners = [50, 96, 90, 98.5, 97, 99.5, 30]          # in percent of 100 images
    script = [([40, w * 1.0], 1, True) if k % 2 else ([w * 1.0, 40], 0, True)
              for k, w in enumerate(winners)]
    result = evolve(StubNet(script), args)
    assert result.reached == {0.95: 2, 0.98: 4, 0.99: 6}
    assert (result.generations, result.converged) == (7, False)


def test_each_task_starts_from_a_fresh_population(spies):
    populations, _ = spies
    args = evolve_args(threshold=1.0, max_steps=2)
    rng = SpyRng(5)
    net1, net2 = StubNet(populations=populations), StubNet(populations=populations)
    first = evolve(net1, args, rng=rng, task=0)
    evolve(net2, args, rng=rng, task=1)
    assert first.generations == 2 and len(populations) == 2    # one draw per task
    assert populations[0] is not populations[1]
    start0, start1 = net1.calls[0]['population'], net2.calls[0]['population']
    assert start1.shape == (args.candi, args.L, args.N)
    # a new draw from the run's generator: neither task 1's start nor its end
    assert not np.array_equal(start1, start0)
    assert not np.array_equal(start1, populations[0])


# ---------------------------------------------------------------------------
# 2. minibatches

def test_batcher_epochs_are_permutations_and_reshuffle():
    b = input_data.Batcher(10, np.random.default_rng(0))
    stream = np.concatenate([b.take(4) for _ in range(10)])        # 4 epochs
    epochs = stream.reshape(4, 10)
    for e in epochs:
        assert sorted(e) == list(range(10))
    assert len({tuple(e) for e in epochs}) == 4                    # reshuffled each epoch
    # deterministic from the generator
    again = input_data.Batcher(10, np.random.default_rng(0))
    assert np.array_equal(np.concatenate([again.take(8) for _ in range(5)]), stream)


@pytest.mark.parametrize('mode', ['restore', 'shared'])
def test_evolve_feeds_the_batcher_stream(spies, mode):
    T, B, n, gens = 3, 4, 48, 12
    args = evolve_args(T=T, batch_size=B, threshold=1.0, max_steps=gens, tournament=mode)
    net = StubNet()
    evolve(net, args, batcher=input_data.Batcher(n, np.random.default_rng(9)))
    shape = (T, B) if mode == 'restore' else (2, T, B)
    fed = [c['batches'] for c in net.calls]
    assert all(f.shape == shape for f in fed)       # restore: one [T, B] for both
    stream = np.concatenate([f.ravel() for f in fed])
    ref = input_data.Batcher(n, np.random.default_rng(9))
    assert np.array_equal(stream, ref.take(len(stream)))   # the stream, in order
    epochs = stream[:len(stream) // n * n].reshape(-1, n)
    assert len(epochs) >= 3
    for e in epochs:
        assert sorted(e) == list(range(n))          # distinct within an epoch
    for a, b in zip(fed, fed[1:]):
        assert not np.array_equal(a, b)             # moves on between tournaments
    for f in fed:
        rows_ = f.reshape(-1, B)
        assert len({tuple(r) for r in rows_}) == len(rows_)   # not one minibatch T times
        if mode == 'shared':
            assert not set(f[0].ravel()) & set(f[1].ravel())


def test_evolve_noise_seeds(spies):
    net = StubNet()
    evolve(net, evolve_args(threshold=1.0, max_steps=5))
    assert [c['noise_seed'] for c in net.calls] == [0] * 5
    net = StubNet()
    evolve(net, evolve_args(threshold=1.0, max_steps=5, noise_mode='fresh'))
    seeds = [c['noise_seed'] for c in net.calls]
    assert len(set(seeds)) == 5 and all(isinstance(s, int) and s >= 0 for s in seeds)


# ---------------------------------------------------------------------------
# 3. test accuracy on the test split

def task_images(mnist_dir, split, a, b):
    data = input_data.load_mnist(mnist_dir)
    return input_data.binary_task(data[split + '_images'], data[split + '_labels'], a, b,
                                  0.0, None)


@pytest.mark.slow
def test_test_accuracy_uses_the_test_split(tmp_path, mnist_dir, monkeypatch, capsys):
    evaluated, trained = [], []
    real_eval, real_start = PathNet.evaluate, PathNet.start_task

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        out = real_eval(self, sess, task, mask, images, labels, slot)
        evaluated.append((task, np.array(images), np.array(labels), out))
        return out

    def start_task(self, sess, task, images, labels, *a, **k):
        trained.append(np.array(images))
        return real_start(self, sess, task, images, labels, *a, **k)
    monkeypatch.setattr(PathNet, 'evaluate', evaluate)
    monkeypatch.setattr(PathNet, 'start_task', start_task)
    # no noise, so the images can be compared with the splits exactly
    code, (row,) = run_main(tmp_path, mnist_dir, SMALL + ['--seed', '3', '--noise', '0'])
    assert code == 0
    # While evolving, the held-out validation images (tests/test_validation.py);
    # right after task 1, its test accuracy (retention, the same images and value as
    # after task 2 under pathnet: the path is frozen); after task 2, each task's test
    # accuracy: the last two evaluations.
    assert [e[0] for e in evaluated[-2:]] == [0, 1]
    tests = [k for k, e in enumerate(evaluated[:-2]) if len(e[1]) in (1850, 1986)]
    assert len(tests) == 1 and evaluated[tests[0] + 1][0] == 1    # before task 2's first
    before = evaluated[tests[0]]
    assert np.array_equal(before[1], evaluated[-2][1]) and before[3] == evaluated[-2][3]
    assert row['task1_test_accuracy_before'] == '%.4f' % before[3]
    evaluated = evaluated[-2:]
    for (task, images, labels, accuracy), (a, b), count, train in zip(
            evaluated, ((5, 6), (6, 7)), (1850, 1986), trained):
        assert len(images) == len(labels) == count
        test_x, test_y = task_images(mnist_dir, 'test', a, b)
        assert np.array_equal(images, test_x) and np.array_equal(labels, test_y)
        train_rows = {r.tobytes() for r in train}
        assert len(train) > 10000 and not any(r.tobytes() in train_rows for r in images)
        assert row['task%d_test_accuracy' % (task + 1)] == '%.4f' % accuracy
    out = capsys.readouterr().out
    assert 'task 1 test accuracy (5 vs 6, winning path): %.4f' % evaluated[0][3] in out


# ---------------------------------------------------------------------------
# 4 and 9. thresholds end to end

@pytest.mark.slow
def test_reachable_threshold_converges_at_the_printed_generation(tmp_path, mnist_dir, capsys):
    code, (row,) = run_main(tmp_path, mnist_dir, ['--seed', '2', '--T', '5', '--candi', '8',
                                                  '--max_steps', '30', '--threshold', '0.6'])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    for task in (1, 2):
        gens = [GEN_LINE.match(l).groups() for l in lines
                if GEN_LINE.match(l) and l.startswith('task %d ' % task)]
        n = int(row['task%d_generations' % task])
        assert row['task%d_converged' % task] == '1' and 1 <= n < 30
        assert [int(g[1]) for g in gens] == list(range(1, n + 1))
        # the winner's fitness is the better of the two (ties: either)
        winners = [max(float(g[2]), float(g[3])) for g in gens]
        assert all(w < 0.6 for w in winners[:-1]) and winners[-1] >= 0.6
        assert row['task%d_fitness' % task] == '%.4f' % winners[-1]
        assert ('task %d (%s vs %s) solved after %d generations'
                % ((task,) + tuple(row['task%d' % task].split('v')) + (n,))) in lines[
                    [i for i, l in enumerate(lines) if l.startswith('task %d (' % task)][0]]
    assert n == 2 and row['task1_generations'] == '6'      # this seed: not a trivial pass


@pytest.mark.slow
def test_threshold_columns_consistent_with_generations(tmp_path, mnist_dir):
    code, rows_ = run_main(tmp_path, mnist_dir, ['--seeds', '1-2', '--noise', '0', '--T', '10',
                                                 '--candi', '8', '--max_steps', '100',
                                                 '--threshold', '0.95', '--quiet'])
    assert code == 0 and len(rows_) == 2
    for row in rows_:
        for t in ('task1_', 'task2_'):
            n = int(row[t + 'generations'])
            for level in results_log.LEVELS:
                v = row['%sgen_%.2f' % (t, level)]
                assert v == '' or 1 <= int(v) <= n
            if row[t + 'converged'] == '1':
                assert row[t + 'gen_0.95'] == row[t + 'generations']
    assert sum(row[t + 'converged'] == '1' for row in rows_ for t in ('task1_', 'task2_')) >= 3


# ---------------------------------------------------------------------------
# 5. several seeds in one process

@pytest.mark.slow
def test_seeds_rows_equal_single_runs(tmp_path, mnist_dir):
    code, batch = run_main(tmp_path, mnist_dir, SMALL + ['--seeds', '3-5'], name='batch.csv')
    assert code == 0
    singles = []
    for seed in (3, 4, 5):
        code, got = run_main(tmp_path, mnist_dir, SMALL + ['--seed', str(seed)],
                             name='single.csv')
        assert code == 0
        singles = got
    assert [r['seed'] for r in batch] == ['3', '4', '5']
    assert [comparable(r) for r in batch] == [comparable(r) for r in singles]
    assert len({r['task1_path'] + r['task2_path'] for r in batch}) == 3


@pytest.mark.parametrize('text, seeds', [('3-5', [3, 4, 5]), ('1,4,9', [1, 4, 9]),
                                         ('0-3,7', [0, 1, 2, 3, 7]), ('8', [8])])
def test_seed_list(text, seeds):
    assert driver.seed_list(text) == seeds
    assert driver.parse_args(['--seeds', text]).seeds == seeds


@pytest.mark.parametrize('text, message', [
    ('5-3', "bad seed range '5-3'"), ('a', 'expected seeds like 3-5 or 1,4,9'),
    ('-3', 'expected seeds like 3-5 or 1,4,9'), ('1,,2', 'expected seeds like 3-5 or 1,4,9'),
    ('1-2-3', 'expected seeds like 3-5 or 1,4,9'), ('3-', 'expected seeds like 3-5 or 1,4,9'),
    ('2,1-3', 'a seed is given twice'),
    ('0-2147483648', 'bad seed range')])
def test_bad_seeds_refused(text, message, capsys):
    with pytest.raises(SystemExit) as e:
        driver.parse_args(['--seeds', text])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert 'argument --seeds' in err and message in err, err


def test_seed_and_seeds_together_refused(capsys):
    with pytest.raises(SystemExit) as e:
        driver.parse_args(['--seed', '1', '--seeds', '2-3'])
    assert e.value.code == 2
    assert 'argument --seeds: not allowed with argument --seed' in capsys.readouterr().err


# ---------------------------------------------------------------------------
# 6 and 7. between experiments: interruption and a failed seed

class StopAfterFirstRow(driver.Stop):
    def __init__(self):
        super().__init__()
        self.rows = 0

    def requested(self):
        return self.rows >= 1


@pytest.mark.slow
def test_interrupt_between_experiments_keeps_finished_rows(tmp_path, mnist_dir, monkeypatch,
                                                            capsys):
    stop = StopAfterFirstRow()
    real = results_log.append_row

    def append_row(path, row):
        real(path, row)
        stop.rows += 1
    monkeypatch.setattr(results_log, 'append_row', append_row)
    code, got = run_main(tmp_path, mnist_dir, SMALL + ['--seeds', '3-5'], stop=stop)
    assert code == 130
    assert [r['seed'] for r in got] == ['3']
    err = capsys.readouterr().err.strip()
    assert err == 'interrupted: 1 finished experiment(s) kept in %s' % (tmp_path / 'log.csv')


def fail_seed(monkeypatch, seed, message):
    """Make the driver's experiment of `seed` raise RuntimeError(message); the
    other seeds run as they would."""
    real = driver.experiment

    def experiment(net, sess, data, ex):
        if ex.seed == seed:
            raise RuntimeError(message)
        return real(net, sess, data, ex)
    monkeypatch.setattr(driver, 'experiment', experiment)


@pytest.mark.slow
def test_failed_seed_does_not_stop_the_next(tmp_path, mnist_dir, monkeypatch, capsys):
    fail_seed(monkeypatch, 4, 'boom\nsecond line')
    code, got = run_main(tmp_path, mnist_dir, SMALL + ['--seeds', '3-5'])
    assert code == 1
    assert [r['seed'] for r in got] == ['3', '5']
    out, err = capsys.readouterr()
    assert err == 'error: seed 4 failed: RuntimeError: boom\n'
    assert out.splitlines()[-1] == 'seeds: 2 done, 1 failed (4)'


# ---------------------------------------------------------------------------
# 8. fresh noise

def test_noisy_draw_is_exact_salt_and_pepper_and_seeded():
    """The graph's noise function on a stand-in network: replaced pixels
    are exactly 0 or 1, at the rate, half each; the same (seed, draw) gives
    the same noise, another seed or another draw other noise."""
    g = tf.Graph()
    with g.as_default():
        rate = tf.placeholder(tf.float32, [])
        fake = types.SimpleNamespace(noise_seed=tf.placeholder(tf.int64, []), fresh_noise=rate)
        x = tf.placeholder(tf.float32, [50, 784])
        draw = tf.placeholder(tf.int64, [])
        out = PathNet._noisy(fake, x, fake.noise_seed, draw)
    clean = np.full((50, 784), 0.5, np.float32)
    with tf.Session(graph=g) as sess:
        def noisy(seed, d, r=0.5):
            return sess.run(out, {fake.noise_seed: seed, draw: d, x: clean, rate: r})
        a = noisy(123, 0)
        assert set(np.unique(a)) <= {0.0, 0.5, 1.0}
        replaced = a != 0.5
        assert abs(replaced.mean() - 0.5) < 0.01
        assert abs((a[replaced] == 1).mean() - 0.5) < 0.015
        assert abs((noisy(123, 0, 0.2) != 0.5).mean() - 0.2) < 0.01
        # one image used twice in a minibatch: rows differ
        assert not np.array_equal(a[0], a[1])
        assert np.array_equal(noisy(123, 0), a)
        for other in (noisy(124, 0), noisy(123, 1)):
            assert abs((other != a).mean() - 0.625) < 0.02     # independent patterns


def layer1_delta(before, after, net, module):
    """Layer 1 weight change [784, F] of one module."""
    name = net.weights[0].name
    return after[name][module] - before[name][module]


def net_state(sess, net):
    vs = net.params + net.moments[0] + net.moments[1] + [net.step]
    return {v.name: sess.run(v) for v in vs}


def load_state(sess, net, values):
    for v in net.params + net.moments[0] + net.moments[1] + [net.step]:
        v.load(values[v.name], sess)


HALF = (np.full((1, 784), 0.5, np.float32), np.array([[1.0, 0.0]], np.float32))


def clusters(values, tol):
    v = np.sort(values)
    return 1 + int(np.sum(np.diff(v) > tol))


@pytest.mark.slow
def test_fresh_noise_differs_between_uses_in_a_tournament_and_follows_the_seed():
    """One stored image (all pixels 0.5) used in both minibatches of a
    tournament (T=2, B=1, plain gradient descent): a layer-1 weight moves by
    -lr * (x1 * d1 + x2 * d2). With the same noise in both uses (x1 == x2)
    a unit's moves take at most 3 values (x in {0, .5, 1}); with two
    independent patterns up to 9."""
    net = PathNet(L=2, M=2, N=1, filt=4, T=2, batch_size=1, learning_rate=1.0,
                  optimizer='sgd', fresh_noise=0.5)
    path = np.zeros((2, 2), np.float32)
    path[:, 0] = 1
    masks, frozen = np.stack([path, path]), np.zeros((2, 2), np.float32)
    batches = np.zeros((2, 1), np.int32)
    with session(net) as sess:
        sess.run(net.init)
        net.start_task(sess, 0, *HALF, np.zeros((2, 2), np.float32), np.random.default_rng(0))
        start = net_state(sess, net)
        net.tournament(sess, 0, masks, frozen, batches, noise_seed=11)
        first = net_state(sess, net)
        delta = layer1_delta(start, first, net, 0)
        scale = np.abs(delta).max()
        assert scale > 1e-3
        assert max(clusters(delta[:, u], 1e-3 * scale) for u in range(4)) > 3
        load_state(sess, net, start)
        net.tournament(sess, 0, masks, frozen, batches, noise_seed=11)
        again = net_state(sess, net)
        assert all(np.array_equal(first[k], again[k]) for k in first)   # same seed, same run
        load_state(sess, net, start)
        net.tournament(sess, 0, masks, frozen, batches, noise_seed=12)
        other = layer1_delta(start, net_state(sess, net), net, 0)
        assert not np.allclose(other, delta)


@pytest.mark.slow
def test_fresh_noise_shared_tournament_candidates_see_different_noise_at_the_rate():
    """Shared tournament, T=1, B=1, one stored image (pixels 0.5) for both
    candidates on disjoint paths: each candidate's layer-1 move is
    -lr * d * x, so it shows the noisy image x it was given."""
    net = PathNet(L=2, M=2, N=1, filt=4, T=1, batch_size=1, learning_rate=1.0,
                  optimizer='sgd', tournament='shared', fresh_noise=0.5)
    a, b = np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)
    a[:, 0], b[:, 1] = 1, 1
    seen = []
    with session(net) as sess:
        sess.run(net.init)
        net.start_task(sess, 0, *HALF, np.zeros((2, 2), np.float32), np.random.default_rng(1))
        start = net_state(sess, net)
        net.tournament(sess, 0, np.stack([a, b]), np.zeros((2, 2), np.float32),
                       np.zeros((2, 1, 1), np.int32), noise_seed=5)
        end = net_state(sess, net)
    for module in (0, 1):
        delta = layer1_delta(start, end, net, module)
        u = np.abs(delta).max(0).argmax()
        v = delta[:, u]
        assert np.abs(v).max() > 1e-3
        x = v / v[np.abs(v).argmax()]                 # the pixel 1 has the largest move
        nearest = np.array([0.0, 0.5, 1.0])[np.abs(x[:, None] - [0.0, 0.5, 1.0]).argmin(1)]
        np.testing.assert_allclose(x, nearest, atol=1e-3)
        replaced = nearest != 0.5
        assert abs(replaced.mean() - 0.5) < 0.08
        assert abs((nearest[replaced] == 1).mean() - 0.5) < 0.1
        seen.append(nearest)
    assert (seen[0] != seen[1]).mean() > 0.4


@pytest.mark.slow
def test_fresh_noise_run_is_reproducible_and_stores_clean_images(tmp_path, mnist_dir,
                                                                monkeypatch):
    stored = []
    real = PathNet.start_task

    def start_task(self, sess, task, images, labels, *a, **k):
        stored.append(np.array(images))
        return real(self, sess, task, images, labels, *a, **k)
    monkeypatch.setattr(PathNet, 'start_task', start_task)
    argv = SMALL + ['--seed', '11', '--noise_mode', 'fresh']
    assert run_main(tmp_path, mnist_dir, argv)[0] == 0
    code, (a, b) = run_main(tmp_path, mnist_dir, argv)
    assert code == 0 and comparable(a) == comparable(b)
    assert a['settings'] == '--T=3 --candi=4 --max_steps=4 --noise_mode=fresh'
    for images, (c1, c2) in zip(stored[:2], ((5, 6), (6, 7))):
        assert np.array_equal(images, task_images(mnist_dir, 'train', c1, c2)[0])
    # and the fixed mode's stored images are the noisy ones
    stored.clear()
    assert run_main(tmp_path, mnist_dir, SMALL + ['--seed', '11'], name='fixed.csv')[0] == 0
    clean = task_images(mnist_dir, 'train', 5, 6)[0]
    assert np.mean(stored[0] != clean) > 0.2


# ---------------------------------------------------------------------------
# 10. mean aggregation

def eval_logits(net, sess, task, mask, x, y):
    """The evaluate op's logits [n, 2] (found from its accuracy tensor)."""
    t = net.accuracy
    while t.op.type != 'ArgMax' or t.op.inputs[0].shape[-1] != 2 or \
            t.op.inputs[0].op.type == 'Placeholder':
        t = t.op.inputs[0]
    return sess.run(t.op.inputs[0], net.feed_dict(task, geopaths=[mask], images=x, labels=y))


def numpy_logits(s, net, mask, x, aggregate):
    h = x
    for l in range(net.L):
        active = np.flatnonzero(mask[l])
        h = sum(np.maximum(h @ s[net.weights[l].name][m] + s[net.biases[l].name][m], 0)
                for m in active)
        if aggregate == 'mean':
            h = h / len(active)
    return h @ s[net.readout_w.name][0] + s[net.readout_b.name][0]


@pytest.mark.slow
def test_mean_aggregation_divides_by_active_modules():
    rng = np.random.default_rng(0)
    x = (rng.random((200, 784)) < 0.2).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 200)]
    L, M = 3, 6
    paths = []
    for layers in (([0], [1, 2], [3, 4, 5]), ([0, 1, 2], [3], [4, 5]), ([0, 1], [2, 3, 4], [5])):
        p = np.zeros((L, M), np.float32)
        for l, mods in enumerate(layers):
            p[l, mods] = 1
        paths.append(p)
    got, states = {}, {}
    for aggregate in ('sum', 'mean'):
        net = PathNet(L=L, M=M, N=3, filt=5, T=2, batch_size=4, aggregate=aggregate)
        with session(net) as sess:
            sess.run(net.init)
            net.start_task(sess, 0, x, y, np.zeros((L, M), np.float32),
                           np.random.default_rng(3))
            states[aggregate] = s = net_state(sess, net)
            for k, p in enumerate(paths):
                logits = eval_logits(net, sess, 0, p, x, y)
                np.testing.assert_allclose(logits, numpy_logits(s, net, p, x, aggregate),
                                           rtol=1e-5, atol=1e-6)
                accuracy = net.evaluate(sess, 0, p, x, y)
                assert accuracy == pytest.approx(np.mean(logits.argmax(1) == y.argmax(1)))
                got[aggregate, k] = logits
    assert all(np.array_equal(states['sum'][k], states['mean'][k]) for k in states['sum'])
    for k in range(len(paths)):       # the two really differ on these paths
        assert np.abs(got["sum", k] - got["mean", k]).max() > 0.01


# ---------------------------------------------------------------------------
# 11. golden rows: every column but timestamp and seconds, as the code gave
# them when recorded. Recorded at commit c288a4d (branch h-driver; its
# product code is that of 2f5c9d7) with TF_ENABLE_ONEDNN_OPTS=0 (pathnet's
# default), --threads 1 (the driver's default). A change here means the
# computation changed: if on purpose, re-record and say so in the commit.
GOLDEN_COLUMNS = ('seed', 'control', 'task1', 'task2', 'task1_generations', 'task2_generations',
                  'overlap', 'task1_converged', 'task2_converged', 'task1_fitness',
                  'task2_fitness', 'task1_test_accuracy', 'task2_test_accuracy', 'task1_path',
                  'task2_path', 'L', 'M', 'N', 'settings', 'task1_diverged', 'task2_diverged',
                  'task1_gen_0.95', 'task1_gen_0.98', 'task1_gen_0.99', 'task2_gen_0.95',
                  'task2_gen_0.98', 'task2_gen_0.99') + tuple(
                      c for c in results_log.COLUMNS_V4 if '_val_' in c) + (
                      'task1_test_accuracy_before', 'task1_val_curve', 'task2_val_curve')
# The validation columns (task1_val_accuracy ... task2_val_gen_0.95) were recorded
# later, on the same build, when the held-out measure came; the other columns of
# these rows did not change.
VAL = {'defaults 11': ('0.9241', '0.9819', '3', '4', '14', '', '1', '1', '1', '3'),
       'defaults 12': ('0.9198', '0.9772', '2', '7', '', '', '1', '1', '2', '2'),
       'shared 11': ('0.9401', '0.9762', '1', '3', '7', '', '1', '1', '1', '1'),
       'fresh 11': ('0.9390', '0.9772', '2', '3', '14', '', '1', '1', '1', '4')}
# Retention and the curves (COLUMNS_V5) were recorded later again, on the same build;
# every other column of these rows stayed as it was (the extra evaluations draw nothing).
V5 = {'defaults 11': ('0.9189', '1:0.8118 2:0.8492 3:0.8898 5:0.8952 10:0.9230 20:0.9326',
                      '1:0.9391 2:0.9420 3:0.9610 5:0.9629 10:0.8963 20:0.9648'),
      'defaults 12': ('0.9195', '1:0.8460 2:0.8813 3:0.8674 5:0.8513 10:0.9219 20:0.9112',
                      '1:0.9115 2:0.9648 3:0.9429 5:0.9496 10:0.9581 20:0.9610'),
      'shared 11': ('0.9200', '1:0.8695 2:0.8963 3:0.9134 5:0.9134 10:0.9358 20:0.9390',
                    '1:0.9505 2:0.9572 3:0.9600 5:0.9667 10:0.9753 20:0.9810'),
      'fresh 11': ('0.9270', '1:0.8471 2:0.8663 3:0.9027 5:0.8930 10:0.9230 20:0.9326',
                   '1:0.9496 2:0.9163 3:0.9448 5:0.9353 10:0.9638 20:0.9791')}
GOLDEN = {
    'defaults 11': ('11', 'pathnet', '5v6', '6v7', '40', '40', '1', '0', '0', '0.9450',
        '0.9875', '0.9189', '0.9708', '6-8|4-5-8|0-6', '1-5|5-7-9|3-5-9', '3', '10', '3',
        '--max_steps=40', '0', '0', '', '', '', '6', '15', ''),
    'defaults 12': ('12', 'pathnet', '5v6', '6v7', '40', '40', '0', '0', '0', '0.9550',
        '0.9762', '0.9195', '0.9678', '6-7-8|0-1-2|3-6-7', '3-5|6-9|2-5', '3', '10', '3',
        '--max_steps=40', '0', '0', '40', '', '', '4', '27', ''),
    'shared 11': ('11', 'pathnet', '5v6', '6v7', '40', '40', '3', '0', '0', '0.9525', '0.9900',
        '0.9200', '0.9678', '1-3-6|0-4-8|0-4-5', '0-1-5|2-3-8|1-4-7', '3', '10', '3',
        '--max_steps=40 --tournament=shared', '0', '0', '17', '', '', '4', '12', '27'),
    'fresh 11': ('11', 'pathnet', '5v6', '6v7', '40', '40', '0', '0', '0', '0.9375', '0.9838',
        '0.9270', '0.9748', '0-2-8|5-6|5-8', '1-3-4|3-4-7|2-4-7', '3', '10', '3',
        '--max_steps=40 --noise_mode=fresh', '0', '0', '', '', '', '6', '34', ''),
}


# The build they were recorded on; another TensorFlow or NumPy rounds floats
# otherwise, and a tournament decided by one image then goes the other way: the
# rows differ (with the same statistics, docs/cross-build.md). On this build
# only, they are checked; the tests comparing rows within one build run anywhere.
GOLDEN_BUILD = {'tensorflow': '2.21.0', 'numpy': '2.4.6'}
BUILD = {'tensorflow': tf.version.VERSION, 'numpy': np.__version__}


@pytest.mark.skipif(BUILD != GOLDEN_BUILD, reason='golden rows were recorded on TensorFlow %s '
                    'and NumPy %s (requirements-lock.txt); this is TensorFlow %s, NumPy %s'
                    % (GOLDEN_BUILD['tensorflow'], GOLDEN_BUILD['numpy'], BUILD['tensorflow'],
                       BUILD['numpy']))
@pytest.mark.slow
@pytest.mark.parametrize('argv, keys', [
    (['--seeds', '11-12'], ['defaults 11', 'defaults 12']),
    (['--seed', '11', '--tournament', 'shared'], ['shared 11']),
    (['--seed', '11', '--noise_mode', 'fresh'], ['fresh 11'])])
def test_golden_rows(tmp_path, mnist_dir, argv, keys):
    code, got = run_main(tmp_path, mnist_dir, argv + ['--max_steps', '40', '--quiet'])
    assert code == 0
    assert [tuple(r[c] for c in GOLDEN_COLUMNS) for r in got] == [GOLDEN[k] + VAL[k] + V5[k]
                                                                 for k in keys]
    assert set(GOLDEN_COLUMNS) == set(results_log.COLUMNS) - {
        'timestamp', 'seconds', 'code_version', 'tensorflow', 'numpy'}


@pytest.mark.slow
def test_rows_name_the_code_and_build_that_made_them(tmp_path, mnist_dir):
    code, got = run_main(tmp_path, mnist_dir, SMALL + ['--seeds', '1-2'])
    assert code == 0 and len(got) == 2
    for row in got:
        assert (row['tensorflow'], row['numpy']) == (BUILD['tensorflow'], BUILD['numpy'])
        assert row['code_version'] == results_log.code_version()
        # A git checkout names its commit; a copy without git (a release tarball), the release.
        in_git = os.path.isdir(os.path.join(ROOT, '.git')) or os.path.isfile(
            os.path.join(ROOT, '.git'))
        assert re.fullmatch(r'[0-9a-f]{12}(\+dirty)?' if in_git else re.escape(
            results_log.RELEASE), row['code_version'])


def test_code_version_is_the_commit_marked_dirty_or_the_release(tmp_path):
    import shutil
    import subprocess

    import log_format
    here = tmp_path / 'code'
    here.mkdir()
    shutil.copy(log_format.__file__, here)
    ask = [sys.executable, '-c', 'import log_format; print(log_format.code_version())']

    def version():
        return subprocess.run(ask, cwd=here, stdout=subprocess.PIPE, universal_newlines=True,
                              check=True).stdout.strip()
    assert version() == results_log.RELEASE     # not a git checkout
    git = ['git', '-C', str(here), '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run(git + ['init', '-q'], check=True)
    subprocess.run(git + ['add', 'log_format.py'], check=True)
    subprocess.run(git + ['commit', '-qm', 'x'], check=True)
    commit = subprocess.run(git + ['rev-parse', 'HEAD'], stdout=subprocess.PIPE,
                            universal_newlines=True, check=True).stdout.strip()
    assert version() == commit[:12]
    (here / 'notes.txt').write_text('untracked files do not count')
    assert version() == commit[:12]
    with open(here / 'log_format.py', 'a') as f:
        f.write('# a local change\n')
    assert version() == commit[:12] + '+dirty'
