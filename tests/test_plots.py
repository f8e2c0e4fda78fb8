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
