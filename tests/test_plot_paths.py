import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analysis import plot_paths  # noqa: E402
from results_log import COLUMNS  # noqa: E402

HEADER = ','.join(COLUMNS)
EXAMPLE = ('2026-11-27T08:50:01Z,1,pathnet,5v6,6v7,121,127,3,1,0,0.9988,0.9988,0.9303,0.9733,'
           '1-8-9|4-5-6|0-1-4,0-2-7|5-6-8|0-6,3,10,3,14.2,')


def row(seed, task1_path, task2_path, control='pathnet', L=3, M=10, N=3):
    return ('2026-11-27T08:50:01Z,%d,%s,5v6,6v7,100,90,0,1,1,0.99,0.99,0.95,0.96,'
            '%s,%s,%d,%d,%d,1.0,' % (seed, control, task1_path, task2_path, L, M, N))


# Layer shares of task-1 modules on the task-2 path: [1,0,0], [1,1,1], [0,0,0] -> [2/3,1/3,1/3];
# the scratch row must not count under the default --control pathnet.
HAND_ROWS = [row(1, '0-1|2|3', '1|4|5'), row(2, '0|2|3', '0|2|3'), row(3, '0|2|3', '5-6-7|6|7'),
             row(4, '0|0|0', '0|0|0', control='scratch')]


def write(path, lines):
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


@pytest.fixture
def log(tmp_path):
    return write(tmp_path / 'log.csv', [HEADER] + HAND_ROWS + [EXAMPLE])


def cells(path_text):
    return {(l, int(m)) for l, layer in enumerate(path_text.split('|')) for m in layer.split('-')}


def active_modules(path_text):
    return sum(len(layer.split('-')) for layer in path_text.split('|'))


def is_png(path):
    with open(path, 'rb') as f:
        return f.read(8) == b'\x89PNG\r\n\x1a\n'


def run_main(argv, capsys):
    code = plot_paths.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------
# One experiment.

def test_grid_marks_exactly_the_two_paths(log):
    example = plot_paths.pick_row(plot_paths.load_log(log))  # the last row
    fig, info = plot_paths.draw_paths(example)
    t1, t2 = cells('1-8-9|4-5-6|0-1-4'), cells('0-2-7|5-6-8|0-6')
    assert set(info['both']) == t1 & t2 == {(1, 5), (1, 6), (2, 0)}
    assert set(info['task1_only']) == t1 - t2
    assert set(info['task2_only']) == t2 - t1
    assert len(info['unused']) == 30 - len(t1 | t2)
    # Input -> 3 modules, 3x3 between each pair of layers, 3 -> readout; task 2 ends in 2.
    assert len(info['edges'][1]) == 3 + 9 + 9 + 3 and len(info['edges'][2]) == 3 + 9 + 6 + 2
    assert ('input', (0, 1)) in info['edges'][1] and ((2, 6), 'readout2') in info['edges'][2]
    for task, modules in ((1, t1), (2, t2)):
        ends = {n for edge in info['edges'][task] for n in edge}
        assert ends == modules | {'input', 'readout%d' % task}

    # The drawn artists agree: the half-and-half markers sit exactly on the shared modules.
    halves = [line for line in fig.axes[0].lines if line.get_fillstyle() == 'left']
    assert len(halves) == 1
    drawn = {(int(x) - 1, int(y)) for x, y in zip(*halves[0].get_data())}
    assert drawn == t1 & t2
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert 'on both (re-used frozen module)' in legend
    assert 'task-1 path (frozen during task 2)' in legend
    title = fig.axes[0].get_title()
    assert 'seed 1' in title and '127 generations (not converged)' in title and 'overlap 3' in title
    plt.close(fig)


def test_unfrozen_control_says_so(log):
    scratch = plot_paths.pick_row(plot_paths.load_log(log), seed=4)
    fig, info = plot_paths.draw_paths(scratch)
    assert info['both'] == [(0, 0), (1, 0), (2, 0)] and not info['task1_only']
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert 'task-1 path (not frozen: scratch)' in legend
    assert not any('re-used frozen' in text for text in legend)
    assert 'overlap 3 (log says 0)' in fig.axes[0].get_title()  # counted from the paths drawn
    plt.close(fig)


def test_pick_row_by_seed_and_index(log):
    rows = plot_paths.load_log(log)
    assert plot_paths.pick_row(rows, row=0)['seed'] == 1
    assert plot_paths.pick_row(rows, row=0)['task1_path'] == '0-1|2|3'
    assert plot_paths.pick_row(rows, seed=1)['task1_path'] == '1-8-9|4-5-6|0-1-4'  # the last seed 1
    assert plot_paths.pick_row(rows, row=-2)['seed'] == 4


def test_grid_png_written_to_default_name(log, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main([log, '--seed', '2'], capsys)
    assert code == 0 and is_png(tmp_path / 'results' / 'paths_seed2.png')
    assert 'results/paths_seed2.png' in out


def test_seed_means_its_pathnet_run_unless_control_given(tmp_path, monkeypatch, capsys):
    """Every condition runs the same seeds: --seed alone must not draw
    whichever condition happens to come last in the log."""
    log = write(tmp_path / 'log.csv', [HEADER, row(7, '0|1|2', '3|4|5'),
                                       row(7, '6|7|8', '9|9|9', control='scratch')])
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main([log, '--seed', '7'], capsys)      # the name carries the control
    assert code == 0 and out.strip() == 'wrote results/paths_seed7.png'
    code, out, _ = run_main([log, '--seed', '7', '--control', 'scratch'], capsys)
    assert code == 0 and out.strip() == 'wrote results/paths_seed7_scratch.png'


# ---------------------------------------------------------------------------
# All experiments.

def test_usage_heat_maps_sum_to_active_modules(log):
    rows = [r for r in plot_paths.load_log(log) if r['control'] == 'pathnet']
    task1, task2, share = plot_paths.usage_counts(rows)
    assert task1.shape == task2.shape == (3, 10)
    assert task1.sum() == sum(active_modules(r['task1_path']) for r in rows)
    assert task2.sum() == sum(active_modules(r['task2_path']) for r in rows)
    assert task1[0, 0] == 3 and task2[1, 6] == 2  # module 0 of layer 1 on three task-1 paths


def test_share_per_layer_on_hand_made_log(tmp_path):
    hand = write(tmp_path / 'hand.csv', [HEADER] + HAND_ROWS)
    rows = [r for r in plot_paths.load_log(hand) if r['control'] == 'pathnet']
    _, _, share = plot_paths.usage_counts(rows)
    np.testing.assert_allclose(share, [2 / 3, 1 / 3, 1 / 3])


def test_usage_png_written(log, tmp_path, capsys):
    out = str(tmp_path / 'usage.png')
    assert run_main([log, '--usage', '-o', out], capsys)[0] == 0 and is_png(out)


def error_line(err):
    """The one error line after any warnings (the fixture's log has seed 1 twice)."""
    *warnings, last = err.splitlines()
    assert all(w.startswith('warning: ') for w in warnings) and last.startswith('error: '), err
    return last


def test_usage_of_a_control_without_experiments(log, capsys):
    code, _, err = run_main([log, '--usage', '--control', 'finetune'], capsys)
    assert code == 1 and error_line(err).startswith('error: no finetune experiments')


# ---------------------------------------------------------------------------
# Population history.

POPULATION, ACTIVE = 16, [3, 2, 1]  # every member: 3 modules in layer 1, 2 in layer 2, 1 in 3


def snapshot(rng, seed, task, generation):
    counts = np.zeros((3, 10), int)
    for _ in range(POPULATION):
        for l, k in enumerate(ACTIVE):
            counts[l, rng.choice(10, k, replace=False)] += 1
    return json.dumps({'seed': seed, 'task': task, 'generation': generation,
                       'population': POPULATION, 'counts': counts.tolist()})


@pytest.fixture
def history(tmp_path):
    rng = np.random.default_rng(0)
    lines = [snapshot(rng, 7, 1, 10), snapshot(rng, 7, 1, 13)]  # another seed, first in the file
    lines += [snapshot(rng, 1, 1, g) for g in list(range(5, 100, 5)) + [101]]
    lines += [snapshot(rng, 1, 2, g) for g in (5, 10, 12)]
    return write(tmp_path / 'history.jsonl', lines)


def test_history_reader_and_strip(history):
    snapshots = plot_paths.read_history(history)
    assert len(snapshots) == 2 + 20 + 3
    for snap in snapshots:
        assert snap['counts'].shape == (3, 10)
        assert snap['counts'].sum() == POPULATION * sum(ACTIVE)
        assert list(snap['counts'].sum(axis=1)) == [POPULATION * k for k in ACTIVE]
    run = plot_paths.select_run(snapshots)
    assert {s['seed'] for s in run} == {1} and len(run) == 23
    assert len(plot_paths.select_run(snapshots, seed=7)) == 2

    fig = plot_paths.draw_history(run, 'history.jsonl')
    # Panels row by row (task 1, then task 2); the colour bars have no title.
    shown = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    task1 = shown[:plot_paths.MAX_PANELS]  # 20 snapshots thinned to 12, first and last kept
    assert task1[0] == 'gen 5' and task1[-1] == 'gen 101 (end)' and len(set(task1)) == 12
    assert shown[plot_paths.MAX_PANELS:] == ['gen 5', 'gen 10', 'gen 12 (end)']
    plt.close(fig)


@pytest.mark.slow
def test_history_png_and_gif_written(history, tmp_path, capsys):
    # One snapshot per task keeps this fast; the full strip is checked above without saving.
    two = write(tmp_path / 'two.jsonl', open(history).read().splitlines()[-4:-2])
    png, gif = str(tmp_path / 'h.png'), str(tmp_path / 'h.gif')
    assert run_main(['--history', two, '-o', png], capsys)[0] == 0 and is_png(png)
    assert run_main(['--history', two, '--gif', '-o', gif], capsys)[0] == 0
    with open(gif, 'rb') as f:
        assert f.read(6) == b'GIF89a'


# ---------------------------------------------------------------------------
# Bad input: exit code 1 and one line on stderr.

BAD_LOGS = {  # case: (lines, what the error must say after the file name)
    'empty': ([], None),
    'header only': ([HEADER], None),
    'no header': ([EXAMPLE], ' has no header line'),
    'missing column': ([HEADER.replace(',task2_path', ''), EXAMPLE.replace(',0-2-7|5-6-8|0-6', '')],
                       ': no column task2_path in the header'),
    'letters in a path': ([HEADER, row(1, '1-8-x|4|0', '0|1|2')],
                          " line 2: malformed path '1-8-x|4|0'"),
    'empty layer': ([HEADER, row(1, '1||0', '0|1|2')], " line 2: malformed path '1||0'"),
    'too many layers': ([HEADER, row(1, '1|2|3|4', '0|1|2')],
                        " line 2: malformed path '1|2|3|4'"),
    'module beyond M': ([HEADER, row(1, '1|2|10', '0|1|2')], " line 2: malformed path '1|2|10'"),
    'more than N modules': ([HEADER, row(1, '1-2-3-4|2|3', '0|1|2')],
                            " line 2: malformed path '1-2-3-4|2|3'"),
    'N zero': ([HEADER, row(1, '1|2|3', '0|1|2', N=0)], ' line 2: N is 0, not a positive integer'),
    'seed not a number': ([HEADER, row(1, '1|2|3', '0|1|2').replace(',1,pathnet', ',x,pathnet')],
                          " line 2: seed should be an integer, got 'x'"),
}


@pytest.mark.parametrize('case', sorted(BAD_LOGS))
def test_bad_log(case, tmp_path, capsys):
    lines, says = BAD_LOGS[case]
    bad = write(tmp_path / 'bad.csv', lines)
    code, _, err = run_main([bad, '-o', str(tmp_path / 'x.png')], capsys)
    assert code == 1 and err.startswith('error: ') and err.count('\n') == 1, err
    assert ('error: no data rows in ' + bad if says is None else bad + says) in err, err
    assert not os.path.exists(tmp_path / 'x.png')


@pytest.mark.parametrize('argv', [['--seed', '99'], ['--row', '5'], ['--row', '-6']])
def test_missing_seed_or_row_out_of_range(argv, log, tmp_path, capsys):
    code, _, err = run_main([log] + argv + ['-o', str(tmp_path / 'x.png')], capsys)
    assert code == 1 and error_line(err)


def test_missing_log(tmp_path, capsys):
    code, _, err = run_main([str(tmp_path / 'nope.csv')], capsys)
    assert code == 1 and err.count('\n') == 1
    assert err.startswith('error: cannot read %s: No such file' % (tmp_path / 'nope.csv')), err


BAD_HISTORIES = {
    'not json': ['{"seed": 1, "task": 1,'],
    'empty': [],
    'missing key': ['{"seed": 1, "task": 1, "generation": 5, "counts": [[1]]}'],
    'task 3': ['{"seed": 1, "task": 3, "generation": 5, "population": 2, "counts": [[1]]}'],
    'ragged counts': ['{"seed": 1, "task": 1, "generation": 5, "population": 2, '
                      '"counts": [[1, 2], [1]]}'],
    'count above population': ['{"seed": 1, "task": 1, "generation": 5, "population": 2, '
                               '"counts": [[3, 0]]}'],
    'shape changes': ['{"seed": 1, "task": 1, "generation": 5, "population": 2, '
                      '"counts": [[1, 1]]}',
                      '{"seed": 1, "task": 1, "generation": 6, "population": 2, '
                      '"counts": [[1]]}'],
}


@pytest.mark.parametrize('case', sorted(BAD_HISTORIES))
def test_bad_history(case, tmp_path, capsys):
    bad = write(tmp_path / 'bad.jsonl', BAD_HISTORIES[case])
    code, _, err = run_main(['--history', bad, '-o', str(tmp_path / 'x.png')], capsys)
    assert code == 1 and err.startswith('error: ') and err.count('\n') == 1, err


def test_history_missing_file_or_seed(history, tmp_path, capsys):
    code, _, err = run_main(['--history', str(tmp_path / 'nope.jsonl')], capsys)
    assert code == 1 and err.startswith('error: cannot read history')
    code, _, err = run_main(['--history', history, '--seed', '3', '-o', str(tmp_path / 'x.png')],
                            capsys)
    assert code == 1 and err.startswith('error: no snapshots for seed 3') and err.count('\n') == 1


@pytest.mark.slow
def test_bad_log_from_the_command_line_has_no_traceback(tmp_path):
    bad = write(tmp_path / 'bad.csv', [HEADER, row(1, '1-8-x|4|0', '0|1|2')])
    # From another folder (the default output goes there): the package from PYTHONPATH.
    done = subprocess.run([sys.executable, '-m', 'analysis.plot_paths', bad],
                          capture_output=True, text=True, cwd=str(tmp_path), timeout=60,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 1
    assert done.stderr.startswith('error: ') and done.stderr.count('\n') == 1, done.stderr
    assert 'Traceback' not in done.stderr


def test_usage_says_when_experiments_did_not_converge(tmp_path):
    rows = plot_paths.load_log(write(tmp_path / 'log.csv', [HEADER] + HAND_ROWS[:3] + [
        row(5, '0|2|3', '0|2|3').replace(',100,90,0,1,1,', ',100,1000,0,1,0,')]))
    title = plot_paths.draw_usage(rows, 'pathnet', 'log.csv')._suptitle.get_text()
    assert title == ('Module usage over 4 pathnet experiments in log.csv\n1 of them did not '
                     'solve both tasks (not converged: task 1 0, task 2 1); their paths are the '
                     "last winners'")
    title = plot_paths.draw_usage(rows[:3], 'pathnet', 'log.csv')._suptitle.get_text()
    assert title == 'Module usage over 3 pathnet experiments in log.csv'
    plt.close('all')


def test_a_torn_row_is_skipped_and_the_rest_drawn(tmp_path, capsys):
    log = write(tmp_path / 'log.csv', [HEADER, HAND_ROWS[0], EXAMPLE + ',extra',
                                       '2026-11-27T08:50:01Z,1,path'])
    code, out, err = run_main([log, '--usage', '-o', str(tmp_path / 'u.png')], capsys)
    assert code == 0 and is_png(tmp_path / 'u.png')
    n = len(COLUMNS)    # an older header's rows are read as the current version's
    assert err == ('warning: %s line 3: torn row (22 fields, expected %d), skipped\n'
                   'warning: %s line 4: torn row (3 fields, expected %d), skipped\n'
                   % (log, n, log, n))
