"""The batch package (cli, common, local, slurm) and events.py (the driver's events), in-process: dealing the
seeds, reading events (whole, cut short, garbled), filing each console byte
under its experiment, claims of seeds, the driver's flags as the runs read
them. The batch as a program is tested by test_auto.py, test_faults.py and
test_slurm_array.py."""
import fcntl
import json
import os
import subprocess
import sys

import pytest

import events as event_format
from batch import cli, common, local
import binary_mnist_pathnet as driver
from conftest import ROOT


def test_deal_is_round_robin_without_empty_processes():
    assert local.deal([3, 4, 5, 6, 7], 2) == [[3, 5, 7], [4, 6]]
    assert local.deal([9], 4) == [[9]]


def line(**event):
    return (json.dumps(event) + '\n').encode()


DONE = dict(event='done', seed=4, console=10, task1_generations=7, task2_generations=9,
            overlap=2)


def test_parse_events_keeps_an_unfinished_last_line_for_later():
    data = line(event='start', seed=4, console=0) + line(**DONE)
    events, rest, bad = event_format.parse(data[:-9])      # the writer is mid-line
    assert [e['event'] for e in events] == ['start'] and bad == []
    assert rest == data[len(line(event='start', seed=4, console=0)):-9]
    events, rest, bad = event_format.parse(rest + data[-9:])
    assert events == [DONE] and rest == b'' and bad == []


@pytest.mark.parametrize('garbled', [
    b'{"event": "done", "seed": 4, "cons\n',                   # torn, then the next line
    b'\xff\xfe not UTF-8\n',
    line(event='done', seed=4, console=0, task1_generations=7, overlap=2),   # a field missing
    line(event='done', seed='4', console=0, task1_generations=7, task2_generations=9,
         overlap=2),                                           # the seed is not a number
    line(event='finished', seed=4),                            # no such event
    b'[1, 2]\n'])
def test_parse_events_sets_aside_what_is_not_an_event(garbled):
    events, rest, bad = event_format.parse(garbled + line(**DONE))
    assert events == [DONE] and rest == b'' and bad == [garbled.rstrip(b'\n')]


def test_the_2017_line_and_the_failed_line(capsys):
    tally = common.Tally(base=3, results='log.csv', todo=[3, 4, 5], skipped=0)
    tally.done(4, DONE)
    tally.fail(5, 'RuntimeError: boom', 'runs/pathnet-seed5.log')
    out, err = capsys.readouterr()
    assert out == '1 Iteration, Entire Iter:16,TASK1:7,TASK2:9,Overlap:2\n'
    assert err == 'FAILED run 2, seed 5: RuntimeError: boom [runs/pathnet-seed5.log]\n'
    assert (tally.ok, tally.failed) == (1, 1)


@pytest.fixture
def one_run(tmp_path):
    """A Run without a process: the test writes its console and events."""
    run = local.Run([1, 2], str(tmp_path / 'batch-0'), str(tmp_path), 'pathnet')
    yield run, tmp_path
    run.close()


def test_console_bytes_go_to_the_experiment_of_their_position(one_run, capsys):
    """Seed 2's first lines are written before the batch reads its start
    event: they go to seed 2's log by the event's position, not to seed 1's."""
    run, tmp = one_run
    console = b'ready\nexperiment 1 of 2: seed 1\nEntire Iter:16\n'
    with open(run.files[0], 'ab') as f:
        f.write(console + b'experiment 2 of 2: seed 2\ntask 1  gen    1\n')
    with open(run.files[1], 'ab') as f:
        f.write(line(event='start', seed=1, console=6) +
                line(**dict(DONE, seed=1, console=len(console))) +
                line(event='start', seed=2, console=len(console)))
    tally = common.Tally(0, 'log.csv', [1, 2], 0)
    run.pump(tally, 1)
    assert (tmp / 'pathnet-seed1.log').read_bytes() == console
    assert (tmp / 'pathnet-seed2.log').read_bytes() == \
        b'experiment 2 of 2: seed 2\ntask 1  gen    1\n'
    assert tally.ok == 1 and run.pending == {2} and run.on == 2
    assert capsys.readouterr().out.startswith('1 Iteration, Entire Iter:16,')


def test_an_event_cut_short_is_reported_once_it_is_whole(one_run, capsys):
    run, tmp = one_run
    done = line(**dict(DONE, seed=1, console=0))
    with open(run.files[1], 'ab') as f:
        f.write(done[:20])
    tally = common.Tally(0, 'log.csv', [1, 2], 0)
    run.pump(tally, 1)
    assert tally.ok == 0 and capsys.readouterr().err == ''
    with open(run.files[1], 'ab') as f:
        f.write(done[20:])
    run.pump(tally, 1)
    run.pump(tally, 1)
    assert tally.ok == 1 and run.pending == {2}


def test_a_run_that_ended_fails_the_seeds_it_did_not_report(tmp_path, capsys):
    """Killed in seed 2, its second: seed 1 stands, 2 and 3 failed, with the
    last line of seed 2's log; a last event cut short is warned about."""
    run = local.Run([1, 2, 3], str(tmp_path / 'batch-0'), str(tmp_path), 'pathnet')
    first = b'ready\nEntire Iter:16\n'
    with open(run.files[0], 'ab') as f:
        f.write(first + b'experiment 2 of 3: seed 2\nerror: out of memory\n\n')
    with open(run.files[1], 'ab') as f:
        f.write(line(event='start', seed=1, console=6) +
                line(**dict(DONE, seed=1, console=len(first))) +
                line(event='start', seed=2, console=len(first)) + b'{"event": "do')
    tally = common.Tally(0, 'log.csv', [1, 2, 3], 0)
    run.pump(tally, 1)
    run.ended(-9, tally, 0)
    run.close()
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('warning: %s: not an event' % run.files[1])
    log2 = tmp_path / 'pathnet-seed2.log'
    assert err[1] == 'FAILED run 2, seed 2: its process was killed by SIGKILL: error: out of ' \
                     'memory [%s]' % log2
    assert err[2] == 'FAILED run 3, seed 3: not run: its process was killed by SIGKILL ' \
                     'during seed 2: error: out of memory [%s]' % log2
    assert (tally.ok, tally.failed) == (1, 2)
    assert sorted(os.listdir(tmp_path)) == ['pathnet-seed1.log', 'pathnet-seed2.log']


def test_a_live_claim_of_the_same_condition_refuses_its_seeds(tmp_path):
    log = str(tmp_path / 'log.csv')
    other = log + '.batch.1'
    with open(other, 'w') as f:
        f.write('pathnet --T=2\n5 6 7\n')
    holder = open(other)          # another batch's run, alive
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(common.Exit, match='seed 7 of this condition is being run by another '
                                             'batch'):
            local.claim(log, 'pathnet --T=2', [0, 7, 8])
        for condition, todo in (('scratch --T=2', [7]), ('pathnet --T=2', [8, 9])):
            fd, mine = local.claim(log, condition, todo)
            assert open(mine).read() == '%s\n%s\n' % (condition, ' '.join(map(str, todo)))
            os.close(fd)
            os.unlink(mine)
    finally:
        holder.close()
    # Its runs are gone: the stale claim is removed, the seeds are free.
    fd, mine = local.claim(log, 'pathnet --T=2', [7])
    os.close(fd)
    assert sorted(os.listdir(tmp_path)) == ['log.csv.batch.%d' % os.getpid(), 'log.csv.lock']


def test_flags_are_read_by_the_drivers_parser():
    args = cli.read_flags(['--res', 'x.csv', '--control=scratch', '--T', '3', '--T', '4'])
    assert (args.results, args.control, driver.settings(args)) == \
        ('x.csv', 'scratch', '--T=4')
    with pytest.raises(common.Exit, match='must not set --seed'):
        cli.read_flags(['--seed', '3'])


def test_emit_appends_one_line_per_event_with_the_console_position(tmp_path):
    """The console is flushed first, so the position counts every byte before
    the event, stdout's and stderr's; no PATHNET_EVENTS, no events."""
    events = tmp_path / 'events.jsonl'
    code = ('import sys, events as d\n'
            'print("abc"); print("de", file=sys.stderr)\n'
            'd.emit("start", 3)\n'
            'sys.stdout.write("fgh")\n'
            'd.emit("failed", 3, error="ValueError: x")\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ('PATHNET_EVENTS', 'PYTHONUNBUFFERED')}
    with open(tmp_path / 'console', 'wb') as out:     # a file: stdout is block-buffered
        subprocess.run([sys.executable, '-c', code], stdout=out, stderr=subprocess.STDOUT,
                       cwd=ROOT, env=dict(env, PATHNET_EVENTS=str(events)), check=True)
    assert (tmp_path / 'console').read_bytes() == b'de\nabc\nfgh'   # stderr goes at once
    assert event_format.parse(events.read_bytes()) == ([
        dict(event='start', seed=3, console=7),
        dict(event='failed', seed=3, console=10, error='ValueError: x')], b'', [])
    subprocess.run([sys.executable, '-c', code], stdout=subprocess.DEVNULL, cwd=ROOT, env=env,
                   check=True)
    assert len(events.read_bytes().splitlines()) == 2


def test_slurm_report_per_seed_from_each_tasks_events(tmp_path, capsys):
    """Task 0 did its seeds; task 1 failed one and died in the next; task 2
    was cancelled before it ran (no output, no events)."""
    from batch import slurm
    (tmp_path / 'events-7_0.jsonl').write_bytes(
        line(**dict(DONE, seed=0)) + line(**dict(DONE, seed=1)))
    (tmp_path / 'events-7_1.jsonl').write_bytes(
        line(event='start', seed=2, console=None) +
        line(event='failed', seed=2, console=None, error='ValueError: x') +
        line(event='start', seed=3, console=None))
    (tmp_path / 'slurm-7_1.out').write_text('error: seed 2 failed: ValueError: x\nslurmstepd: '
                                           'error: *** JOB 9 CANCELLED DUE TO TIME LIMIT ***\n')
    tally = common.Tally(0, 'log.csv', list(range(6)), 0)
    slurm.report('7', [[0, 1], [2, 3], [4, 5]], str(tmp_path), tally)
    out, err = capsys.readouterr()
    assert [l.split(',')[0] for l in out.splitlines()] == ['0 Iteration', '1 Iteration']
    out1, out2 = tmp_path / 'slurm-7_1.out', tmp_path / 'slurm-7_2.out'
    assert err.splitlines() == [
        'FAILED run 2, seed 2: ValueError: x [%s]' % out1,
        'FAILED run 3, seed 3: its task ended during it: slurmstepd: error: *** JOB 9 '
        'CANCELLED DUE TO TIME LIMIT *** [%s]' % out1,
        'FAILED run 4, seed 4: not run: its task ended: no output [%s]' % out2,
        'FAILED run 5, seed 5: not run: its task ended: no output [%s]' % out2]
    assert (tally.ok, tally.failed) == (2, 4)


def test_run_in_process_returns_the_status_and_restores_the_handlers(tmp_path, capsys,
                                                                    monkeypatch):
    """What a study script does: batches in a loop, in its own process."""
    import csv
    import signal
    from results_log import COLUMNS
    log = tmp_path / 'log.csv'
    with open(log, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(COLUMNS)
        for seed in (5, 6):
            w.writerow([dict(seed=seed, control='pathnet', settings='--T=2').get(c, '1')
                        for c in COLUMNS])
    before = [signal.getsignal(s) for s in common.Signals.KINDS]
    assert cli.run(2, 2, ['--results', str(log), '--T', '2'], seed_base=5) == 0
    assert capsys.readouterr().out.startswith('0 run(s) to do, 2 skipped (already in %s)' % log)
    assert cli.run(2, 2, ['--results', str(log), '--T', '2', '--seed', '1']) == 2
    assert capsys.readouterr().err == 'error: FLAGS must not set --seed: run i gets SEED_BASE+i\n'
    assert cli.run(1, 1, ['--results', str(log)], scheduler='pbs') == 2
    monkeypatch.setenv('PATH', str(tmp_path))          # no sbatch: refused while handling signals
    assert cli.run(1, 1, ['--results', str(log)], scheduler='slurm') == 2
    assert 'sbatch not found' in capsys.readouterr().err
    assert [signal.getsignal(s) for s in common.Signals.KINDS] == before


def test_the_last_progress_line_counts_only_the_processes_still_alive(tmp_path, capsys,
                                                                      monkeypatch):
    """A process that has ended by the time its last events are read is not
    'running': after the last experiment the count is 0, not 1."""
    class Ended:        # a run that wrote its events and exited before the batch looked
        def __init__(self, argv, **kw):
            seeds = argv[argv.index('--seeds') + 1].split(',')
            with open(kw['env']['PATHNET_EVENTS'], 'ab') as f:
                for s in map(int, seeds):
                    f.write(line(event='start', seed=s, console=None) +
                            line(**dict(DONE, seed=s, console=None)))

        def poll(self):
            return 0
    monkeypatch.setattr(local.subprocess, 'Popen', Ended)
    log = str(tmp_path / 'log.csv')
    assert cli.run(2, 1, ['--results', log]) == 0
    progress = [l for l in capsys.readouterr().out.splitlines() if l.startswith('[')]
    assert progress == ['[1/2] 1 done, 0 failed, 0 process(es) running, 0:00:00 left',
                        '[2/2] 2 done, 0 failed, 0 process(es) running, 0:00:00 left']
