"""analysis/diagnose_transfer.py, in-process on a tiny network: one line per seed
with task 1's generations, the two probes of task 1's path and task 2's
evolution."""
import re

from analysis import diagnose_transfer

TINY = ['--T', '2', '--candi', '4', '--max_steps', '3', '--probe_cap', '2']


def test_one_line_per_seed_with_both_probes(mnist_dir, capsys):
    assert diagnose_transfer.main(TINY + ['--seeds', '3-4', '--data_dir', mnist_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('seed  task1  path1 fitness/val after 1 tournament, '
                               'generations to 0.998 (cap 2)')
    # seed, task-1 generations, new images | same images (fitness/val, generations or
    # >cap), candidates equal to path1 of those tried, >= 6 of its modules, task 2
    probe = r'(0|1)\.\d{3}/(0|1)\.\d{3}, (\d+|>2)'
    pattern = r'\s*(\d+)\s+(\d+)  %s \| %s   (\d+) of (\d+), (\d+), (\d+)( \(cap\))?' % (
        probe, probe)
    got = [re.fullmatch(pattern, l) for l in lines[1:]]
    assert all(got) and [int(m.group(1)) for m in got] == [3, 4], lines
    for m in got:
        task1, tried, task2 = int(m.group(2)), int(m.group(10)), int(m.group(12))
        assert 1 <= task1 <= 3 and 1 <= task2 <= 3
        assert tried == 2 * task2     # two candidates per tournament of task 2
