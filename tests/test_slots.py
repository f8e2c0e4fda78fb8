"""--slots K: several experiments in one graph, in lockstep. Each seed's row is
the same whatever K (and whatever runs beside it), for every protocol and
control; the scheduler refills slots deterministically; a diverged or failed
slot costs no other; an interrupt leaves only whole rows.

Tiny settings (a reachable threshold, so that seeds end at different
generations and slots are in different tasks at the same time)."""
import numpy as np
import pytest

import binary_mnist_pathnet as driver
import pathnet
from lockstep import scheduler, training
from test_driver import GOLDEN, GOLDEN_BUILD, BUILD, GOLDEN_COLUMNS, V5, VAL, StopAfterFirstRow
from test_driver import fail_seed
from test_driver import cached_mnist, comparable, run_main  # noqa: F401 (a fixture)

TINY = ['--T', '4', '--candi', '6', '--max_steps', '16', '--threshold', '0.85',
        '--val_every', '2', '--quiet', '--seeds', '10-14']


def by_seed(rows):
    return {r['seed']: comparable(r) for r in rows}


def rows_at(tmp_path, mnist_dir, argv, k):
    code, got = run_main(tmp_path, mnist_dir, argv + ['--slots', str(k)], name='k%d.csv' % k)
    assert code == 0
    assert sorted(r['seed'] for r in got) == ['10', '11', '12', '13', '14']   # each once
    return got


@pytest.mark.parametrize('flags, ks', [
    ([], (2, 4)),
    (['--tournament', 'shared', '--optimizer', 'sgd', '--learning_rate', '0.05',
      '--threshold', '0.6'], (4,)),
    (['--tournament', 'shared'], (3,)),
    (['--optimizer', 'sgd', '--learning_rate', '0.05', '--aggregate', 'mean',
      '--threshold', '0.6'], (4,)),
    (['--noise_mode', 'fresh'], (4,)),
    (['--control', 'scratch'], (4,)),
    (['--control', 'finetune'], (4,)),
    (['--control', 'pathnet_noreinit'], (4,)),
    (['--control', 'finetune_reinit', '--task2_generations', '5', '--train_images', '200',
      '--threshold', '0.7'], (4,))])
def test_rows_equal_whatever_the_slots(tmp_path, mnist_dir, flags, ks):
    one = rows_at(tmp_path, mnist_dir, TINY + flags, 1)
    assert [r['seed'] for r in one] == ['10', '11', '12', '13', '14']      # in order at K=1
    generations = {(r['task1_generations'], r['task2_generations']) for r in one}
    assert len(generations) > 1       # the seeds end at different times: slots drift apart
    for k in ks:
        many = rows_at(tmp_path, mnist_dir, TINY + flags, k)
        assert by_seed(many) == by_seed(one)


@pytest.mark.slow
@pytest.mark.skipif(BUILD != GOLDEN_BUILD, reason='golden rows are of another build')
def test_golden_rows_in_slots(tmp_path, mnist_dir):
    """The committed rows, with seeds 11 and 12 side by side in two slots."""
    code, got = run_main(tmp_path, mnist_dir, ['--seeds', '11-12', '--slots', '2',
                                               '--max_steps', '40', '--quiet'])
    assert code == 0
    keys = ['defaults 11', 'defaults 12']
    assert sorted(tuple(r[c] for c in GOLDEN_COLUMNS) for r in got) == [
        GOLDEN[k] + VAL[k] + V5[k] for k in keys]


# ---------------------------------------------------------------------------
# the scheduler, on a stand-in network

class FakeNet:
    """S slots; records each round's busy slots and the requests' tags."""

    def __init__(self, S):
        self.S, self.rounds = S, []

    def tournaments(self, sess, requests):
        self.rounds.append([r for r in requests])
        return ['outcome of %s' % (r,) if r is not None else None for r in requests]


def fake_experiment(seed, length, log):
    """An experiment of `length` tournaments, each request tagged (seed, n)."""
    for n in range(length):
        outcome = yield (seed, n)
        log.append((seed, outcome))
    return 'row %d' % seed


def test_refill_is_immediate_and_in_order():
    net, log, events = FakeNet(2), [], []
    lengths = {0: 3, 1: 1, 2: 2, 3: 1, 4: 1}

    def start(k, seed, slot):
        events.append(('start', seed, slot))
        return fake_experiment(seed, lengths[seed], log)
    scheduler.play(net, None, [0, 1, 2, 3, 4], start,
                   lambda seed, slot, row: events.append(('finish', seed, slot, row)),
                   lambda seed, slot, e: events.append(('fail', seed, slot)), driver.Stop())
    assert events == [('start', 0, 0), ('start', 1, 1),
                      ('finish', 1, 1, 'row 1'), ('start', 2, 1),     # slot 1 refilled at once
                      ('finish', 0, 0, 'row 0'), ('start', 3, 0),
                      ('finish', 2, 1, 'row 2'), ('start', 4, 1),
                      ('finish', 3, 0, 'row 3'), ('finish', 4, 1, 'row 4')]
    assert net.rounds == [[(0, 0), (1, 0)], [(0, 1), (2, 0)], [(0, 2), (2, 1)],
                          [(3, 0), (4, 0)]]
    # every experiment got exactly the outcomes of its own requests, in order
    assert log == [(s, 'outcome of %s' % ((s, n),)) for s, n in
                   [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (2, 1), (3, 0), (4, 0)]]


def test_a_failing_experiment_costs_no_other_slot():
    net, done, failed = FakeNet(2), [], []

    def broken(seed):
        yield (seed, 0)
        raise RuntimeError('boom')

    def start(k, seed, slot):
        if seed == 2:
            raise ValueError('at start')
        return broken(seed) if seed == 1 else fake_experiment(seed, 3, [])
    scheduler.play(net, None, [0, 1, 2, 3], start,
                   lambda seed, slot, row: done.append(seed),
                   lambda seed, slot, e: failed.append((seed, str(e))), driver.Stop())
    assert done == [0, 3] and failed == [(1, 'boom'), (2, 'at start')]


# ---------------------------------------------------------------------------
# the graph: a slot's numbers do not depend on its neighbours

def test_a_diverged_slot_leaves_the_others_bit_for_bit(mnist_dir):
    L, M, N = 2, 4, 2
    rng = np.random.default_rng(0)
    x = (rng.random((64, 784)) < 0.3).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 64)]
    none = np.zeros((L, M), np.float32)
    masks = np.stack([pathnet.path_mask(p, M) for p in
                      pathnet.random_population(np.random.default_rng(3), 2, L, M, N)])
    batches = np.random.default_rng(4).integers(0, 64, (3, 8))
    request = pathnet.Tournament(0, masks, none, batches)
    outcomes = {}
    for S in (1, 3):
        net = pathnet.PathNet(L=L, M=M, N=N, filt=4, T=3, batch_size=8, slots=S)
        with pathnet.session(net, 1) as sess:
            sess.run(net.init)
            for s in range(S):
                net.start_task(sess, 0, x, y, none, np.random.default_rng(1), slot=s)
            if S == 3:     # slot 1 diverges: its weights are not finite
                w = sess.run(net.slot[1].weights[0])
                net.slot[1].weights[0].load(np.full_like(w, np.nan), sess)
            got = [net.tournaments(sess, [request] * S) for _ in range(3)]
            outcomes[S] = (got, sess.run(net.slot[S - 1].params))
    (lone, lone_state), (three, three_state) = outcomes[1], outcomes[3]
    assert all(not r[1][2] for r in three)                          # slot 1: not finite
    for a, b in zip(lone, three):
        for s in (0, 2):
            assert np.array_equal(a[0][0], b[s][0]) and a[0][1:] == b[s][1:]
    assert all(np.array_equal(a, b) for a, b in zip(lone_state, three_state))
    assert training.INPUTS == 784


# ---------------------------------------------------------------------------
# the driver's faults, per slot

def test_a_diverged_slot_is_recorded_and_the_others_go_on(tmp_path, mnist_dir, monkeypatch,
                                                          capsys):
    one = by_seed(rows_at(tmp_path, mnist_dir, TINY, 1))
    real = pathnet.PathNet.tournaments
    calls = []

    def tournaments(self, sess, requests):
        out = real(self, sess, requests)
        calls.append(1)
        if len(calls) == 3:         # slot 1 diverges in round 3
            out[1] = (out[1][0], out[1][1], False)
        return out
    monkeypatch.setattr(pathnet.PathNet, 'tournaments', tournaments)
    code, got = run_main(tmp_path, mnist_dir, TINY + ['--slots', '3'], name='div.csv')
    assert code == 0
    got = by_seed(got)
    diverged = [s for s, r in got.items() if r['task1_diverged'] == '1']
    assert len(diverged) == 1 and got[diverged[0]]['task1_generations'] == '3'
    assert 'diverged at generation 3' in capsys.readouterr().err
    assert {s: r for s, r in got.items() if s not in diverged} == \
        {s: r for s, r in one.items() if s not in diverged}


def test_a_failed_slot_is_reported_with_its_seed(tmp_path, mnist_dir, monkeypatch, capsys):
    fail_seed(monkeypatch, 12, 'boom')
    code, got = run_main(tmp_path, mnist_dir, TINY + ['--slots', '2'])
    assert code == 1
    assert sorted(r['seed'] for r in got) == ['10', '11', '13', '14']
    out, err = capsys.readouterr()
    assert 'error: seed 12 failed: RuntimeError: boom' in err
    assert out.splitlines()[-1] == 'seeds: 4 done, 1 failed (12)'


def test_interrupt_mid_round_leaves_only_whole_rows(tmp_path, mnist_dir, monkeypatch, capsys):
    """Stopped right after the first row: the slots still running (one of them
    finishing in the same round) leave nothing; no row is written twice."""
    stop = StopAfterFirstRow()
    real = driver.results_log.append_row
    written = []

    def append_row(path, row):
        real(path, row)
        written.append(row['seed'])
        stop.rows += 1
    monkeypatch.setattr(driver.results_log, 'append_row', append_row)
    code, got = run_main(tmp_path, mnist_dir, TINY + ['--slots', '3'], stop=stop)
    assert code == 130
    assert len(got) == 1 and written == [int(got[0]['seed'])]
    assert 'interrupted: 1 finished experiment(s) kept in' in capsys.readouterr().err


# ---------------------------------------------------------------------------
# the benchmark's slots section (bench/bench_slots.py)

def test_bench_slots_trace_and_report():
    import os
    import sys
    from conftest import ROOT
    sys.path.insert(0, os.path.join(ROOT, 'bench'))
    import bench_slots
    t = bench_slots.trace(2, rounds=1)
    assert t['k'] == 2 and t['ms_per_round'] > 0
    assert {'matmuls', 'optimizer', 'gathers/scatters', 'loop overhead'} <= set(
        t['ms_by_kind_per_round'])
    runs = [{'k': k, 'experiments': 10, 'per_hour': 1000 * k, 'ratio': k,
             'ms_per_generation': 10.0 / k, 'peak_rss_mb': [700, 710], 'wall_s': 36.0}
            for k in (1, 2)]
    text = '\n'.join(bench_slots.report({'runs': runs, 'traces': [t], 'gpu': bench_slots.gpu()}))
    assert 'K=2     2000 experiments/hour (2.00x)' in text and 'gpu: ' in text
