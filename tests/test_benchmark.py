"""The benchmark's bookkeeping (bench/benchmark.py, the runner, and its
section modules bench/bench_*.py): how seeds are dealt out to processes, how
the rows of two batches are compared (the benchmark's agreement check), the
validation section's counts, and the report the runner assembles from the
sections' paragraphs."""
import csv
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'bench'))
import bench_common  # noqa: E402
import bench_experiments  # noqa: E402
import bench_per_generation  # noqa: E402
import bench_validation  # noqa: E402
import benchmark  # noqa: E402
from results_log import VAL_LEVELS  # noqa: E402


def test_deal_is_the_auto_scripts_round_robin():
    assert bench_common.deal(list(range(5)), 2) == [[0, 2, 4], [1, 3]]
    assert bench_common.deal([7], 2) == [[7]]              # no empty process


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
    assert bench_experiments.compare_rows({'a': a, 'b': b}) == (True, [])


def test_rows_differ(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ('a.csv', 'b.csv', 'c.csv'))
    write(a, [row(1), row(2)])
    write(b, [row(1), row(2, task1_path='1|3|4')])
    write(c, [row(1)])
    ok, problems = bench_experiments.compare_rows({'a': a, 'b': b, 'c': c})
    assert not ok
    assert any('seed 2' in p and 'task1_path' in p for p in problems)
    assert any('seeds' in p for p in problems)                   # c lacks seed 2


# -- the validation section -----------------------------------------------------

def test_the_validation_schedule_counts_evolves_evaluations():
    # test_validation's cases: every generation up to 4*val_every, then every
    # val_every while a level is unreached, the end once, and the curve's generations.
    assert bench_validation.validation_schedule(14, [6, 10, 14, ''], 2) == 11
    assert bench_validation.validation_schedule(30, [1, 1, 2, 2], 5) == 7      # 1, 2, 30; 3-20
    assert bench_validation.validation_schedule(3, ['', '', '', ''], 5) == 3   # solved at 3
    assert bench_validation.validation_schedule(100, [''] * 4, 0) == 8   # the end, the curve
    row = {'task1_generations': '14', 'task2_generations': '30'}
    for t, gens in ((1, ['6', '10', '14', '']), (2, ['1', '1', '2', '2'])):
        for level, g in zip(VAL_LEVELS, gens):
            row['task%d_val_gen_%.2f' % (t, level)] = g
    assert bench_validation.expected_validations(row, 2) == [11, 7]   # task 2: 1, 2, 30, curve


@pytest.mark.slow
def test_the_validation_child_counts_and_its_check_catches_test_evaluations(mnist_dir, tmp_path):
    """Two tiny experiments in the section's own child process: every count
    matches the schedule the rows imply; then the same numbers as a benchmark
    that took the two final test evaluations for held-out ones would report
    them, which the check must refuse."""
    import copy
    import json
    import subprocess
    results = str(tmp_path / 'v.csv')
    p = subprocess.run([sys.executable, benchmark.__file__, '--child', 'validation',
                        '--validation_seeds', '1000-1001',
                        '--validation_flags=--max_steps 12 --T 5 --candi 8 --val_every 2',
                        '--results', results], capture_output=True, text=True,
                       env=dict(os.environ, MNIST_DATA_DIR=mnist_dir))
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().split('\n')[-1])
    assert out['problems'] == [] and bench_validation.validation_problems(out) == []
    rows = {int(r['seed']): r for r in bench_common.read_rows(results)}
    assert [e['seed'] for e in out['experiments']] == [1000, 1001] == sorted(rows)
    for e in out['experiments']:
        row = rows[e['seed']]
        assert e['generations'] == [int(row['task1_generations']), int(row['task2_generations'])]
        assert e['val_per_task'] == bench_validation.expected_validations(row, 2)   # from the log
        assert e['val_evaluations'] == sum(e['val_per_task']) > 0
        assert e['test_evaluations'] == 3 and e['tournaments'] == sum(e['generations'])
        assert 0 < e['share'] < 1 and 0 < e['share_val_every_0'] < e['share']
    assert out['max_share'] < 1 and out['min_val_evaluations'] > 0

    broken = copy.deepcopy(out)
    for e in broken['experiments']:
        e['val_evaluations'] += e['test_evaluations']
        e['val_s'] += e['test_s']
        e['test_evaluations'], e['test_s'] = 0, 0.0
    problems = bench_validation.validation_problems(broken)
    assert len(problems) == 2 * len(out['experiments'])
    assert all('test evaluations' in p or 'the rows imply' in p for p in problems)


# -- the runner's report --------------------------------------------------------

BENCH = os.path.dirname(os.path.abspath(benchmark.__file__))


def published(name):
    """bench/NAME.json, the numbers of a published run, and its report."""
    with open(os.path.join(BENCH, name + '.json')) as f:
        out = json.load(f)
    with open(os.path.join(BENCH, name + '.txt')) as f:
        return out, f.read()


@pytest.mark.parametrize('name', ['results', 'validation', 'slots', 'kernels'])
def test_the_report_of_a_published_runs_numbers_is_its_published_text(name):
    """Every section's paragraph and the table, in the runner's order: the
    report rebuilt from a run's .json is that run's .txt, byte for byte."""
    out, text = published(name)
    assert benchmark.report(out, benchmark.parser().parse_args(out['argv'])) == text


def test_one_report_holds_every_section():
    """The validation paragraph's loop once overwrote the experiments section
    the table reads: every section in one report must not break it."""
    out, published_text = published('results')
    out['validation'] = published('validation')[0]['validation']
    out['sections'] = list(benchmark.SECTIONS)
    text = benchmark.report(out, benchmark.parser().parse_args(out['argv']))
    assert 'held-out validation' in text
    table = text[text.index('\n| | ms/generation'):]
    assert table == published_text[published_text.index('\n| | ms/generation'):]


def test_every_section_has_a_module_and_the_child_modes_exist():
    import bench_memory
    import bench_per_generation
    import bench_startup
    import bench_study_time
    import bench_tournament
    assert benchmark.SECTIONS == ('startup', 'per_generation', 'memory', 'experiments',
                                  'study_time', 'shared', 'plain', 'validation', 'slots',
                                  'kernels')
    for module in (bench_startup, bench_per_generation, bench_memory, bench_experiments,
                   bench_study_time, bench_validation):
        assert callable(module.section) and callable(module.report)
    for module in (bench_per_generation, bench_memory, bench_validation):
        assert callable(module.child)
    assert callable(bench_tournament.comparison)
    # Every implementation a comparison can start is named in the report.
    assert set(bench_per_generation.IMPLS) == set(bench_tournament.NAMES)
    assert bench_common.RUNNER == os.path.abspath(benchmark.__file__)
    assert bench_study_time.RELEASE == '27c9215'


@pytest.mark.slow
@pytest.mark.parametrize('impl', bench_per_generation.IMPLS)
def test_every_implementation_runs_the_drivers_loop_in_its_child(impl, mnist_dir):
    """The per_generation, shared and plain sections' instrument, end to end:
    each implementation plays the driver's generator loop (evolve, through
    lockstep's scheduler, with the held-out evaluation at each task's end) for
    exactly warmup + generations tournaments per task. The plain baseline once
    lacked what that loop calls (tournaments, evaluate) and no test ran it."""
    import subprocess
    p = subprocess.run([sys.executable, benchmark.__file__, '--child', 'compare', '--impl', impl,
                        '--generations', '2', '--warmup', '1', '--threads', '1'],
                       capture_output=True, text=True, env=dict(os.environ, MNIST_DATA_DIR=mnist_dir))
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().split('\n')[-1])
    for task in ('task1', 'task2'):
        assert out[task]['generations'] == 2 and len(out[task]['ms']) == 2
        assert all(ms > 0 for ms in out[task]['ms'])
    assert out['ops_after'] == out['ops_before']


def test_the_batched_probe_builds_its_wide_tournament():
    """bench/batched_probe.py, the one-off probe docs/speed.md quotes."""
    import batched_probe
    net = batched_probe.wide(4)
    assert net.geopath.shape.as_list() == [4, net.L, net.M]


def test_the_kernels_probe_times_layer_1_per_slot_and_batched():
    """bench_kernels.layer1 builds and runs both ways (a small number of rounds)."""
    import bench_kernels
    for batched in (False, True):
        assert bench_kernels.layer1(2, batched, rounds=1) > 0
