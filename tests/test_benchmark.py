"""bench/benchmark.py's bookkeeping: how seeds are dealt out to processes and
how the rows of two batches are compared (the benchmark's agreement check)."""
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'bench'))
import benchmark  # noqa: E402


def test_deal_is_the_auto_scripts_round_robin():
    assert benchmark.deal(list(range(5)), 2) == [[0, 2, 4], [1, 3]]
    assert benchmark.deal([7], 2) == [[7]]              # no empty process


def write(path, rows):
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def row(seed, **kw):
    r = {'timestamp': 't%d' % seed, 'seed': str(seed), 'task1_generations': '10',
         'task1_path': '1-2|3|4', 'seconds': '1.0'}
    r.update(kw)
    return r


def test_rows_agree_but_for_timing(tmp_path):
    a, b = str(tmp_path / 'a.csv'), str(tmp_path / 'b.csv')
    write(a, [row(1), row(2)])
    write(b, [row(2, timestamp='x', seconds='9.9'), row(1, seconds='3.0')])   # any order
    assert benchmark.compare_rows({'a': a, 'b': b}) == (True, [])


def test_rows_differ(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ('a.csv', 'b.csv', 'c.csv'))
    write(a, [row(1), row(2)])
    write(b, [row(1), row(2, task1_path='1|3|4')])
    write(c, [row(1)])
    ok, problems = benchmark.compare_rows({'a': a, 'b': b, 'c': c})
    assert not ok
    assert any('seed 2' in p and 'task1_path' in p for p in problems)
    assert any('seeds' in p for p in problems)                   # c lacks seed 2
