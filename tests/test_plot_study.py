"""plot_study.py: the study's speed-ups per cell, at the threshold and at 0.95/0.98."""
import csv

import numpy as np
import pytest

import plot_study
from conftest import one_line_error
from results_log import COLUMNS


def write_cell(path, g2, gen95, overlap=2, controls=('pathnet', 'scratch', 'finetune')):
    """A log with one row per (control, seed): task-2 generations g2[control][i] and
    first generation at 0.95 gen95[control][i] ('' = never)."""
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for control in controls:
            for seed, (g, g95) in enumerate(zip(g2[control], gen95[control])):
                row = dict.fromkeys(COLUMNS, '')
                row.update(timestamp='2026-11-29T00:00:00Z', seed=seed, control=control,
                           task1='5v6', task2='6v7', task1_generations=100, task2_generations=g,
                           overlap=overlap, task1_converged=1, task2_converged=1,
                           task1_fitness='0.9988', task2_fitness='0.9988',
                           task1_test_accuracy='0.93', task2_test_accuracy='0.97',
                           task1_path='1|2|3', task2_path='1|2|3', L=3, M=10, N=3,
                           seconds='1.0', settings='--tournament=shared', task1_diverged=0,
                           task2_diverged=0, **{'task2_gen_0.95': g95, 'task2_gen_0.98': g})
                w.writerow([row[c] for c in COLUMNS])
    return str(path)


def test_ratios_are_control_over_pathnet_per_cell_and_level(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 30
    pathnet = rng.integers(90, 111, n)
    g2 = {'pathnet': pathnet, 'scratch': pathnet * 2, 'finetune': pathnet // 2}
    gen95 = {'pathnet': [10] * n, 'scratch': [10] * n, 'finetune': [30] * n}
    log = write_cell(tmp_path / 'shared_sgd.csv', g2, gen95)
    cell = plot_study.cell(log, 2000)
    ratio, (lo, hi), censored = cell['ratios']['', 'scratch']
    assert ratio == pytest.approx(2.0) and lo == pytest.approx(2.0) and censored == 0
    ratio, (lo, hi), _ = cell['ratios']['', 'finetune']
    assert ratio == pytest.approx(np.mean(pathnet // 2) / np.mean(pathnet))
    assert hi < 1                                   # fine-tuning faster: PathNet slower
    assert cell['ratios']['0.95', 'scratch'][0] == pytest.approx(1.0)
    assert cell['ratios']['0.95', 'finetune'][0] == pytest.approx(3.0)
    assert cell['n'] == n and cell['name'] == 'shared_sgd'
    assert cell['overlap'][0] == 2
    assert plot_study.main([log, '-o', str(tmp_path / 'study.png'), '--bootstrap', '500']) == 0
    out = capsys.readouterr().out
    assert 'shared_sgd' in out and '2.00 [2.00, 2.00]*' in out
    assert (tmp_path / 'study.png').read_bytes().startswith(b'\x89PNG')


def test_only_seeds_run_under_all_three_controls_are_paired(tmp_path):
    g2 = {'pathnet': [100, 100, 100], 'scratch': [200, 200, 900], 'finetune': [50, 50]}
    gen95 = {c: [1] * len(v) for c, v in g2.items()}
    cell = plot_study.cell(write_cell(tmp_path / 'c.csv', g2, gen95), 200)
    assert cell['n'] == 2                              # seed 2 has no finetune run
    assert cell['ratios']['', 'scratch'][0] == pytest.approx(2.0)


def test_a_level_never_reached_counts_at_the_cap_and_is_flagged(tmp_path):
    g2 = {c: [100, 100] for c in ('pathnet', 'scratch', 'finetune')}
    gen95 = {'pathnet': ['', 10], 'scratch': [10, 10], 'finetune': [10, 10]}
    cell = plot_study.cell(write_cell(tmp_path / 'c.csv', g2, gen95), 200)
    ratio, _, censored = cell['ratios']['0.95', 'scratch']
    assert censored == 1 and ratio == pytest.approx(20 / (1000 + 10) * 1)


def test_a_cell_without_three_paired_controls_is_one_line_error(tmp_path, capsys):
    g2 = {'pathnet': [100, 100], 'scratch': [100, 100]}
    log = write_cell(tmp_path / 'c.csv', g2, {c: [1, 1] for c in g2},
                     controls=('pathnet', 'scratch'))
    err = one_line_error(plot_study.main, capsys, [log, '-o', str(tmp_path / 'x.png')])
    assert 'fewer than 2 seeds' in err and 'c.csv' in err
