import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import conftest  # noqa: E402
from analysis import plots  # noqa: E402
import plot_overlap  # noqa: E402
from analysis import plot_paths  # noqa: E402
from analysis import plot_transfer  # noqa: E402

MAINS = [plot_overlap.main, plot_transfer.main, plot_paths.main]


def test_save_makes_the_folder_and_closes_the_figure(tmp_path):
    fig = plt.figure()
    plots.save(fig, str(tmp_path / 'a' / 'b' / 'f.png'))
    assert (tmp_path / 'a' / 'b' / 'f.png').read_bytes().startswith(b'\x89PNG')
    assert not plt.fignum_exists(fig.number)
    kept = plt.figure()
    plots.save(kept, str(tmp_path / 'g.png'), close=False)
    assert plt.fignum_exists(kept.number)
    plt.close(kept)


def test_save_errors_are_one_line(tmp_path):
    (tmp_path / 'file').write_text('')
    before = plt.get_fignums()        # other tests' figures are not this test's business
    for path, says in ((tmp_path / 'file' / 'f.png', 'File exists'),   # a file for a folder
                       (tmp_path / 'f.unknown', 'Format')):
        with pytest.raises(plots.PlotError) as e:
            plots.save(plt.figure(), str(path))
        assert str(e.value).startswith('cannot write %s: ' % path) and says in str(e.value)
        assert '\n' not in str(e.value)
    assert plt.get_fignums() == before     # the failed saves closed their figures


@pytest.mark.parametrize('main', MAINS)
def test_a_missing_default_log_says_where_the_reference_is(main, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = conftest.one_line_error(main, capsys, [])
    assert err == ('error: no log at results/binary_mnist_pathnet.csv yet: run '
                   'binary_mnist_pathnet.py, or name a log, e.g. '
                   'results/reference/binary_mnist_pathnet.csv\n')


@pytest.mark.parametrize('main', MAINS)
def test_an_unwritable_figure_is_one_error_line(main, tmp_path, capsys):
    (tmp_path / 'file').write_text('')
    log = os.path.join(REPO, 'results', 'reference', 'binary_mnist_pathnet.csv')
    argv = [log, '-o', str(tmp_path / 'file' / 'f.png')]
    err = conftest.one_line_error(main, capsys, argv + ['--seed', '0'] * (main is plot_paths.main))
    assert err.startswith('error: cannot write %s: ' % (tmp_path / 'file' / 'f.png'))


@pytest.mark.parametrize('main', MAINS)
def test_a_folder_of_logs_is_read(main, tmp_path, capsys):
    # One log per job of a cluster array, and a seed in two of them: warned about.
    (tmp_path / 'jobs').mkdir()
    lines = open(os.path.join(REPO, 'results', 'reference', 'binary_mnist_pathnet.csv')) \
        .read().splitlines()
    for k, part in enumerate((lines[1:40], lines[40:80], lines[79:80])):
        (tmp_path / 'jobs' / ('log-%d.csv' % k)).write_text('\n'.join(lines[:1] + part) + '\n')
    argv = [str(tmp_path / 'jobs'), '-o', str(tmp_path / 'f.png')]
    assert main(argv + ['--seed', '0'] * (main is plot_paths.main)) == 0
    out, err = capsys.readouterr()
    assert err.startswith('warning: seed ') and err.count('\n') == 1, err
    assert '/jobs/log-1.csv line 41; %s/jobs/log-2.csv line 2)' % tmp_path in err
    assert (tmp_path / 'f.png').exists()
    assert main is plot_paths.main or 'from 3 log(s)' in out or '; 3 log(s);' in out, out


# ---------------------------------------------------------------------------
# Censoring of a level not reached, and decisions that no resampling seed changes.

def test_a_level_not_reached_is_censored_at_the_tasks_end_not_at_the_cap():
    row = {'task2_generations': 150, 'task2_converged': 1, 'task2_val_gen_0.90': '',
           'task2_gen_0.95': '40', 'task2_diverged': 0, 'where': 'x'}
    assert plots.generations(row, 2, 'val_0.90', 1000) == (150, True)    # not (1000, True)
    assert plots.generations(row, 2, '0.95', 1000) == (40, False)
    assert plots.generations(row, 2, 'threshold', 1000) == (150, False)
    diverged = dict(row, task2_generations=37, task2_converged=0, task2_diverged=1)
    assert plots.generations(diverged, 2, 'val_0.90', 1000) == (1000, True)   # never
    assert plots.horizon([(150, True), (30, False)], [(400, False), (200, True)]) == 150


LOGS = os.path.join(REPO, 'results')


def decisions(text):
    """The significance marks of a table, line by line: each line with its entries' p
    and stars, CI digits dropped (they are resampled)."""
    import re
    return [' '.join(re.sub(r'\[[-+0-9., ]+\]|seed \d+', '', line).split())
            for line in text.splitlines()
            if '*' in line or 'p=' in line or 'summary' in line or '/' in line]


def matrix_table(seed):
    from analysis import plot_matrix
    cells = [c for name, paths in plot_matrix.protocols(
        [os.path.join(LOGS, 'transfer', p) for p in ('restore_adam', 'shared_sgd')]).items()
        for c in plot_matrix.read_protocol(name, paths, 'auto', 200, seed)]
    return plot_matrix.table(cells, 200)


def study_table(seed):
    from analysis import plot_study
    study = os.path.join(LOGS, 'study')
    cells = [plot_study.cell(os.path.join(study, f), 200, seed)
             for f in sorted(os.listdir(study)) if f.endswith('.csv') and f != 'pilot_sgd_rate.csv']
    cells += [plot_study.cell(os.path.join(LOGS, 'transfer', p, '5v6-5v6.csv'), 200, seed)
              for p in ('restore_adam', 'shared_sgd')]
    cells += [plot_study.cell(os.path.join(LOGS, 'transfer', 'controls_restore_adam.csv'),
                              200, seed)]
    return plot_study.table(cells, 200) + plot_study.factorial(cells, 200, seed)


def transfer_table(seed):
    table, dup, skipped = plot_transfer.select(plot_transfer.read_rows(
        [os.path.join(LOGS, 'reference', 'binary_mnist_pathnet.csv')]), '')
    return plot_transfer.summary(table, '', 1, dup, skipped, 200, seed)


def scarce_table(seed):
    from analysis import plot_benefits as pb
    rows = plots.read([os.path.join(LOGS, 'benefits', 'scarce')], ints=('seed', 'task2_generations'),
                      floats=('task2_val_accuracy',),
                      required=('control', 'task1', 'task2', 'settings', 'task2_val_curve'))
    table = pb.cells(rows, [1, 5, 20])
    m = pb.test(table, 200, seed)
    return pb.summary(table, [1, 5, 20], m, 200) + '\n' + pb.markdown(table)


def learning_rate_table(seed):
    from analysis import benefits_rate as br
    rows = plots.read([os.path.join(LOGS, 'benefits', 'learning_rate.csv')], ints=br.INTS,
                      required=('control', 'settings', 'task2_val_accuracy'))
    cells, rates, seeds, _ = br.grid(rows)
    task2 = br.costs(cells, rates, seeds, 2, br.CONTROLS)
    found, _ = br.tests(task2, rates, 200, seed)
    return br.table(task2, rates, br.CONTROLS, found)


@pytest.mark.parametrize('table', [matrix_table, study_table, transfer_table, scarce_table,
                                   learning_rate_table])
def test_every_tables_decisions_are_the_same_under_10_resampling_seeds(table):
    """The committed logs' tables (the transfer matrix, where the bootstrap's decisions
    used to flip with its seed; the protocol study's cells, the positive control and the
    five controls with their 2x2; plot_transfer's verdicts; the benefits study's scarce-data
    and learning-rate tables) under 10 seeds."""
    first = decisions(table(0))
    assert any('*' in line or 'SLOWER' in line for line in first)
    for seed in range(1, 10):
        assert decisions(table(seed)) == first, seed


def test_the_builds_table_has_no_resampling_at_all(tmp_path, capsys):
    from analysis import plot_builds
    logs = [os.path.join(LOGS, 'cross-build', f) for f in ('tf2.16.1.csv', 'tf2.21.0.csv')]
    outs = []
    for _ in range(2):
        assert plot_builds.main(logs + ['-o', str(tmp_path / 'b.png')]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and 'exact two-sided p-values' in outs[0]
