import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from results_log import COLUMNS, LogError, read_log  # noqa: E402

HEADER = ','.join(COLUMNS)


def row(seed=1, control='pathnet', g1=121, acc1='0.9303', settings=''):
    return ('2026-11-27T08:50:01Z,%d,%s,5v6,6v7,%s,127,3,1,1,0.9988,0.9988,%s,0.9733,'
            '1-8-9|4-5-6|0-1-4,0-2-7|5-6-8|0-6,3,10,3,14.2,%s'
            % (seed, control, g1, acc1, settings))


def write(path, lines):
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


def test_good_log_converts_what_is_asked(tmp_path):
    log = write(tmp_path / 'a.csv', [HEADER, row(seed=4, settings=' --x=1 '), row(seed=5)])
    rows = read_log(log, ints=('seed', 'L'), floats=('task1_test_accuracy',))
    assert [r['seed'] for r in rows] == [4, 5] and rows[0]['L'] == 3
    assert rows[0]['task1_test_accuracy'] == 0.9303
    assert rows[0]['task2_test_accuracy'] == '0.9733'   # not asked for: left a string
    assert rows[0]['settings'] == '--x=1' and rows[1]['settings'] == ''
    assert set(rows[0]) == set(COLUMNS) | {'where'}
    assert [r['where'] for r in rows] == [log + ' line 2', log + ' line 3']
    assert read_log(tmp_path / 'a.csv', ints=('seed',))[1]['seed'] == 5   # a pathlib path too


def test_several_logs_are_concatenated_in_order(tmp_path):
    a = write(tmp_path / 'a.csv', [HEADER, row(seed=1), row(seed=2)])
    b = write(tmp_path / 'b.csv', [HEADER, row(seed=3)])
    rows = read_log([a, b, a], ints=('seed',))
    assert [r['seed'] for r in rows] == [1, 2, 3, 1, 2]
    assert rows[2]['where'] == b + ' line 2'


def test_empty_logs_among_several_are_skipped_with_a_warning(tmp_path, capsys):
    good = write(tmp_path / 'good.csv', [HEADER, row()])
    empty = write(tmp_path / 'empty.csv', [])
    bare = write(tmp_path / 'bare.csv', [HEADER])
    assert len(read_log([empty, good, bare])) == 1
    assert capsys.readouterr().err == (
        'warning: %s has no data rows, skipped\nwarning: %s has no data rows, skipped\n'
        % (empty, bare))
    read_log(good)
    assert capsys.readouterr().err == ''


def error(paths, **kw):
    with pytest.raises(LogError) as e:
        read_log(paths, **kw)
    text = str(e.value)
    assert '\n' not in text, text
    return text


def test_no_rows_at_all(tmp_path, capsys):
    empty = write(tmp_path / 'empty.csv', [])
    bare = write(tmp_path / 'bare.csv', [HEADER])
    assert error(empty) == 'no data rows in %s' % empty
    assert error(bare) == 'no data rows in %s' % bare
    assert error([empty, bare]) == 'no data rows in %s, %s' % (empty, bare)
    capsys.readouterr()


def test_unreadable_files(tmp_path):
    missing = str(tmp_path / 'nope.csv')
    assert error(missing).startswith('cannot read %s: No such file' % missing)
    assert error(str(tmp_path)).startswith('cannot read %s: ' % tmp_path)   # a directory
    binary = tmp_path / 'bin.csv'
    binary.write_bytes(b'\xff\xfe\x00\x81' * 50)
    assert error(str(binary)).startswith('%s is not a CSV results log (' % binary)
    huge = write(tmp_path / 'huge.csv', [HEADER, row(settings='x' * 200_000)])
    assert error(huge).startswith('%s is not a CSV results log (field larger' % huge)
    # The first bad log stops the reading, even after good ones.
    good = write(tmp_path / 'good.csv', [HEADER, row()])
    assert error([good, missing]).startswith('cannot read %s' % missing)


def test_header_problems(tmp_path):
    headless = write(tmp_path / 'h.csv', [row(), row()])
    assert error(headless, ints=('seed',)) == '%s has no header line' % headless
    short = write(tmp_path / 'c.csv', [HEADER.replace(',overlap,', ','), row()])
    assert error(short, ints=('overlap',)) == '%s: no column overlap in the header' % short
    assert error(short, ints=('seed', 'overlap'), required=('control', 'L_M')) == (
        '%s: no column overlap, L_M in the header' % short)
    # Nothing asked for: any header will do.
    assert read_log(write(tmp_path / 'o.csv', ['a,b', '1,2'])) == [
        {'a': '1', 'b': '2', 'where': str(tmp_path / 'o.csv') + ' line 2'}]


def test_row_problems_name_the_file_and_line(tmp_path):
    log = str(tmp_path / 'r.csv')

    def bad(line, **kw):
        write(tmp_path / 'r.csv', [HEADER, row(seed=1), line])
        return error(log, **kw)
    assert bad(row(settings='--a=1,2')) == (
        '%s line 3: more fields than the header has columns' % log)
    assert bad(row().rsplit(',', 3)[0]) == (
        '%s line 3: fewer fields than the header has columns' % log)
    assert bad(row(g1='12x'), ints=('task1_generations',)) == (
        "%s line 3: task1_generations should be an integer, got '12x'" % log)
    assert bad(row(g1=''), ints=('task1_generations',)) == (
        "%s line 3: task1_generations should be an integer, got ''" % log)
    assert bad(row(acc1='high'), floats=('task1_test_accuracy',)) == (
        "%s line 3: task1_test_accuracy should be a number, got 'high'" % log)
