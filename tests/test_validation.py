"""The held-out measure: each task's winner evaluated on that task's validation
images (MNIST training images 0..4,999, never used for fitness) every
--val_every generations and at the end; and --task1_generations."""
import numpy as np
import pytest

import binary_mnist_pathnet as driver
import input_data
import pathnet
import results_log
from results_log import VAL_LEVELS
from test_driver import StubNet, cached_mnist, evolve, evolve_args, run_main  # noqa: F401


def test_the_validation_split_is_the_first_5000_training_images(mnist_dir):
    data = input_data.load_mnist(mnist_dir, download_missing=False)
    whole = input_data.read_idx('%s/train-images-idx3-ubyte.gz' % mnist_dir, 2051, 60000,
                                (28, 28)).reshape(60000, 784)
    assert np.array_equal(data['validation_images'], whole[:5000])
    assert np.array_equal(data['train_images'], whole[5000:])
    assert len(data['validation_labels']) == 5000 and len(data['train_labels']) == 55000


def test_levels_are_the_first_evaluated_generation_reaching_them():
    args = evolve_args(threshold=1.0, max_steps=14, val_every=2)
    script = [0.5, 0.6, 0.7, 0.8, 0.84, 0.86, 0.88, 0.89, 0.91, 0.92, 0.94]
    net = StubNet(val_script=list(script))
    result = evolve(net, args)
    # every generation up to 4 * val_every, then every val_every; the last once
    evaluated = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14]
    assert [(g, t) for g, t, _ in net.evaluations] == [(g, 0) for g in evaluated]
    for g, _, m in net.evaluations:         # each time the winner's path
        call = net.calls[g - 1]
        assert np.array_equal(m, call['masks'][call['winner']])
    assert result.val_reached == {0.85: 6, 0.90: 10, 0.93: 14}
    assert result.val_accuracy == 0.94


def test_a_level_keeps_its_first_generation():
    args = evolve_args(threshold=1.0, max_steps=4, val_every=1)
    result = evolve(StubNet(val_script=[0.91, 0.80, 0.92, 0.94]), args)
    assert result.val_reached == {0.85: 1, 0.90: 1, 0.93: 4}
    assert result.val_accuracy == 0.94          # the final winner's, not the best


def test_once_every_level_is_reached_only_the_end_is_evaluated():
    """... for the levels; the curve's generations (3, 5, 10, 20) are still evaluated."""
    args = evolve_args(threshold=1.0, max_steps=30, val_every=5)
    net = StubNet(val_script=[0.9, 0.96, 0.6, 0.61, 0.62, 0.63, 0.97])
    result = evolve(net, args)
    assert [g for g, _, _ in net.evaluations] == [1, 2, 3, 5, 10, 20, 30]
    assert result.val_reached == {0.85: 1, 0.90: 1, 0.93: 2, 0.95: 2}
    assert result.val_accuracy == 0.97
    assert result.curve == {1: 0.9, 2: 0.96, 3: 0.6, 5: 0.61, 10: 0.62, 20: 0.63}


def test_a_task_is_evaluated_at_its_end_and_only_there_with_val_every_0():
    """Solved at generation 3: evaluated there once (the end)."""
    script = [([1, 0], 0, True), ([1, 0], 0, True), ([10, 0], 0, True)]   # solved at 3
    args = evolve_args(threshold=0.1, max_steps=50, val_every=5)
    net = StubNet(script, val_script=[0.5, 0.6, 0.97])
    result = evolve(net, args)
    assert result.generations == 3 and [e[0] for e in net.evaluations] == [1, 2, 3]
    assert result.val_reached == {level: 3 for level in VAL_LEVELS}
    # val_every 0: the levels from the end only; the curve's evaluations (1, 2, 3, 5)
    # reach every level, and must not count for them.
    net = StubNet(val_script=[0.99] * 4 + [0.5])
    result = evolve(net, evolve_args(threshold=1.0, max_steps=7, val_every=0))
    assert [e[0] for e in net.evaluations] == [1, 2, 3, 5, 7]
    assert result.val_reached == {} and result.val_accuracy == 0.5
    assert result.curve == {1: 0.99, 2: 0.99, 3: 0.99, 5: 0.99}



def test_task1_generations_plays_exactly_that_many_on_task_1_only():
    solved = ([100, 0], 0, True)     # fitness 1.0 at every generation
    args = evolve_args(threshold=0.5, max_steps=50, task1_generations=5)
    net = StubNet([solved] * 20)
    result = evolve(net, args, task=0)
    assert (result.generations, result.converged, len(net.calls)) == (5, True, 5)
    net = StubNet([solved] * 20)
    result = evolve(net, args, task=1)
    assert (result.generations, result.converged, len(net.calls)) == (1, True, 1)
    never = ([0, 0], 0, True)
    result = evolve(StubNet([never] * 20), args, task=0)
    assert (result.generations, result.converged) == (5, False)


@pytest.mark.slow
def test_validation_images_come_from_the_validation_split(tmp_path, mnist_dir, monkeypatch):
    """The images evaluated while evolving are the task's validation images, with
    noise: not the training (fitness) images, nor the test images."""
    made, evaluated = [], []
    real_task, real_evaluate = input_data.binary_task, pathnet.PathNet.evaluate
    real_load = input_data.load_mnist
    loaded = {}

    def load(*a, **k):
        loaded.update(real_load(*a, **k))
        return loaded

    def binary_task(images, labels, a, b, noise, rng):
        out = real_task(images, labels, a, b, noise, rng)
        made.append((images, (a, b), out[0]))
        return out

    def evaluate(self, sess, task, mask, images, labels, slot=0):
        evaluated.append((task, images))
        return real_evaluate(self, sess, task, mask, images, labels, slot)
    monkeypatch.setattr(input_data, 'load_mnist', load)
    monkeypatch.setattr(input_data, 'binary_task', binary_task)
    monkeypatch.setattr(pathnet.PathNet, 'evaluate', evaluate)
    code, rows = run_main(tmp_path, mnist_dir, ['--seed', '3', '--max_steps', '4', '--T', '3',
                                                '--candi', '4', '--quiet', '--val_every', '2'])
    assert code == 0 and len(rows) == 1
    validation = {classes: out for images, classes, out in made
                  if images is loaded['validation_images']}
    assert set(validation) == {(5, 6), (6, 7)}
    # generations 1-4 of each task (the curve's 1, 2, 3 among them: evaluated once),
    # task 1's test accuracy right after it, then that of each task (after task 2)
    assert [t for t, _ in evaluated] == [0] * 4 + [0] + [1] * 4 + [0, 1]
    assert evaluated[4][1] is evaluated[-2][1]                  # the test images
    del evaluated[4]
    for (task, images), classes in zip(evaluated[:8], [(5, 6)] * 4 + [(6, 7)] * 4):
        assert images is validation[classes]
    # noisy, drawn once: salt and pepper over the clean validation images
    clean = loaded['validation_images'][np.isin(loaded['validation_labels'], (5, 6))] / 255.0
    noisy = validation[(5, 6)]
    changed = ~np.isclose(noisy, clean)
    assert 0.2 < changed.mean() < 0.5 and np.isin(noisy[changed], (0.0, 1.0)).all()


@pytest.mark.slow
def test_the_rows_validation_columns_agree_with_its_generations(tmp_path, mnist_dir):
    code, rows = run_main(tmp_path, mnist_dir, ['--seeds', '1-2', '--max_steps', '30',
                                                '--quiet', '--val_every', '4'])
    assert code == 0 and len(rows) == 2
    for row in rows:
        for t in (1, 2):
            n, accuracy = int(row['task%d_generations' % t]), float(row['task%d_val_accuracy' % t])
            assert 0.5 < accuracy <= 1
            for level in VAL_LEVELS:
                g = row['task%d_val_gen_%.2f' % (t, level)]
                if accuracy >= level:          # the last evaluation reached it at the latest
                    assert g != ''
                if g:
                    assert int(g) <= n and (int(g) <= 16 or int(g) % 4 == 0 or int(g) == n)
            assert [c for c in results_log.COLUMNS if c.startswith('task%d_val_' % t)]
