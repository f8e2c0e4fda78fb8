import os
import stat
import sys
import threading

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import results_log  # noqa: E402
from results_log import COLUMNS, COLUMNS_V1, LogError, check_log, read_log  # noqa: E402

HEADER = ','.join(COLUMNS)
HEADER_V1 = ','.join(COLUMNS_V1)
# The columns after COLUMNS_V1: task 2 never reached 0.95; the code and build; the
# held-out levels; task 1's test accuracy before task 2 and the two curves.
NEW = (',0,0,3,17,40,,,,0123456789ab,2.21.0,2.4.6,0.9300,0.9700,5,10,,,3,4,6,9'
       ',0.9350,1:0.6000 2:0.8100 3:0.8700 5:0.9000,1:0.7000 2:0.9000')


def row(seed=1, control='pathnet', g1=121, acc1='0.9303', settings='', v1=False):
    return ('2026-11-27T08:50:01Z,%d,%s,5v6,6v7,%s,127,3,1,1,0.9988,0.9988,%s,0.9733,'
            '1-8-9|4-5-6|0-1-4,0-2-7|5-6-8|0-6,3,10,3,14.2,%s%s'
            % (seed, control, g1, acc1, settings, '' if v1 else NEW))


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
    assert error(str(tmp_path)) == 'no *.csv logs in the folder %s' % tmp_path
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
    assert bad(row(g1='12x'), ints=('task1_generations',)) == (
        "%s line 3: task1_generations should be an integer, got '12x'" % log)
    assert bad(row(g1=''), ints=('task1_generations',)) == (
        "%s line 3: task1_generations should be an integer, got ''" % log)
    assert bad(row(acc1='high'), floats=('task1_test_accuracy',)) == (
        "%s line 3: task1_test_accuracy should be a number, got 'high'" % log)


def test_new_columns_come_after_the_old_ones():
    assert COLUMNS[:len(COLUMNS_V1)] == COLUMNS_V1 and len(COLUMNS_V1) == 21
    assert COLUMNS[21:] == ['task1_diverged', 'task2_diverged',
                            'task1_gen_0.95', 'task1_gen_0.98', 'task1_gen_0.99',
                            'task2_gen_0.95', 'task2_gen_0.98', 'task2_gen_0.99',
                            'code_version', 'tensorflow', 'numpy',
                            'task1_val_accuracy', 'task2_val_accuracy',
                            'task1_val_gen_0.85', 'task1_val_gen_0.90', 'task1_val_gen_0.93',
                            'task1_val_gen_0.95', 'task2_val_gen_0.85', 'task2_val_gen_0.90',
                            'task2_val_gen_0.93', 'task2_val_gen_0.95',
                            'task1_test_accuracy_before', 'task1_val_curve', 'task2_val_curve']
    assert results_log.COLUMNS_V5 is COLUMNS and results_log.VERSIONS[-2] == COLUMNS[:-3]


def test_torn_rows_are_skipped_with_a_warning(tmp_path, capsys):
    glued = row(seed=3).rsplit(',', 3)[0] + row(seed=4)   # a row cut short, the next on its line
    cut = row(seed=2)[:60]                                   # the last line, cut short
    log = str(tmp_path / 'r.csv')
    (tmp_path / 'r.csv').write_text('\n'.join([HEADER, row(seed=1), glued, row(seed=5), cut]))
    assert [r['seed'] for r in read_log(log, ints=('seed',))] == [1, 5]
    assert capsys.readouterr().err == (
        'warning: %s line 3: torn row (86 fields, expected 45), skipped\n'
        'warning: %s line 5: torn row (12 fields, expected 45), skipped\n' % (log, log))


def test_v1_logs_and_rows_read_with_empty_new_columns(tmp_path, capsys):
    old = write(tmp_path / 'v1.csv', [HEADER_V1, row(seed=1, v1=True)])
    mixed = write(tmp_path / 'v2.csv', [HEADER, row(seed=2), row(seed=3, v1=True)])
    rows = read_log([old, mixed], ints=('seed',))
    assert [r['seed'] for r in rows] == [1, 2, 3]
    assert all(set(r) == set(COLUMNS) | {'where'} for r in rows)
    assert [r['task1_gen_0.99'] for r in rows] == ['', '40', '']
    assert [r['task2_diverged'] for r in rows] == ['', '0', '']
    assert capsys.readouterr().err == ''


def test_a_folder_is_its_csv_files_in_name_order(tmp_path):
    (tmp_path / 'jobs').mkdir()
    write(tmp_path / 'jobs' / 'log-2.csv', [HEADER, row(seed=2)])
    write(tmp_path / 'jobs' / 'log-1.csv', [HEADER, row(seed=1)])
    write(tmp_path / 'jobs' / 'notes.txt', ['not a log'])
    rows = read_log(str(tmp_path / 'jobs'), ints=('seed',))
    assert [r['seed'] for r in rows] == [1, 2]
    assert rows[0]['where'] == str(tmp_path / 'jobs' / 'log-1.csv') + ' line 2'


def test_a_seed_twice_in_one_condition_is_warned_about(tmp_path, capsys):
    a = write(tmp_path / 'a.csv', [HEADER, row(seed=1), row(seed=2), row(seed=1),
                                   row(seed=1, control='scratch'), row(seed=2, settings='--T=2')])
    b = write(tmp_path / 'b.csv', [HEADER, row(seed=2)])
    assert len(read_log([a, b])) == 6
    assert capsys.readouterr().err == (
        "warning: seed 1 appears 2 times under control=pathnet settings='' (%s lines 2, 4)\n"
        "warning: seed 2 appears 2 times under control=pathnet settings='' (%s line 3; "
        "%s line 2)\n" % (a, a, b))


# ---------------------------------------------------------------------------
# Writing.

def full_row(seed=1, **kw):
    return dict({c: '' for c in COLUMNS}, seed=seed, control='pathnet', **kw)


def data_lines(path):
    return open(path).read().split('\n')[1:]


def test_check_log_refuses_what_is_not_a_results_log(tmp_path):
    assert check_log(str(tmp_path / 'missing.csv')) is None
    assert check_log(write(tmp_path / 'empty.csv', [])) is None
    assert check_log(write(tmp_path / 'v1.csv', [HEADER_V1, row(v1=True)])) == COLUMNS_V1
    assert check_log(write(tmp_path / 'v2.csv', [HEADER])) == COLUMNS
    binary = tmp_path / 'b.csv'
    binary.write_bytes(b'\x89PNG\r\n\x1a\n\xff\xfe')
    cases = {write(tmp_path / 'o.csv', ['a,b', '1,2']): "its first line is not a results-log "
             "header ('a,b')",
             write(tmp_path / 'h.csv', [row()]): "its first line is not a results-log header "
             "('2026-11-27T08:50:01Z,1,pathnet,5v6,6v7,1...')",
             write(tmp_path / 'x.csv', [HEADER + ',extra']): 'its first line is not',
             str(binary): 'it is not UTF-8 text',
             str(tmp_path): 'is a directory, not a results log'}
    for path, what in cases.items():
        with pytest.raises(LogError) as e:
            check_log(path)
        assert str(e.value).startswith(path + ' ') and what in str(e.value), str(e.value)
        assert '\n' not in str(e.value)
        before = open(path, 'rb').read() if os.path.isfile(path) else None
        with pytest.raises(LogError):
            results_log.append_row(path, full_row())
        assert before is None or open(path, 'rb').read() == before


def test_append_after_a_torn_row_starts_a_new_line(tmp_path, capsys):
    log = str(tmp_path / 'log.csv')
    results_log.append_row(log, full_row(1))
    with open(log, 'a') as f:
        f.write('2026-11-27T08:50:01Z,2,path')   # a crash in the middle of a row
    results_log.append_row(log, full_row(3))
    assert data_lines(log) == [',1,pathnet' + ',' * 42, '2026-11-27T08:50:01Z,2,path',
                               ',3,pathnet' + ',' * 42, '']
    assert [r['seed'] for r in read_log(log)] == ['1', '3']
    assert 'line 3: torn row (3 fields, expected 45), skipped' in capsys.readouterr().err


def test_append_to_a_v1_log_upgrades_it_in_place(tmp_path, capsys):
    log = write(tmp_path / 'log.csv', [HEADER_V1, row(seed=1, v1=True), 'torn,row',
                                       row(seed=2, v1=True, settings='"--a=1,2"')])
    os.chmod(log, 0o640)
    results_log.append_row(log, full_row(3, task1_diverged=1))
    lines = open(log).read().split('\n')
    assert lines[0] == HEADER
    assert lines[1] == row(seed=1, v1=True) + ',' * 24
    assert lines[2] == 'torn,row'                                    # kept as it was
    assert lines[3] == row(seed=2, v1=True, settings='"--a=1,2"') + ',' * 24
    assert lines[4] == ',3,pathnet' + ',' * 19 + '1' + ',' * 23 and lines[5:] == ['']
    assert os.listdir(tmp_path) == ['log.csv']                       # no temporary file left
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
    assert [r['settings'] for r in read_log(log)] == ['', '--a=1,2', '']
    capsys.readouterr()


def test_a_writer_waiting_on_a_replaced_log_reopens_it(tmp_path, monkeypatch):
    # Process A holds the lock of a v1 log and upgrades it (a new file) and appends to the
    # new file; B opened the old file and waits on its lock. B must append to the new file,
    # not upgrade the old content again over A's row.
    log = write(tmp_path / 'log.csv', [HEADER_V1, row(seed=1, v1=True)])
    real_flock, opened = results_log.fcntl.flock, threading.Event()

    def flock(f, op):
        if threading.current_thread() is not threading.main_thread():
            opened.set()   # B has the old file open: from here on it may block on its lock
        return real_flock(f, op)
    monkeypatch.setattr(results_log.fcntl, 'flock', flock)
    with open(log, 'ab+') as a:
        real_flock(a, results_log.fcntl.LOCK_EX)
        b = threading.Thread(target=results_log.append_row, args=(log, full_row(3)))
        b.start()
        assert opened.wait(60)
        assert results_log.upgrade(a, log)
        results_log.append_row(log, full_row(2))
    b.join(60)
    assert [r['seed'] for r in read_log(log)] == ['1', '2', '3']


def test_merge(tmp_path, capsys):
    dest = str(tmp_path / 'all.csv')
    (tmp_path / 'jobs').mkdir()
    write(tmp_path / 'jobs' / 'a.csv', [HEADER, row(seed=1), row(seed=2), row(seed=1)])
    write(tmp_path / 'jobs' / 'b.csv', [HEADER, row(seed=2), row(seed=2, control='scratch')])
    old = write(tmp_path / 'old.csv', [HEADER_V1, row(seed=3, v1=True), row(seed=1, v1=True)])
    write(tmp_path / 'all.csv', [HEADER, row(seed=3)])
    argv = ['merge', dest, str(tmp_path / 'jobs'), old]
    assert results_log.main(argv) == 0
    assert capsys.readouterr().out == (
        'merged 3 rows from 3 files into %s, 4 duplicates skipped\n' % dest)
    rows = read_log(dest)
    assert [(r['seed'], r['control']) for r in rows] == [
        ('3', 'pathnet'), ('1', 'pathnet'), ('2', 'pathnet'), ('2', 'scratch')]
    assert rows[1]['task1_gen_0.99'] == '40'
    assert results_log.main(argv) == 0                                 # nothing new
    assert 'merged 0 rows from 3 files into %s, 7 duplicates skipped' % dest \
        in capsys.readouterr().out
    assert results_log.main(['merge', str(tmp_path / 'new.csv'), old]) == 0   # a new log
    assert [r['seed'] for r in read_log(str(tmp_path / 'new.csv'))] == ['3', '1']
    assert open(tmp_path / 'new.csv').readline().strip() == HEADER
    capsys.readouterr()


def test_merge_refuses_with_one_line(tmp_path, capsys):
    dest = write(tmp_path / 'all.csv', [HEADER, row(seed=3)])
    before = open(dest).read()
    good = write(tmp_path / 'good.csv', [HEADER, row(seed=1)])
    foreign = write(tmp_path / 'f.csv', ['a,b', '1,2'])
    for argv, what in ((['merge', dest, good, foreign], foreign + ' is not a results log'),
                       (['merge', foreign, good], foreign + ' is not a results log'),
                       (['merge', dest, str(tmp_path / 'nope.csv')], 'cannot read'),
                       (['merge', str(tmp_path / 'no' / 'x.csv'), good], 'cannot write'),
                       (['merge', dest], 'error: the following arguments are required')):
        assert results_log.main(argv) == 1
        out, err = capsys.readouterr()
        assert out == '' and err.startswith('error: ') and err.count('\n') == 1, err
        assert what in err, err
    assert open(dest).read() == before


def test_parse_settings_reads_the_settings_column():
    parse = results_log.parse_settings
    assert parse('') == {} and parse('   ') == {}
    assert parse('--T=20 --learning_rate=0.01') == {'T': '20', 'learning_rate': '0.01'}
    assert parse(' --max_steps=500 ') == {'max_steps': '500'}
    # A value may hold '=' or spaces (only a word starting with -- starts a flag).
    assert parse('--a=b=c --name=two words --x=') == {'a': 'b=c', 'name': 'two words', 'x': ''}


@pytest.mark.parametrize('text', ['T=20', 'abc=1', '--T', '--=3', '--a=1 --a=2', 'x --T=1'])
def test_parse_settings_refuses_what_is_not_flags(text):
    with pytest.raises(LogError) as e:
        results_log.parse_settings(text)
    assert str(e.value).startswith('cannot read the settings %r' % text)


def test_append_to_a_v4_log_gives_its_rows_empty_v5_columns(tmp_path):
    """The last upgrade: a log of the held-out version, before the curves."""
    v4 = results_log.COLUMNS_V4
    old = ','.join(['2026-11-27T08:50:01Z', '1', 'pathnet'] + ['7'] * (len(v4) - 3))
    log = write(tmp_path / 'v4.csv', [','.join(v4), old])
    results_log.append_row(log, full_row(2, task1_val_curve='1:0.5000'))
    lines = open(log).read().split('\n')
    assert lines[:2] == [HEADER, old + ',,,'] and lines[3:] == ['']
    rows = read_log(log)
    assert [(r['task1_test_accuracy_before'], r['task1_val_curve']) for r in rows] == [
        ('', ''), ('', '1:0.5000')]
    # and a V4 row appended under a V5 header (a merge, an older writer) is padded
    (tmp_path / 'v4.csv').write_text(open(log).read() + old + '\n')
    assert [r['task2_val_curve'] for r in read_log(log)] == ['', '', '']


def test_curve_generations_is_1_2_3_5_then_the_1_2_5_series():
    assert results_log.curve_generations(1000) == [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert results_log.curve_generations(999)[-1] == 500
    assert results_log.curve_generations(4) == [1, 2, 3]
    assert results_log.curve_generations(0) == []
    assert results_log.curve_generations(20000)[-4:] == [2000, 5000, 10000, 20000]


def test_curve_text_and_parse_curve_round_trip():
    curve = {5: 0.93, 1: 0.8112, 2: 0.88, 3: 0.9}
    text = results_log.curve_text(curve)
    assert text == '1:0.8112 2:0.8800 3:0.9000 5:0.9300'
    assert results_log.parse_curve(text) == {1: 0.8112, 2: 0.88, 3: 0.9, 5: 0.93}
    assert list(results_log.parse_curve(text)) == [1, 2, 3, 5]
    assert results_log.parse_curve('') == {} and results_log.curve_text({}) == ''


@pytest.mark.parametrize('text', ['1:0.5 1:0.6', '2:0.5 1:0.6', '1=0.5', 'a:0.5', '1:high',
                                  '-1:0.5', '1:0.5,2:0.6'])
def test_parse_curve_refuses_what_curve_text_cannot_write(text):
    with pytest.raises(LogError) as e:
        results_log.parse_curve(text)
    assert str(e.value).startswith('cannot read the curve %r' % text)
