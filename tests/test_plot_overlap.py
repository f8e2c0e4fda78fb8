import itertools
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import plot_overlap  # noqa: E402
import conftest  # noqa: E402
from analysis import stats  # noqa: E402

HEADER = ('timestamp,seed,control,task1,task2,task1_generations,task2_generations,overlap,'
          'task1_converged,task2_converged,task1_fitness,task2_fitness,task1_test_accuracy,'
          'task2_test_accuracy,task1_path,task2_path,L,M,N,seconds,settings')


def row(seed=1, control='pathnet', g1=121, g2=127, overlap=3, c1=1, c2=1, L=3, M=10, N=3,
        settings=''):
    return ('2026-11-27T08:50:01Z,%d,%s,5v6,6v7,%d,%d,%d,%d,%d,0.9988,0.9988,0.9303,0.9733,'
            '1-8-9|4-5-6|0-1-4,0-2-7|5-6-8|0-6,%d,%d,%d,14.2,%s'
            % (seed, control, g1, g2, overlap, c1, c2, L, M, N, settings))


def write_log(path, rows, header=HEADER):
    path.write_text('\n'.join([header] + rows) + '\n')
    return str(path)


def without_replacement(L, M, N):
    """What a wrong model (N distinct modules per layer) would give."""
    comb = stats.comb
    layer = [comb(N, i) * comb(M - N, N - i) / comb(M, N) for i in range(N + 1)]
    dist = np.array([1.0])
    for _ in range(L):
        dist = np.convolve(dist, layer)
    return dist


@pytest.mark.parametrize('L,M,N', [(1, 1, 1), (1, 2, 1), (3, 10, 3), (4, 5, 5), (2, 20, 4)])
def test_chance_distribution_sums_to_one(L, M, N):
    dist = stats.chance_distribution(L, M, N)
    assert len(dist) == L * N + 1
    assert dist.min() >= 0
    assert dist.sum() == pytest.approx(1, abs=1e-12)


def test_chance_by_hand():
    # One gene from two modules: the paths agree half of the time.
    assert stats.chance_distribution(1, 2, 1) == pytest.approx([0.5, 0.5])
    # Two genes from two modules: a layer is {0} or {1} (1/4 each) or {0, 1} (1/2).
    # Overlap 0 only for {0} vs {1}: 2/16; overlap 2 only for {0,1} twice: 1/4.
    assert stats.chance_distribution(1, 2, 2) == pytest.approx([1 / 8, 5 / 8, 1 / 4])
    # A single module: always on both paths.
    assert stats.chance_distribution(3, 1, 1) == pytest.approx([0, 0, 0, 1])


def test_chance_matches_enumeration():
    L, M, N = 2, 3, 2
    counts = {}
    for a, b in itertools.product(itertools.product(range(M), repeat=L * N), repeat=2):
        k = sum(len(set(a[l * N:(l + 1) * N]) & set(b[l * N:(l + 1) * N])) for l in range(L))
        counts[k] = counts.get(k, 0) + 1
    exact = [float(Fraction(counts.get(k, 0), M ** (2 * L * N))) for k in range(L * N + 1)]
    assert stats.chance_distribution(L, M, N) == pytest.approx(exact, abs=1e-12)


def test_chance_matches_simulation_and_not_the_wrong_model():
    L, M, N = 3, 10, 3
    exact = stats.chance_distribution(L, M, N)
    simulated = stats.simulate_overlap(L, M, N, pairs=200_000, seed=0)
    assert simulated.sum() == pytest.approx(1)
    # Each frequency has a standard error of at most 0.0012: 0.006 is 5 of them.
    assert np.abs(simulated - exact).max() < 0.006
    assert np.abs(simulated - without_replacement(L, M, N)).max() > 0.05
    assert simulated @ np.arange(L * N + 1) == pytest.approx(L * M * (1 - (1 - 1 / M) ** N) ** 2,
                                                           abs=0.01)


def test_p_value_both_tails():
    dist = stats.chance_distribution(3, 10, 3)
    p = stats.chance_p_value
    assert p(np.array([0]), dist) == pytest.approx((dist[0], 1))
    assert p(np.array([4]), dist) == pytest.approx((dist[:5].sum(), dist[4:].sum()))
    assert p(np.array([9] * 20), dist)[1] < 1e-50 and p(np.array([0] * 20), dist)[0] < 1e-17
    # Two pairs of one-gene, two-module paths: the summed overlap is 0, 1, 2 with 1/4, 1/2, 1/4.
    half = stats.chance_distribution(1, 2, 1)
    assert p(np.array([0, 1]), half) == pytest.approx((3 / 4, 3 / 4))
    assert p(np.array([0, 0]), half) == pytest.approx((1 / 4, 1))


def test_reference_study_is_lower_than_chance(capsys):
    # The README quotes 4e-5 for the committed study: evolution avoids frozen modules.
    log = os.path.join(REPO, 'results', 'reference', 'binary_mnist_pathnet.csv')
    rows, _ = plot_overlap.select(plot_overlap.read_rows([log]), 'pathnet', [log])
    lower, upper = stats.chance_p_value(np.array([r['overlap'] for r in rows]),
                                        stats.chance_distribution(3, 10, 3))
    assert len(rows) == 200 and '%.1g' % lower == '4e-05' and upper > 0.9999
    assert capsys.readouterr().err == ''


def test_writes_three_figures_and_summary(tmp_path, capsys):
    rows = [row(seed=s, overlap=o, g1=100 + 10 * s, g2=50 + 5 * s)
            for s, o in enumerate([1, 2, 2, 3, 3, 3, 4])]
    rows.append(row(seed=8, g2=1000, c2=0, overlap=5))           # task 2 not solved
    rows.append(row(seed=9, control='scratch', overlap=2))        # another control
    log1 = write_log(tmp_path / 'a.csv', rows[:4])
    log2 = write_log(tmp_path / 'b.csv', rows[4:])                # a job array: two logs
    out = tmp_path / 'figs' / 'f.png'
    assert plot_overlap.main([log1, log2, '-o', str(out)]) == 0
    for name in ('f.png', 'f_overlap_histogram.png', 'f_generations_histogram.png'):
        data = (tmp_path / 'figs' / name).read_bytes()
        assert data.startswith(b'\x89PNG') and len(data) > 10_000
    text = capsys.readouterr().out
    assert '8 experiments (pathnet, L=3 M=10 N=3) from 2 log(s)' in text
    assert 'skipped 1 rows of other controls (scratch: 1)' in text
    assert 'converged: task 1 8/8, task 2 7/8, both 7/8' in text
    assert 'overlap: mean 2.88 (all 8 experiments) vs chance 2.20' in text
    assert 'by chance: P(mean <= 2.88) = 0.96 (lower tail), P(mean >= 2.88) = 0.072 (upper tail)' \
        in text
    assert 'task 2 generations (converged): mean 65.0, median 65' in text


def test_default_paths_and_control_option(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'results').mkdir()
    write_log(tmp_path / 'results' / 'binary_mnist_pathnet.csv',
              [row(control='scratch', seed=s, overlap=s) for s in range(3)] + [row()])
    assert plot_overlap.main(['--control', 'scratch']) == 0
    assert sorted(os.listdir('results')) == [
        'binary_mnist_pathnet.csv', 'generations_histogram.png', 'overlap_generations.png',
        'overlap_histogram.png']
    assert '3 experiments (scratch' in capsys.readouterr().out


def one_line_error(capsys, argv):
    return conftest.one_line_error(plot_overlap.main, capsys, argv)


def test_bad_logs(tmp_path, capsys):
    assert 'cannot read' in one_line_error(capsys, [str(tmp_path / 'nope.csv')])
    assert 'no data rows' in one_line_error(capsys, [write_log(tmp_path / 'h.csv', [])])
    (tmp_path / 'empty.csv').write_text('')
    assert 'no data rows' in one_line_error(capsys, [str(tmp_path / 'empty.csv')])
    header = HEADER.replace(',overlap,', ',')
    good = row().split(',')
    del good[7]
    err = one_line_error(capsys, [write_log(tmp_path / 'c.csv', [','.join(good)], header)])
    assert 'no column overlap' in err
    err = one_line_error(capsys, [write_log(tmp_path / 'g.csv', [row(), row().replace(
        ',121,127,', ',12x,127,')])])
    assert "g.csv line 3: task1_generations should be an integer, got '12x'" in err
    torn = write_log(tmp_path / 's.csv', [row().rsplit(',', 9)[0]])
    assert plot_overlap.main([torn]) == 1
    assert capsys.readouterr().err == ('warning: %s line 2: torn row (12 fields, expected 21), '
                                       'skipped\nerror: no data rows in %s\n' % (torn, torn))
    err = one_line_error(capsys, [write_log(tmp_path / 'o.csv', [row(overlap=10)])])
    assert 'impossible' in err
    assert 'mix network sizes L/M/N 3/10/3, 4/10/3' in one_line_error(
        capsys, [write_log(tmp_path / 'm.csv', [row(), row(seed=2, L=4)])])
    assert 'no finetune rows (found pathnet: 1)' in one_line_error(
        capsys, [write_log(tmp_path / 'p.csv', [row()]), '--control', 'finetune'])


@pytest.mark.slow
def test_bad_log_subprocess_has_no_traceback(tmp_path):
    log = write_log(tmp_path / 'g.csv', [row().replace(',3,10,3,', ',3,ten,3,')])
    done = subprocess.run([sys.executable, os.path.join(REPO, 'plot_overlap.py'), log,
                           '-o', str(tmp_path / 'x.png')], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith('error: ') and done.stderr.count('\n') == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert not (tmp_path / 'x.png').exists()


def test_title_gives_both_tails(tmp_path):
    rows = plot_overlap.read_rows([write_log(tmp_path / 'a.csv', [
        row(seed=s, overlap=o) for s, o in enumerate([0, 0, 1, 0])])])
    t = plot_overlap.tabulate(rows, stats.chance_distribution(3, 10, 3))
    title = plot_overlap.plot_overlap_histogram(t).axes[0].get_title()
    lower, upper = stats.chance_p_value(np.array([0, 0, 1, 0]), t['chance'])
    assert ('P(mean \u2264 0.25) = %.2g (lower tail), P(mean \u2265 0.25) = %.2g (upper tail)'
            % (lower, upper)) in title
    assert lower < 0.01 < 0.99 < upper


def test_nothing_solved_is_an_error_not_an_empty_figure(tmp_path, capsys):
    log = write_log(tmp_path / 'a.csv', [row(seed=1, c2=0), row(seed=2, c1=0, c2=0),
                                         row(seed=3, control='scratch')])
    err = one_line_error(capsys, [log, '-o', str(tmp_path / 'f.png')])
    assert err == ('error: none of the 2 pathnet experiments in %s solved both tasks (task 1: '
                   '1, task 2: 0): no generations to plot\n' % log)
    assert not list(tmp_path.glob('*.png'))


def test_a_figure_named_like_the_default_keeps_the_default_names(tmp_path, capsys):
    out = tmp_path / 'ref' / 'overlap_generations.png'
    assert plot_overlap.output_paths(str(out)) == [
        str(out), str(tmp_path / 'ref' / 'overlap_histogram.png'),
        str(tmp_path / 'ref' / 'generations_histogram.png')]
    assert plot_overlap.output_paths('f.svg') == [
        'f.svg', 'f_overlap_histogram.svg', 'f_generations_histogram.svg']


def test_a_seed_twice_is_warned_about(tmp_path, capsys):
    log = write_log(tmp_path / 'a.csv', [row(seed=1), row(seed=2), row(seed=1)])
    assert plot_overlap.main([log, '-o', str(tmp_path / 'f.png')]) == 0
    assert capsys.readouterr().err == (
        "warning: seed 1 appears 2 times under control=pathnet settings='' (%s lines 2, 4)\n"
        % log)


def test_rows_of_other_settings_are_skipped_and_counted_never_pooled(tmp_path, capsys):
    log = write_log(tmp_path / 'mixed.csv', [row(seed=s, overlap=s % 4) for s in range(3)] +
                    [row(seed=s, settings='--T=20') for s in range(3, 8)])
    out = str(tmp_path / 'f.png')
    assert plot_overlap.main([log, '-o', out]) == 0
    text = capsys.readouterr().out
    assert text.startswith('3 experiments (pathnet, L=3 M=10 N=3) from 1 log(s); skipped 5 '
                           'rows of other controls (pathnet of other settings: 5)'), text
    assert 'settings: (defaults)' in text
    assert plot_overlap.main([log, '-o', out, '--settings=--T=20']) == 0
    text = capsys.readouterr().out
    assert text.startswith('5 experiments') and 'settings: --T=20' in text
    err = one_line_error(capsys, [log, '-o', out, '--settings=--T=50'])
    assert "no pathnet rows with settings '--T=50'; they have '': 3, '--T=20': 5" in err
    # without default rows: the rows' one settings, or a refusal when they mix
    only = write_log(tmp_path / 'only.csv', [row(seed=s, settings='--T=20') for s in range(4)])
    assert plot_overlap.main([only, '-o', out]) == 0
    assert capsys.readouterr().out.startswith('4 experiments')
    two = write_log(tmp_path / 'two.csv', [row(seed=s, settings='--T=%d' % (20 + s % 2))
                                           for s in range(4)])
    err = one_line_error(capsys, [two, '-o', out])
    assert "the pathnet rows mix 2 settings, none the defaults ('--T=20': 2, '--T=21': 2)" in err
