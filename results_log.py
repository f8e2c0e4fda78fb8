"""The results log: binary_mnist_pathnet.py appends to it, the plot scripts read it.

One CSV row per experiment under a header of COLUMNS. Many runs append to one
log at once, so a row is one locked write; a cluster job array may also write
one log per task, so read_log takes several and concatenates them.
"""
import csv
import fcntl
import io
import os
import sys

COLUMNS = ['timestamp', 'seed', 'control', 'task1', 'task2',
           'task1_generations', 'task2_generations', 'overlap',
           'task1_converged', 'task2_converged', 'task1_fitness', 'task2_fitness',
           'task1_test_accuracy', 'task2_test_accuracy', 'task1_path', 'task2_path',
           'L', 'M', 'N', 'seconds', 'settings']
COLUMNS = COLUMNS + ['task1_diverged', 'task2_diverged'] + ['task%d_gen_%s' % (t, x) for t in (1, 2) for x in ('0.95', '0.98', '0.99')]
def check_log(path):  # TEMP STUB
    pass


def append_locked(path, text, header=None):
    """One locked write: concurrent runs never interleave or lose a line."""
    with open(path, 'a', newline='') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            if header and f.seek(0, os.SEEK_END) == 0:
                text = header + text
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def append_row(path, row):
    """Append one experiment, a dict with every column; the header comes first once."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator='\n').writerow([row[c] for c in COLUMNS])
    append_locked(path, buf.getvalue(), header=','.join(COLUMNS) + '\n')


class LogError(Exception):
    """A log that cannot be used: one line naming the file (and line), never a traceback."""


def read_log(paths, ints=(), floats=(), required=()):
    """The rows of one log or several, concatenated: dicts of the header's columns as
    stripped strings, those in ints as int and in floats as float, and 'where'
    ('<path> line <n>') for the caller's own complaints about a row. The columns in
    ints, floats and required must be in the header."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    rows = []
    for path in paths:
        try:
            with open(path, newline='', encoding='utf-8') as f:
                found = parse_rows(csv.DictReader(f), path, ints, floats,
                                   list(ints) + list(floats) + list(required))
        except OSError as e:
            raise LogError('cannot read %s: %s' % (path, e.strerror or e)) from None
        except (UnicodeDecodeError, csv.Error) as e:
            raise LogError('%s is not a CSV results log (%s)' % (path, e)) from None
        # A job still running (or dead) leaves an empty log: no reason to drop the others.
        if not found and len(paths) > 1:
            print('warning: %s has no data rows, skipped' % path, file=sys.stderr)
        rows += found
    if not rows:
        raise LogError('no data rows in %s' % ', '.join(map(str, paths)))
    return rows


def parse_rows(reader, path, ints, floats, required):
    if reader.fieldnames is None:   # an empty file: the header comes with the first row
        return []
    missing = [c for c in required if c not in reader.fieldnames]
    if missing and not set(COLUMNS) & set(reader.fieldnames):   # the first line is data
        raise LogError('%s has no header line' % path)
    if missing:
        raise LogError('%s: no column %s in the header' % (path, ', '.join(missing)))
    rows = []
    for record in reader:
        where = '%s line %d' % (path, reader.line_num)
        # DictReader files surplus fields under None and fills missing ones with None.
        if None in record:   # most likely an unquoted comma: the columns are shifted
            raise LogError('%s: more fields than the header has columns' % where)
        if None in record.values():
            raise LogError('%s: fewer fields than the header has columns' % where)
        row = {c: v.strip() for c, v in record.items()}
        for columns, kind, what in ((ints, int, 'an integer'), (floats, float, 'a number')):
            for c in columns:
                try:
                    row[c] = kind(row[c])
                except ValueError:
                    raise LogError('%s: %s should be %s, got %r'
                                   % (where, c, what, row[c])) from None
        row['where'] = where
        rows.append(row)
    return rows


def done_seeds(path, control, settings):  # TEMP until the log-format work lands
    if not os.path.exists(path):
        return set()
    with open(path, newline='') as f:
        rows = csv.DictReader(f)
        if rows.fieldnames and not {'seed', 'control', 'settings'} <= set(rows.fieldnames):
            raise LogError('%s has no seed/control/settings columns' % path)
        return {int(r['seed']) for r in rows if (r['seed'] or '').isdigit()
                and r['control'] == control and r['settings'] == settings}
