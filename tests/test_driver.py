"""The driver's own logic: evolve() on a stub network, the minibatch stream,
the test split, thresholds, several seeds in one process, interruption and
failure between experiments, fresh noise, mean aggregation, golden rows.

Runs are in-process (main(argv)) with tiny settings; MNIST is read once."""
import argparse
import csv
import re
import types

import numpy as np
import pytest

import binary_mnist_pathnet as driver
import input_data
import pathnet
import results_log
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

    def __init__(self, script=(), populations=None):
        self.script, self.calls, self.populations = list(script), [], populations

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


class NoStop:
    def check(self):
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
    batcher = batcher or driver.Batcher(1000, np.random.default_rng(6))
    frozen = np.zeros((args.L, args.M), np.float32)
    return driver.evolve(net, None, task, frozen, batcher,
                         (rng, noise_rng or np.random.default_rng(7)), args,
                         lambda *a: None, None, NoStop())


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
    first = evolve(StubNet(populations=populations), args, rng=rng, task=0)
    net2 = StubNet(populations=populations)
    evolve(net2, args, rng=rng, task=1)
    assert first.generations == 2 and len(populations) == 2    # one draw per task
    assert populations[0] is not populations[1]
    start1 = net2.calls[0]['population']
    assert start1.shape == (args.candi, args.L, args.N)
    assert not np.array_equal(start1, populations[0])          # a new draw, not task 1's


# ---------------------------------------------------------------------------
# 2. minibatches

def test_batcher_epochs_are_permutations_and_reshuffle():
    b = driver.Batcher(10, np.random.default_rng(0))
    stream = np.concatenate([b.take(4) for _ in range(10)])        # 4 epochs
    epochs = stream.reshape(4, 10)
    for e in epochs:
        assert sorted(e) == list(range(10))
    assert len({tuple(e) for e in epochs}) == 4                    # reshuffled each epoch
    # deterministic from the generator
    again = driver.Batcher(10, np.random.default_rng(0))
    assert np.array_equal(np.concatenate([again.take(8) for _ in range(5)]), stream)


@pytest.mark.parametrize('mode', ['restore', 'shared'])
def test_evolve_feeds_the_batcher_stream(spies, mode):
    T, B, n, gens = 3, 4, 48, 12
    args = evolve_args(T=T, batch_size=B, threshold=1.0, max_steps=gens, tournament=mode)
    net = StubNet()
    evolve(net, args, batcher=driver.Batcher(n, np.random.default_rng(9)))
    shape = (T, B) if mode == 'restore' else (2, T, B)
    fed = [c['batches'] for c in net.calls]
    assert all(f.shape == shape for f in fed)       # restore: one [T, B] for both
    stream = np.concatenate([f.ravel() for f in fed])
    ref = driver.Batcher(n, np.random.default_rng(9))
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


def test_test_accuracy_uses_the_test_split(tmp_path, mnist_dir, monkeypatch, capsys):
    evaluated, trained = [], []
    real_eval, real_start = PathNet.evaluate, PathNet.start_task

    def evaluate(self, sess, task, mask, images, labels):
        out = real_eval(self, sess, task, mask, images, labels)
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
    assert [e[0] for e in evaluated] == [0, 1]
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


def test_threshold_columns_consistent_with_generations(tmp_path, mnist_dir):
    code, rows_ = run_main(tmp_path, mnist_dir, ['--seeds', '1-2', '--noise', '0', '--T', '10',
                                                 '--candi', '8', '--max_steps', '100',
                                                 '--threshold', '0.95', '--quiet'])
    assert code == 0 and len(rows_) == 2
    for row in rows_:
        for t in ('task1_', 'task2_'):
            n = int(row[t + 'generations'])
            for level in driver.REACHED:
                v = row['%sgen_%.2f' % (t, level)]
                assert v == '' or 1 <= int(v) <= n
            if row[t + 'converged'] == '1':
                assert row[t + 'gen_0.95'] == row[t + 'generations']
    assert sum(row[t + 'converged'] == '1' for row in rows_ for t in ('task1_', 'task2_')) >= 3


# ---------------------------------------------------------------------------
# 5. several seeds in one process

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
    ('1-2-3', 'expected seeds like 3-5 or 1,4,9'), ('2,1-3', 'a seed is given twice'),
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


def test_failed_seed_does_not_stop_the_next(tmp_path, mnist_dir, monkeypatch, capsys):
    real = driver.experiment

    def experiment(net, sess, data, args, *a):
        if args.seed == 4:
            raise RuntimeError('boom\nsecond line')
        return real(net, sess, data, args, *a)
    monkeypatch.setattr(driver, 'experiment', experiment)
    code, got = run_main(tmp_path, mnist_dir, SMALL + ['--seeds', '3-5'])
    assert code == 1
    assert [r['seed'] for r in got] == ['3', '5']
    out, err = capsys.readouterr()
    assert err == 'error: seed 4 failed: RuntimeError: boom\n'
    assert out.splitlines()[-1] == 'seeds: 2 done, 1 failed (4)'
