import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from analysis import plot_transfer  # noqa: E402
import conftest  # noqa: E402
from analysis import stats  # noqa: E402

HEADER = ('timestamp,seed,control,task1,task2,task1_generations,task2_generations,overlap,'
          'task1_converged,task2_converged,task1_fitness,task2_fitness,task1_test_accuracy,'
          'task2_test_accuracy,task1_path,task2_path,L,M,N,seconds,settings')


def row(seed=1, control='pathnet', g2=127, c2=1, acc1=0.9303, g1=121, settings=''):
    return ('2026-11-27T08:50:01Z,%d,%s,5v6,6v7,%d,%d,3,1,%d,0.9988,0.9988,%.4f,0.9733,'
            '1-8-9|4-5-6|0-1-4,0-2-7|5-6-8|0-6,3,10,3,14.2,%s'
            % (seed, control, g1, g2, c2, acc1, settings))


def write_log(path, rows, header=HEADER):
    path.write_text('\n'.join([header] + rows) + '\n')
    return str(path)


def run(capsys, argv):
    assert plot_transfer.main(argv) == 0
    out, err = capsys.readouterr()
    return out, err


def is_png(path):
    data = open(path, 'rb').read()
    return data.startswith(b'\x89PNG') and len(data) > 20_000


def test_known_ratio_is_exactly_two_with_a_collapsed_ci(tmp_path, capsys):
    ratio, ci, diff, dci = stats.bootstrap_ratio(
        np.full(6, 200.0), np.full(6, 100.0), 10000, 0)
    assert ratio == 2 and list(ci) == [2, 2]
    assert diff == 100 and list(dci) == [100, 100]

    log = write_log(tmp_path / 'a.csv', [row(s, 'pathnet', g2=100) for s in range(6)]
                    + [row(s, 'scratch', g2=200, acc1=0.6) for s in range(6)])
    out_png = tmp_path / 'figs' / 'transfer.png'
    out, _ = run(capsys, [log, '-o', str(out_png)])
    # the decision: the exact sign-flip p of 6 equal differences, 2/2^6, Holm over 1 test
    assert ('scratch/pathnet: 2.00 over 6 paired seeds, 95% CI [2.00, 2.00], exact p=0.031 '
            '(Holm-adjusted 0.031): PathNet is FASTER') in out
    assert 'mean paired difference (scratch - pathnet): 100.0 generations, 95% CI [100.0, 100.0]' \
        in out
    assert 'finetune/pathnet: could not be made: no finetune runs' in out
    assert 'only 6 seeds' in out
    assert 'pathnet      6        6/6  100.0 [100.0, 100.0]' in out
    assert 'scratch      6        6/6  200.0 [200.0, 200.0]' in out and '0.6000' in out
    assert is_png(out_png)


def test_noisy_bootstrap_contains_the_truth_and_is_seeded():
    rng = np.random.default_rng(1)
    pathnet = rng.uniform(50, 150, 40).round()
    control = (1.5 * rng.uniform(50, 150, 40)).round()   # true ratio of means: 1.5
    ratio, ci, diff, dci = stats.bootstrap_ratio(control, pathnet, 10000, 7)
    assert ci[0] < 1.5 < ci[1] and ci[0] < ratio < ci[1] and ci[1] - ci[0] < 0.6
    assert dci[0] < 50 < dci[1]
    again = stats.bootstrap_ratio(control, pathnet, 10000, 7)
    assert list(again[1]) == list(ci) and list(again[3]) == list(dci)
    other = stats.bootstrap_ratio(control, pathnet, 10000, 8)
    assert list(other[1]) != list(ci)


def test_pairing_uses_only_seeds_in_both_conditions(tmp_path, capsys):
    rows = ([row(s, 'pathnet', g2=100) for s in range(5)]
            + [row(s, 'scratch', g2=200) for s in (3, 4, 2)]
            + [row(s, 'scratch', g2=900) for s in (5, 6)]        # no pathnet run: unpaired
            + [row(2, 'finetune', g2=300, g1=99)])               # another task 1: flagged
    log = write_log(tmp_path / 'a.csv', rows)
    out, _ = run(capsys, [log, '-o', str(tmp_path / 'x.png')])
    assert 'scratch/pathnet: 2.00 over 3 paired seeds' in out
    assert 'scratch      5        5/5' in out
    assert 'finetune/pathnet: 3.00 over 1 paired seeds; no CI from a single seed' in out
    assert "task 1 (generations, path) differs from pathnet's for 1 of these seeds" in out
    pathnet, scratch = {'seed': np.array([0, 1, 2, 3, 4])}, {'seed': np.array([2, 3, 4, 5, 6])}
    ia, ib = stats.paired(pathnet, scratch)
    assert list(pathnet['seed'][ia]) == list(scratch['seed'][ib]) == [2, 3, 4]


def test_duplicate_rows_count_once(tmp_path, capsys):
    log = write_log(tmp_path / 'a.csv', [row(s, c, g2=g) for s in range(3)
                                         for c, g in (('pathnet', 100), ('scratch', 300))])
    out, _ = run(capsys, [log, log, '-o', str(tmp_path / 'x.png')])   # the same log twice
    assert '; 6 duplicate (control, seed) rows: the last one read is used' in out
    assert 'scratch/pathnet: 3.00 over 3 paired seeds' in out


def test_other_settings_are_excluded_and_can_be_chosen(tmp_path, capsys):
    lr = '--learning_rate=0.0001'
    log = write_log(tmp_path / 'a.csv',
                    [row(s, 'pathnet', g2=100) for s in range(4)]
                    + [row(s, 'scratch', g2=200) for s in range(4)]
                    + [row(s, 'pathnet', g2=50, settings=lr) for s in range(4)]
                    + [row(s, 'scratch', g2=250, settings=lr) for s in range(3)])
    out, _ = run(capsys, [log, '-o', str(tmp_path / 'x.png')])
    assert 'settings: (defaults); 1 log(s); 7 rows of other settings skipped' in out
    assert 'scratch/pathnet: 2.00 over 4 paired seeds' in out
    out, _ = run(capsys, [log, '-o', str(tmp_path / 'y.png'), '--settings=' + lr])
    assert 'settings: %s; 1 log(s); 8 rows of other settings skipped' % lr in out
    assert 'scratch/pathnet: 5.00 over 3 paired seeds' in out
    err = one_line_error(capsys, [log, '--settings=--noise=0'])
    assert "no rows with settings '--noise=0'" in err
    assert "'': 8 rows, '--learning_rate=0.0001': 7 rows" in err


def test_censored_run_is_counted_at_its_end_and_reported(tmp_path, capsys):
    log = write_log(tmp_path / 'a.csv', [row(s, 'pathnet', g2=100) for s in range(4)]
                    + [row(s, 'scratch', g2=200) for s in range(3)]
                    + [row(3, 'scratch', g2=1000, c2=0)])
    out_png = tmp_path / 'x.png'
    out, _ = run(capsys, [log, '-o', str(out_png)])
    assert 'scratch      4        3/4  400.0' in out
    assert ('not converged (censored): pathnet 0, scratch 1; counted at the cap of 1000 '
            'generations, so the means are lower bounds') in out
    assert 'scratch/pathnet: 4.00 over 4 paired seeds' in out
    assert ('censored among these: scratch 1, pathnet 0; means restricted at tau = 1000: the '
            'ratio is a lower bound') in out
    assert is_png(out_png)


def test_missing_pathnet_still_plots(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'results').mkdir()
    write_log(tmp_path / 'results' / 'binary_mnist_pathnet.csv',
              [row(s, 'scratch', g2=200) for s in range(3)] + [row(0, 'finetune')])
    out, _ = run(capsys, [])
    assert 'scratch/pathnet: could not be made: no pathnet runs' in out
    assert 'finetune/pathnet: could not be made: no pathnet runs' in out
    assert is_png('results/transfer.png')


def one_line_error(capsys, argv):
    return conftest.one_line_error(plot_transfer.main, capsys, argv)


def test_bad_logs(tmp_path, capsys):
    assert 'cannot read' in one_line_error(capsys, [str(tmp_path / 'nope.csv')])
    (tmp_path / 'empty.csv').write_text('')
    assert 'no data rows' in one_line_error(capsys, [str(tmp_path / 'empty.csv')])
    assert 'no data rows' in one_line_error(capsys, [write_log(tmp_path / 'h.csv', [])])
    (tmp_path / 'bin.csv').write_bytes(b'\xff\xfe\x00\x81' * 50)
    assert 'not a CSV results log' in one_line_error(capsys, [str(tmp_path / 'bin.csv')])
    header = HEADER.replace(',task1_test_accuracy,', ',')
    assert 'no column task1_test_accuracy' in one_line_error(
        capsys, [write_log(tmp_path / 'c.csv', [row()], header)])
    assert "g.csv line 3: task1_generations should be an integer, got '12x'" in one_line_error(
        capsys, [write_log(tmp_path / 'g.csv', [row(), row().replace(',121,127,', ',12x,127,')])])
    torn = write_log(tmp_path / 'm.csv', [row(settings='--a=1,2')])
    assert plot_transfer.main([torn]) == 1
    assert capsys.readouterr().err == ('warning: %s line 2: torn row (22 fields, expected 21), '
                                       'skipped\nerror: no data rows in %s\n' % (torn, torn))
    assert "unknown control 'pathnot'" in one_line_error(
        capsys, [write_log(tmp_path / 'u.csv', [row(control='pathnot')])])
    assert 'impossible' in one_line_error(
        capsys, [write_log(tmp_path / 'i.csv', [row(c2=2)])])
    assert 'impossible' in one_line_error(
        capsys, [write_log(tmp_path / 'a.csv', [row(acc1=93.0)])])
    assert not list(tmp_path.glob('*.png'))


@pytest.mark.slow
def test_bad_log_subprocess_has_no_traceback(tmp_path):
    log = write_log(tmp_path / 'g.csv', [row().replace(',121,127,', ',121,-1,')])
    done = subprocess.run([sys.executable, '-m', 'analysis.plot_transfer', log,
                           '-o', str(tmp_path / 'x.png')], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 1
    assert done.stderr.startswith('error: ') and done.stderr.count('\n') == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert not (tmp_path / 'x.png').exists()


@pytest.mark.parametrize('n', [2, 31, 200])
def test_t_interval(n):
    x = np.arange(n, dtype=float)
    mean, half = stats.mean_ci(x)
    assert mean == pytest.approx((n - 1) / 2)
    t = {2: 12.706, 31: 2.0423, 200: 1.9720}[n]
    assert half == pytest.approx(t * x.std(ddof=1) / np.sqrt(n), rel=1e-3)
    assert stats.mean_ci(np.array([5.0]))[1] is None


def test_nothing_converged_is_drawn_at_the_cap_and_said(tmp_path, capsys):
    log = write_log(tmp_path / 'a.csv', [row(s, c, g2=1000, c2=0)
                                         for s in range(3) for c in ('pathnet', 'scratch')])
    out, _ = run(capsys, [log, '-o', str(tmp_path / 'x.png')])
    assert 'pathnet      3        0/3  1000.0' in out
    assert ('not converged (censored): pathnet 3, scratch 3; counted at the cap of 1000 '
            'generations, so the means are lower bounds') in out
    assert ('censored among these: scratch 3, pathnet 3; means restricted at tau = 1000: the '
            'ratio is not a bound on the unrestricted ratio (tau cuts short both sides)') in out
    table, _, _ = plot_transfer.select(plot_transfer.read_rows([log]), '')
    title = plot_transfer.plot(table, '').axes[0].get_title()
    assert ('6 run(s) not converged, censored at their last generation (smallest 1000): '
            'means are lower bounds') in title
    assert is_png(tmp_path / 'x.png')
