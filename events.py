"""The events a run writes for the batch that started it: one JSON object per
line, appended to the file named by $PATHNET_EVENTS. This module owns their
format; the driver writes them (report.py) and the batch reads them (batch/).

    {"event": "start" | "done" | "failed", "seed": S, "console": N, ...}

N is the byte position of the run's console (its stdout) when the event was
written, null if the console is not a file: the batch files each console
line under the right experiment without reading the text.
"""
import json
import os
import sys

# Each kind of event and the fields it must carry, besides the seed.
EVENTS = {'start': {}, 'failed': {'error': str},
          'done': {'task1_generations': int, 'task2_generations': int, 'overlap': int}}


def emit(event, seed, **fields):
    """One event, appended to the file named by $PATHNET_EVENTS (unset: nothing).
    The console is flushed first, so that its byte position sent along covers
    every line written before the event."""
    path = os.environ.get('PATHNET_EVENTS')
    if not path:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        console = os.lseek(sys.stdout.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError):   # a pipe or a terminal has no position
        console = None
    line = json.dumps(dict(event=event, seed=seed, console=console, **fields)) + '\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode('utf-8'))
    finally:
        os.close(fd)


def is_event(e):
    fields = EVENTS.get(e.get('event')) if isinstance(e, dict) else None
    return fields is not None and type(e.get('seed')) is int and \
        all(isinstance(e.get(k), t) for k, t in fields.items())


def parse(data):
    """The events in data, bytes of JSON lines: (events, rest, bad). rest is
    an unfinished last line (its writer may be mid-write: keep it for the
    next look); bad, the lines that are not events (a torn write, say)."""
    *lines, rest = data.split(b'\n')
    events, bad = [], []
    for line in filter(bytes.strip, lines):
        try:
            e = json.loads(line)
        except ValueError:      # not JSON, or not UTF-8
            e = None
        if is_event(e):
            events.append(e)
        else:
            bad.append(line)
    return events, rest, bad
