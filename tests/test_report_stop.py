"""report.py (what a run tells: console lines, events) and stop.py (when a run
stops), in-process. The driver's whole console is checked end to end by
test_experiment.py; interrupts at random moments by test_faults.py."""
import argparse
import json
import os
import signal
import subprocess
import sys

import pytest

import report
import stop


def args(**kw):
    base = dict(seeds=[1], quiet=False, log_dir=None, control='pathnet')
    return argparse.Namespace(**dict(base, **kw))


def test_the_generation_line_and_quiet(capsys):
    report.Report(args()).generation(0, 7, (0.5, 0.75), 0.8, 1.25)
    report.Report(args(quiet=True)).generation(0, 8, (0.5, 0.75), 0.8, 1.25)
    assert capsys.readouterr().out == \
        'task 1  gen    7  fitness 0.5000 0.7500  best 0.8000     1.2s\n'


def test_task_1s_accuracy_says_what_it_means_under_scratch(capsys):
    for control in ('pathnet', 'scratch'):
        r = report.Report(args(control=control))
        r.accuracy(0, (5, 6), 0.5, before=0.9)
        r.accuracy(1, (6, 7), 0.95)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'task 1 test accuracy (5 vs 6, winning path): 0.5000 (0.9000 right ' \
                     'after task 1)'
    assert out[1] == out[3] == 'task 2 test accuracy (6 vs 7, winning path): 0.9500'
    assert out[2].startswith(out[0][:-1] + '; ') and 'scratch' in out[2] and \
        'overlap' in out[2]


def test_the_2017_line_and_the_done_event(tmp_path, monkeypatch, capsys):
    events = tmp_path / 'events.jsonl'
    monkeypatch.setenv('PATHNET_EVENTS', str(events))
    report.Report(args()).written(dict(seed=4, task1_generations=7, task2_generations=9,
                                       overlap=2))
    assert capsys.readouterr().out == 'Entire Iter:16,TASK1:7,TASK2:9,Overlap:2\n'
    e = json.loads(events.read_text())
    assert (e['event'], e['seed'], e['task1_generations'], e['task2_generations'],
            e['overlap']) == ('done', 4, 7, 9, 2)


def test_first_line_skips_tensorflows_generic_header():
    error = RuntimeError('Graph execution error:\n\n  Detected NaN in x\nmore')
    assert report.first_line(error) == 'Detected NaN in x'
    assert report.first_line(ValueError('')) == ''


def test_a_signal_is_recorded_and_checked_between_tournaments():
    s = stop.Stop()
    assert not s.requested()
    s.check()                               # nothing asked: no exception
    s._record(signal.SIGTERM, None)
    s._record(signal.SIGINT, None)          # the first request is the one kept
    assert s.requested() and s.signal == signal.SIGTERM
    with pytest.raises(stop.Interrupted):
        s.check()


def test_a_run_stops_when_its_batch_is_gone():
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()                             # reaped: its pid is free
    s = stop.Stop()
    s.watch(os.getpid())                    # this process lives
    assert not s.requested()
    s.watch(gone.pid)
    assert s.requested() and s.signal == signal.SIGTERM


def test_importing_stop_outside_the_driver_installs_no_handler():
    assert stop.STOP is None
    assert not isinstance(getattr(signal.getsignal(signal.SIGTERM), '__self__', None),
                          stop.Stop)
