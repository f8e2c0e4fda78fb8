"""study.py: the studies' cells, the matrix's pairs, rounds, the tuned rates."""
import csv

import pytest

import study
from results_log import COLUMNS


def test_the_pairs_are_drawn_once_and_are_what_they_say():
    pairs = study.draw_pairs()
    assert pairs == study.draw_pairs()                        # fixed seed: always the same
    assert [len(pairs[k]) for k in ('shared', 'disjoint')] == [5, 5]
    for kind, common in (('shared', 1), ('disjoint', 0)):
        for t1, t2 in pairs[kind]:
            assert len(set(t1)) == len(set(t2)) == 2 and len(set(t1) & set(t2)) == common
    every = pairs['shared'] + pairs['disjoint']
    assert len(set(every)) == 10 and not set(every) & set(study.POSITIVE)
    assert study.draw_pairs(seed=1) != pairs


def test_every_matrix_cell_runs_its_pair_under_both_protocols():
    cells = study.studies()['matrix']
    assert len(cells) == 2 * 12
    for c in cells:
        pair, protocol = c['log'].split('/')[-1][:-4], c['log'].split('/')[-2]
        a1, a2, b1, b2 = pair.replace('-', 'v').split('v')
        assert c['flags'][-8:] == ['--a1', a1, '--a2', a2, '--b1', b1, '--b2', b2]
        assert c['flags'][:-8] == study.PROTOCOLS[protocol]
        assert c['controls'] == study.PAPER and c['seeds'] == 20 and c['base'] == 0


def test_rounds_reach_every_cell_before_any_gets_more():
    assert study.rounds(50) == [10, 20, 50] and study.rounds(20) == [10, 20]
    assert study.rounds(10) == [10] and study.rounds(5) == [5]


def test_the_tuned_cell_runs_each_control_at_its_best_rate(tmp_path, monkeypatch):
    log = tmp_path / 'results' / 'transfer' / 'tuning_shared_sgd_mean.csv'
    log.parent.mkdir(parents=True)
    means = {('pathnet', 0.05): 100, ('pathnet', 0.1): 90, ('scratch', 0.05): 80,
             ('scratch', 0.2): 120, ('finetune', 0.02): 70, ('finetune', 0.1): 70}
    with open(log, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for (control, rate), g in means.items():
            for seed in (1000, 1001):
                row = dict.fromkeys(COLUMNS, '0')
                row.update(seed=seed, control=control, task2_generations=g + seed - 1000,
                           task2_converged=1, settings='--aggregate=mean --learning_rate=%g' % rate)
                w.writerow([row[c] for c in COLUMNS])
    assert study.best_rates(str(log)) == {'pathnet': 0.1, 'scratch': 0.05, 'finetune': 0.02}
    # A run that diverged stopped early, at few generations: it counts at the cap.
    with open(log, 'a', newline='') as f:
        row = dict.fromkeys(COLUMNS, '0')
        row.update(seed=1002, control='scratch', task2_generations=3, task2_converged=0,
                   task2_diverged=1, settings='--aggregate=mean --learning_rate=0.5')
        csv.writer(f, lineterminator='\n').writerow([row[c] for c in COLUMNS])
    assert study.best_rates(str(log))['scratch'] == 0.05
    monkeypatch.setattr(study, 'RESULTS', str(tmp_path / 'results'))
    tuned = study.studies()['tuned']
    assert [(c['controls'], c['flags'][-1]) for c in tuned] == [
        (('pathnet',), '0.1'), (('scratch',), '0.05'), (('finetune',), '0.02')]


def test_run_calls_the_batch_runner_per_round_cell_and_control(monkeypatch):
    calls = []

    def call(cmd, cwd, env):
        calls.append((cmd, env['SEED_BASE']))
        return 1 if '--control' in cmd and cmd[cmd.index('--control') + 1] == 'scratch' else 0
    monkeypatch.setattr(study.subprocess, 'call', call)
    assert study.run(['controls'], jobs=3) == 1          # scratch's batches "failed"
    assert len(calls) == 3 * 5                           # rounds 10, 20, 50 x 5 controls
    runs = [int(cmd[1]) for cmd, _ in calls]
    assert runs == [10] * 5 + [20] * 5 + [50] * 5
    cmd, base = calls[0]
    assert cmd[2:4] == ['3', '--'] and base == '0'
    assert cmd[cmd.index('--results') + 1] == 'results/transfer/controls_restore_adam.csv'


def test_an_interrupted_batch_stops_the_study(monkeypatch):
    calls = []
    monkeypatch.setattr(study.subprocess, 'call', lambda cmd, **k: calls.append(cmd) or 130)
    assert study.run(['positive'], jobs=1) == 130 and len(calls) == 1


@pytest.mark.parametrize('argv', [['run'], ['run', 'nope'], ['run', 'matrix', '--jobs', '0']])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as e:
        study.main(argv)
    assert e.value.code == 2


def test_the_rates_table_shows_each_controls_grid_and_marks_its_best(tmp_path):
    log = tmp_path / 'tuning.csv'
    grid = {('pathnet', 0.05): (100, '3', '0.91'), ('pathnet', 0.1): (90, '', '0.93'),
            ('scratch', 0.05): (80, '7', '0.95')}
    with open(log, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for (control, rate), (g, val90, acc) in grid.items():
            for seed in (1000, 1001):
                row = dict.fromkeys(COLUMNS, '')
                row.update(seed=seed, control=control, task2_generations=g + 2 * (seed - 1000),
                           task2_converged=int(g != 80 or seed == 1000), task2_val_accuracy=acc,
                           settings='--max_steps=500 --learning_rate=%g' % rate)
                row['task2_val_gen_0.90'] = val90
                w.writerow([row[c] for c in COLUMNS])
    lines = study.rates_table(str(log)).splitlines()
    assert lines[0].split()[:5] == ['control', 'rate', 'n', 'converged', 'threshold']
    got = {tuple(l.split()[:2]): l.split() for l in lines[1:]}
    assert set(got) == {('pathnet', '0.05'), ('pathnet', '0.1'), ('scratch', '0.05')}
    # n, converged of n, mean generations, then val 0.85, 0.9 (never reached: at the cap,
    # the run's --max_steps), 0.93, 0.95, final accuracy
    assert got['pathnet', '0.05'][2:9] == ['2', '2/2', '101.0', '500.0', '3.0', '500.0', '500.0']
    # scratch's seed 1001 did not converge: it counts at its cap, --max_steps=500
    assert got['scratch', '0.05'][3:5] == ['1/2', '290.0']
    assert got['pathnet', '0.1'][6] == '500.0' and got['pathnet', '0.1'][9] == '0.930'
    assert got['pathnet', '0.1'][-2:] == ['<-', 'best'] and 'best' not in got['pathnet', '0.05']
    assert got['scratch', '0.05'][-1] == 'best' and got['scratch', '0.05'][9] == '0.950'


def test_status_counts_the_seeds_of_each_cells_own_condition_and_range(tmp_path, monkeypatch):
    monkeypatch.setattr(study, 'RESULTS', str(tmp_path / 'results'))
    monkeypatch.chdir('/')      # the logs are found from the script's folder, not the cwd
    log = tmp_path / 'results' / 'transfer' / 'shared_sgd' / '5v6-6v5.csv'
    log.parent.mkdir(parents=True)
    theirs = '--b2=5 --learning_rate=0.05 --optimizer=sgd --tournament=shared'   # a real row's
    with open(log, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for control, seed, settings in [('pathnet', 0, theirs), ('pathnet', 1, theirs),
                                        ('pathnet', 20, theirs),      # beyond the cell's 0-19
                                        ('pathnet', 2, '--b2=5'),     # another condition
                                        ('scratch', 0, theirs)]:
            row = dict.fromkeys(COLUMNS, '0')
            row.update(seed=seed, control=control, settings=settings)
            w.writerow([row[c] for c in COLUMNS])
    out = study.status(['positive'])
    line = [l for l in out.splitlines() if 'shared_sgd/5v6-6v5.csv' in l]
    assert line == ['| positive | `transfer/shared_sgd/5v6-6v5.csv` | '
                    'pathnet 2/20, scratch 1/20, finetune 0/20 |']
    assert 'pathnet 0/20, scratch 0/20, finetune 0/20' in out          # the other cells
    assert out.splitlines()[-1] == 'positive: 3 of 240 runs'


def test_list_prints_runnable_commands_under_a_header_each_cell_once():
    out = study.listing(['positive', 'matrix'], 3)
    lines = out.splitlines()
    assert lines[0].startswith('# ') and '## positive' in lines and '## matrix' in lines
    commands = [l for l in lines if l and not l.startswith('#')]
    assert commands and all(l.startswith('SEED_BASE=') and
                            ' ./auto_binary_mnist_pathnet.sh 20 3 -- --quiet --results results/'
                            in l for l in commands)
    assert not [l for l in commands if 'CONTROL' in l or 'JOBS' in l or '/work' in l]
    # the positive cells are also matrix cells: their commands appear once, under positive
    logs = [l.split('--results ')[1].split()[0] + ' ' + l.split('--control ')[1].split()[0]
            for l in commands]
    assert len(logs) == len(set(logs)) == (2 + 10) * 2 * 3
    assert 'results/transfer/restore_adam/5v6-5v6.csv: pathnet scratch finetune, seeds 0-19 ' \
           '(the same cell as in study positive)' in out
    # cells of one log with other flags (the tuning grid's rates) are all listed
    tuning = [l for l in study.listing(['tuning'], 2).splitlines() if l.startswith('SEED_BASE')]
    assert len(tuning) == len(study.RATES) * 3 and len(set(tuning)) == len(tuning)
