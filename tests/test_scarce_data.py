"""--train_images N: task 2 trains on N of its training images, N/2 of each class,
drawn once per seed from a random stream of its own, so that task 1 and every other
draw (noise, test and validation images, populations, weights) are unchanged."""
import numpy as np
import pytest

import binary_mnist_pathnet as driver
import input_data
import pathnet
import results_log
from conftest import one_line_error
from test_driver import SMALL, cached_mnist, comparable, run_main  # noqa: F401


def test_the_sixth_stream_leaves_the_first_five_as_they_were():
    """SeedSequence numbers its children: spawn(6)'s first five are spawn(5)'s."""
    for seed in (0, 3, 2 ** 31 - 1):
        five = [np.random.default_rng(s).random(8)
                for s in np.random.SeedSequence(seed).spawn(5)]
        six = [np.random.default_rng(s).random(8)
               for s in np.random.SeedSequence(seed).spawn(6)]
        assert all(np.array_equal(a, b) for a, b in zip(five, six))
        assert not any(np.array_equal(six[5], a) for a in five)
    ex = driver.Experiment(driver.parse_args(['--seed', '3']), None, None, {'x': 1})
    streams = np.random.SeedSequence(3).spawn(5)
    for rng, s in zip((ex.data_rng, ex.evo_rng, ex.batch_rng, ex.init_rng, ex.noise_rng),
                      streams):
        assert np.array_equal(rng.random(4), np.random.default_rng(s).random(4))


def test_balanced_subset_is_n_distinct_images_half_of_each_class():
    labels = np.eye(2, dtype=np.float32)[np.r_[np.zeros(30, int), np.ones(70, int)]]
    labels = labels[np.random.default_rng(0).permutation(100)]
    keep = input_data.balanced_subset(labels, 20, np.random.default_rng(1))
    assert len(keep) == len(set(keep)) == 20 and list(keep) == sorted(keep)
    assert labels[keep].sum(0).tolist() == [10, 10]
    again = input_data.balanced_subset(labels, 20, np.random.default_rng(1))
    assert np.array_equal(keep, again)                           # drawn from the stream
    assert not np.array_equal(keep, input_data.balanced_subset(labels, 20,
                                                               np.random.default_rng(2)))
    assert labels[input_data.balanced_subset(labels, 60, np.random.default_rng(1))
                  ].sum(0).tolist() == [30, 30]                  # the whole smaller class
    with pytest.raises(input_data.MnistError):
        input_data.balanced_subset(labels, 62, np.random.default_rng(1))


@pytest.mark.parametrize('value, message', [('7', '--train_images must be even'),
                                            ('0', 'must be at least 1')])
def test_odd_or_no_images_refused_by_the_parser(value, message, capsys):
    with pytest.raises(SystemExit) as e:
        driver.parse_args(['--train_images', value])
    assert e.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_more_images_than_the_task_has_refused_in_one_line(tmp_path, mnist_dir, capsys):
    log = tmp_path / 'log.csv'
    err = one_line_error(driver.main, capsys, ['--train_images', '10836', '--seed', '1',
                                               '--results', str(log), '--data_dir', mnist_dir])
    # 6 vs 7: 5,417 images of 6 after the validation split, the smaller class
    assert '--train_images 10836 is more than task 2 (6 vs 7) has: at most 10834' in err
    assert not log.exists()


def test_the_flags_are_settings_and_so_part_of_the_resume_condition(tmp_path):
    plain = driver.settings(driver.parse_args(['--seed', '1']))
    scarce = driver.settings(driver.parse_args(['--seed', '1', '--train_images', '100',
                                                '--task2_generations', '50']))
    assert (plain, scarce) == ('', '--task2_generations=50 --train_images=100')
    assert driver.settings(driver.parse_args(['--train_images', '200'])) == \
        '--train_images=200'
    log = str(tmp_path / 'log.csv')
    for seed, settings in ((1, scarce), (2, plain)):
        results_log.append_row(log, dict({c: '' for c in results_log.COLUMNS}, seed=seed,
                                         control='pathnet', settings=settings))
    assert results_log.done_seeds([log], 'pathnet', scarce) == {1}
    assert results_log.done_seeds([log], 'pathnet', plain) == {2}
    assert results_log.done_seeds([log], 'pathnet', '--train_images=100') == set()


@pytest.fixture
def spied(monkeypatch):
    """What each run made: the images of every binary_task call (train, test and
    validation, noisy) and the images and labels each task trained on."""
    made, trained = [], []
    real_task, real_start = input_data.binary_task, pathnet.PathNet.start_task

    def binary_task(images, labels, a, b, noise, rng):
        out = real_task(images, labels, a, b, noise, rng)
        made.append(out)
        return out

    def start_task(self, sess, task, images, labels, *a, **k):
        trained.append((np.array(images), np.array(labels)))
        return real_start(self, sess, task, images, labels, *a, **k)
    monkeypatch.setattr(input_data, 'binary_task', binary_task)
    monkeypatch.setattr(pathnet.PathNet, 'start_task', start_task)
    return made, trained


@pytest.mark.slow
def test_task_2_trains_on_n_balanced_images_and_nothing_else_changes(tmp_path, mnist_dir,
                                                                       spied):
    made, trained = spied
    argv = SMALL + ['--seed', '3', '--val_every', '1']
    code, (full,) = run_main(tmp_path, mnist_dir, argv, name='full.csv')
    assert code == 0
    made_full, trained_full = list(made), list(trained)
    made.clear(), trained.clear()
    code, (scarce,) = run_main(tmp_path, mnist_dir, argv + ['--train_images', '40'],
                               name='scarce.csv')
    assert code == 0
    # task 2's pool: 40 distinct images of the full run's (noisy) task-2 images, 20 each
    images, labels = trained[1]
    assert len(images) == len(labels) == 40 and labels.sum(0).tolist() == [20, 20]
    rows = {r.tobytes(): k for k, r in enumerate(trained_full[1][0])}
    picked = [rows.get(r.tobytes()) for r in images]
    assert None not in picked and len(set(picked)) == 40
    assert np.array_equal(labels, trained_full[1][1][picked])
    # every other draw as without the flag: the train, test and validation images
    # and their noise, task 1's training images, and every task-1 column
    assert len(made) == len(made_full) == 6
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(made, made_full))
    assert np.array_equal(trained[0][0], trained_full[0][0])
    task1 = [c for c in results_log.COLUMNS if c.startswith('task1')
             and c != 'task1_test_accuracy']    # pathnet: frozen, so this one too, below
    assert {c: scarce[c] for c in task1} == {c: full[c] for c in task1}
    assert scarce['task1_test_accuracy'] == full['task1_test_accuracy']
    # and task 2 did train on fewer images: its row differs
    assert scarce['task2_val_curve'] != full['task2_val_curve']
    assert results_log.parse_settings(scarce['settings']) == dict(
        results_log.parse_settings(full['settings']), train_images='40')
    # the same seed draws the same subset
    trained.clear()
    code, (again,) = run_main(tmp_path, mnist_dir, argv + ['--train_images', '40'],
                              name='again.csv')
    assert code == 0 and comparable(again) == comparable(scarce)
    assert np.array_equal(trained[1][0], images)

