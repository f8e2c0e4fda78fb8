"""--task2_generations (a fixed budget for task 2), each task's held-out learning curve
(the winner's validation accuracy at generations 1, 2, 3, 5, 10, 20, 50, ...), and
retention: task 1's test accuracy right after task 1 as well as after task 2."""
import csv

import numpy as np
import pytest

import binary_mnist_pathnet as driver
import results_log
from pathnet import PathNet
from test_driver import StubNet, cached_mnist, evolve, evolve_args  # noqa: F401

SOLVED = ([100, 0], 0, True)      # fitness 1.0 for the first candidate


def test_task2_generations_plays_exactly_that_many_on_task_2_only():
    args = evolve_args(threshold=0.5, max_steps=50, task2_generations=7)
    net = StubNet([SOLVED] * 20)
    result = evolve(net, args, task=1)
    assert (result.generations, result.converged, len(net.calls)) == (7, True, 7)
    net = StubNet([SOLVED] * 20)
    result = evolve(net, args, task=0)              # task 1 stops when solved, as before
    assert (result.generations, result.converged, len(net.calls)) == (1, True, 1)
    never = ([0, 0], 0, True)
    result = evolve(StubNet([never] * 20), args, task=1)
    assert (result.generations, result.converged) == (7, False)
    # beyond max_steps, as --task1_generations
    result = evolve(StubNet(), evolve_args(threshold=1.0, max_steps=3, task2_generations=9),
                    task=1)
    assert result.generations == 9
    # a diverged task still stops at once
    result = evolve(StubNet([SOLVED, ([50, 0], 0, False)] + [SOLVED] * 10), args, task=1)
    assert (result.generations, result.converged, result.diverged) == (2, False, True)


class GenerationNet(StubNet):
    """Its validation accuracy names the generation it was evaluated after."""

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        self.evaluations.append((len(self.calls), task, np.array(mask)))
        return 0.5 + len(self.calls) / 10000


@pytest.mark.parametrize('val_every, cap', [(5, 60), (0, 60), (7, 23), (1, 6)])
def test_the_curve_is_each_scheduled_generations_own_winner(val_every, cap):
    args = evolve_args(threshold=1.0, max_steps=cap, val_every=val_every)
    net = GenerationNet()
    result = evolve(net, args, task=1)
    schedule = results_log.curve_generations(cap)
    assert list(result.curve) == [g for g in schedule]
    assert result.curve == {g: 0.5 + g / 10000 for g in schedule}
    evaluated = {g: m for g, _, m in net.evaluations}
    for g in schedule:                                # the winner of generation g
        call = net.calls[g - 1]
        assert np.array_equal(evaluated[g], call['masks'][call['winner']])
    assert len(net.evaluations) == len(evaluated)     # one evaluation per generation at most


def test_the_curve_stops_at_the_tasks_last_generation():
    args = evolve_args(threshold=0.9, max_steps=1000)
    net = GenerationNet([([0, 0], 0, True)] * 11 + [SOLVED])   # solved at 12
    result = evolve(net, args)
    assert result.generations == 12 and list(result.curve) == [1, 2, 3, 5, 10]


def test_evaluation_draws_no_random_numbers():
    """The evaluate op's graph holds no random op, so evaluating at the curve's extra
    generations (or task 1's test images before task 2) changes no other draw."""
    net = PathNet(L=2, M=3, N=2, filt=4, T=2, batch_size=2, fresh_noise=0.5)
    seen, todo, ops = set(), [net.accuracy.op], []
    while todo:
        op = todo.pop()
        if op.name not in seen:
            seen.add(op.name)
            ops.append(op.type)
            todo += [t.op for t in op.inputs] + list(op.control_inputs)
    assert 'MatMul' in ops and not [t for t in ops if 'Random' in t or 'Stateless' in t]
    noisy = [op.type for op in net.graph.get_operations() if 'Random' in op.type]
    assert noisy       # not a trivial pass: the training side does draw (fresh noise)


# ---------------------------------------------------------------------------
# Retention, end to end: every control runs the same task 1.

CONTROL_ARGV = ['--seed', '6', '--T', '4', '--candi', '4', '--max_steps', '5', '--M', '4',
                '--N', '2', '--quiet', '--val_every', '1']


@pytest.fixture(scope='module')
def control_rows(mnist_dir, tmp_path_factory):
    log = str(tmp_path_factory.mktemp('retention') / 'log.csv')
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv('PATHNET_BATCH_PID', raising=False)
        for control in results_log.CONTROLS:
            assert driver.main(CONTROL_ARGV + ['--control', control, '--results', log,
                                               '--data_dir', mnist_dir]) == 0
    with open(log, newline='') as f:
        return {r['control']: r for r in csv.DictReader(f)}


@pytest.mark.slow
def test_forgetting_is_zero_when_task_1s_path_is_frozen_and_measured_otherwise(control_rows):
    rows = control_rows
    before = {c: float(r['task1_test_accuracy_before']) for c, r in rows.items()}
    after = {c: float(r['task1_test_accuracy']) for c, r in rows.items()}
    # right after task 1: the same task 1 under every control, so the same figure
    assert len(set(before.values())) == 1 and 0.5 < before['pathnet'] <= 1
    for control in ('pathnet', 'pathnet_noreinit'):         # frozen: exactly 0
        assert rows[control]['task1_test_accuracy_before'] == \
            rows[control]['task1_test_accuracy']
    # trainable: task 2 moved task 1's modules (this seed re-uses some of them)
    for control in ('finetune', 'finetune_reinit'):
        assert int(rows[control]['overlap']) > 0
        assert before[control] - after[control] != 0, control
    for r in rows.values():
        for t in (1, 2):
            curve = results_log.parse_curve(r['task%d_val_curve' % t])
            assert list(curve) == results_log.curve_generations(
                int(r['task%d_generations' % t]))
            assert all(0 < a <= 1 for a in curve.values())


@pytest.mark.slow
def test_task2_generations_end_to_end(tmp_path, mnist_dir):
    log = str(tmp_path / 'log.csv')
    argv = ['--seed', '2', '--T', '5', '--candi', '8', '--threshold', '0.6', '--quiet']
    assert driver.main(argv + ['--results', log, '--data_dir', mnist_dir]) == 0
    assert driver.main(argv + ['--task2_generations', '12', '--results', log,
                               '--data_dir', mnist_dir]) == 0
    with open(log, newline='') as f:
        free, fixed = list(csv.DictReader(f))
    # without the flag task 2 stops at the threshold (generation 2, test_driver's
    # seed); with it, plays 12, converged since a winner reached it on the way
    assert (free['task2_generations'], free['task2_converged']) == ('2', '1')
    assert (fixed['task2_generations'], fixed['task2_converged']) == ('12', '1')
    assert fixed['task2_gen_0.95'] == '' or int(fixed['task2_gen_0.95']) <= 12
    assert list(results_log.parse_curve(fixed['task2_val_curve'])) == [1, 2, 3, 5, 10]
    task1 = [c for c in results_log.COLUMNS if c.startswith('task1')]
    assert {c: free[c] for c in task1} == {c: fixed[c] for c in task1}
    assert results_log.parse_settings(fixed['settings']) == dict(
        results_log.parse_settings(free['settings']), task2_generations='12')
