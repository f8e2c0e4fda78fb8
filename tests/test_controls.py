"""The controls for task 2: pathnet (default), scratch, finetune (the paper's), and
pathnet_noreinit, finetune_reinit (freezing apart from re-initialising)."""
import csv

import numpy as np
import pytest

import binary_mnist_pathnet as driver
import results_log
from test_graph import L, M, NO_FROZEN, batches, data, fresh, mask, module_state, net, state  # noqa: F401

PATH1 = mask([0, 1], [2, 5], [3])


def test_start_masks():
    none, every = np.zeros((L, M)), np.ones((L, M))
    for control in ('pathnet', 'scratch', 'finetune'):
        keep, frozen = driver.start_masks(control, 0, None, (L, M))
        assert np.array_equal(keep, none) and np.array_equal(frozen, none)   # task 1: all fresh
    keep, frozen = driver.start_masks('pathnet', 1, PATH1, (L, M))
    assert np.array_equal(keep, PATH1) and np.array_equal(frozen, PATH1)
    keep, frozen = driver.start_masks('scratch', 1, PATH1, (L, M))
    assert np.array_equal(keep, none) and np.array_equal(frozen, none)
    keep, frozen = driver.start_masks('finetune', 1, PATH1, (L, M))
    assert np.array_equal(keep, every) and np.array_equal(frozen, none)
    keep, frozen = driver.start_masks('pathnet_noreinit', 1, PATH1, (L, M))
    assert np.array_equal(keep, every) and np.array_equal(frozen, PATH1)
    keep, frozen = driver.start_masks('finetune_reinit', 1, PATH1, (L, M))
    assert np.array_equal(keep, PATH1) and np.array_equal(frozen, none)
    for control in results_log.CONTROLS:
        keep, frozen = driver.start_masks(control, 0, None, (L, M))
        assert np.array_equal(keep, none) and np.array_equal(frozen, none)


@pytest.mark.parametrize('control', results_log.CONTROLS)
def test_task2_start_and_training_per_control(net, data, control):  # noqa: F811
    sess = fresh(net, data)
    rng = np.random.default_rng(8)
    for i in range(6):                                              # task 1
        net.tournament(sess, 0, np.stack([PATH1, mask([1], [0, 2], [3, 4])]), NO_FROZEN,
                       batches(i))
    end1 = state(sess, net)
    keep, frozen = driver.start_masks(control, 1, PATH1, (L, M))
    net.start_task(sess, 1, *data, keep, rng)
    start2 = state(sess, net)
    for l in range(L):
        for m in range(M):
            kept = np.array_equal(end1[net.weights[l].name][m], start2[net.weights[l].name][m])
            if control == 'scratch':
                assert not kept, (l, m)            # no module keeps task-1 weights
            elif control in ('finetune', 'pathnet_noreinit'):
                assert kept, (l, m)                # every module starts where task 1 left it
            else:
                assert kept == bool(PATH1[l, m]), (l, m)   # exactly the path is kept
    # task 2 on paths through task 1's modules: frozen only under pathnet
    for i in range(6):
        other = mask([], [], [int(rng.integers(M))])     # PATH1 has N=2 in layers 1, 2
        net.tournament(sess, 1, np.stack([np.maximum(PATH1, other)] * 2), frozen, batches(50 + i))
    end2 = state(sess, net)
    for l, m in zip(*np.nonzero(PATH1)):
        same = all(np.array_equal(a, b) for a, b in zip(module_state(start2, net, l, m),
                                                         module_state(end2, net, l, m)))
        assert same == control.startswith('pathnet'), (l, m)   # frozen only there
    # modules off the path, on task 2's paths: trained under every control
    off = [(l, m) for l in range(L) for m in range(M) if not PATH1[l, m]
           and not all(np.array_equal(a, b) for a, b in zip(module_state(start2, net, l, m),
                                                           module_state(end2, net, l, m)))]
    assert off, 'no module off task 1\'s path was trained'



@pytest.mark.slow
def test_same_seed_identical_task1_in_all_conditions(tmp_path, mnist_dir, capsys):
    log = str(tmp_path / 'log.csv')
    for control in ('pathnet', 'scratch', 'finetune'):
        assert driver.main(['--max_steps', '4', '--T', '3', '--candi', '4', '--quiet',
                            '--seed', '5', '--control', control, '--results', log,
                            '--data_dir', mnist_dir]) == 0
    with open(log, newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['control'] for r in rows] == ['pathnet', 'scratch', 'finetune']
    task1 = [{k: v for k, v in r.items() if k.startswith('task1_') and k != 'task1_test_accuracy'}
             for r in rows]
    assert task1[0] == task1[1] == task1[2]
    # the flag is recorded as the condition, not as a setting
    assert rows[1]['settings'] == rows[0]['settings'] == '--T=3 --candi=4 --max_steps=4'
