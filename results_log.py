"""The results log: binary_mnist_pathnet.py appends to it, the plot scripts read it.

One CSV row per experiment under a header of COLUMNS (its format: log_format.py). Many runs append to one
log at once, so a row is one locked write; a cluster job array may also write
one log per task, so read_log takes several (or a folder of them) and
concatenates them, and `merge` folds them into one:

    python results_log.py merge DEST SRC...
"""
import argparse
import contextlib
import csv
import fcntl
import io
import os
import sys
import tempfile
from collections import defaultdict

# The format, re-exported: the log's readers and writers import them from here.
from log_format import (COLUMNS, COLUMNS_V1, COLUMNS_V2, COLUMNS_V3,  # noqa: F401
                        COLUMNS_V4, COLUMNS_V5, CONTROLS, HEADERS, KEY, LEVELS,
                        RELEASE, VAL_LEVELS, VERSIONS, LogError, code_version,
                        curve_generations, curve_text, make_row, overlap, parse_curve,
                        parse_settings, path_modules, path_text)

# ---------------------------------------------------------------------------
# Writing.

class TaskResult:
    """One task of an experiment, as the driver's evolve() ends it."""

    def __init__(self, generations, converged, diverged, mask, fitness, reached,
                 val_accuracy, val_reached, curve):
        self.generations, self.converged, self.diverged = generations, converged, diverged
        self.mask, self.fitness, self.reached = mask, fitness, reached
        self.val_accuracy, self.val_reached, self.curve = val_accuracy, val_reached, curve


def check_writable(path, folder=False):
    """Fail before training, not after it, and create nothing: a failed or
    interrupted run leaves no empty file behind."""
    if path is None:
        return
    if os.path.exists(path):
        if os.path.isdir(path) != folder:
            raise OSError('cannot write %s: it is %s' % (
                path, 'a folder' if not folder else 'not a folder'))
        if not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
            raise OSError('cannot write %s: permission denied' % path)
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OSError('cannot write %s: %s is not a folder' % (path, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError('cannot write %s: %s is not writable' % (path, parent))


def header_of(f, path):
    """The columns of the log open (binary) as f: one of VERSIONS, or None if empty."""
    f.seek(0)
    first = f.readline(65536)
    if not first:
        return None
    try:
        line = first.decode('utf-8').rstrip('\r\n')
    except UnicodeDecodeError:
        raise LogError('%s is not a results log: it is not UTF-8 text' % path) from None
    if line not in HEADERS:
        raise LogError('%s is not a results log: its first line is not a results-log header '
                       '(%r)' % (path, line[:40] + ('...' if len(line) > 40 else '')))
    return HEADERS[line]


def check_log(path):
    """Refuse (LogError) a file at path that is not a results log this version can append
    to; a missing or empty file is fine. Returns its columns, or None."""
    try:
        with open(path, 'rb') as f:
            return header_of(f, path)
    except (FileNotFoundError, NotADirectoryError):   # nothing there: the writer says more
        return None
    except IsADirectoryError:
        raise LogError('%s is a directory, not a results log' % path) from None
    except OSError as e:
        raise LogError('cannot read %s: %s' % (path, e.strerror or e)) from None


@contextlib.contextmanager
def locked(path, upgrade=None):
    """path open for appending (binary) under an exclusive lock.

    A writer that replaces the log (upgrade) leaves the others waiting on the
    lock of the old file, so after locking, check that path is still the file
    we hold, else reopen. upgrade(f, path) returns True once it has replaced it."""
    while True:
        f = open(path, 'ab+')
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                now = os.stat(path)
            except FileNotFoundError:   # removed while we waited
                now = None
            held = os.fstat(f.fileno())
            if now and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) \
                    and not (upgrade and upgrade(f, path)):
                break
        except BaseException:
            f.close()
            raise
        f.close()   # drops the lock
    try:
        yield f
    finally:
        f.close()


def write_end(f, data):
    """Append data, starting on a line of its own: after a crash tore the last row, ours
    must not be glued to it (the torn row stays, and readers skip it). A write that
    fails (a full disk) is rolled back to the file's previous length, under the
    caller's lock, so it never leaves a fragment of its own."""
    fd = f.fileno()
    end = os.lseek(fd, 0, os.SEEK_END)
    if end and os.pread(fd, 1, end - 1) != b'\n':
        data = b'\n' + data
    try:
        # Unbuffered: a buffered file would retry the failed rest at close.
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, end)
            os.fsync(fd)
        except OSError as e:
            raise OSError(e.errno, '%s, and rolling back failed too: a fragment may be left '
                          'at its end' % (e.strerror or e)) from None
        raise


class AppendError(LogError):
    """An append that failed (e.g. a full disk) and was rolled back: the file is as it
    was; `unsaved` is the text that was not written, for the caller to show."""

    def __init__(self, path, error, unsaved):
        super().__init__('cannot write to %s: %s; the file is as it was'
                         % (path, getattr(error, 'strerror', None) or error))
        self.unsaved = unsaved


@contextlib.contextmanager
def rolled_back(path, unsaved):
    """A failed append becomes an AppendError; a log that did not exist before is not
    left behind empty."""
    existed = os.path.exists(path)
    try:
        yield
    except OSError as e:
        if not existed:
            with contextlib.suppress(OSError):
                if os.path.getsize(path) == 0:
                    os.unlink(path)
        raise AppendError(path, e, unsaved) from None


def append_locked(path, text, header=None):
    """One locked write: concurrent runs never interleave or lose a line. A failed
    write is rolled back (AppendError)."""
    with rolled_back(path, text), locked(path) as f:
        data = text.encode('utf-8')
        if header and os.lseek(f.fileno(), 0, os.SEEK_END) == 0:
            data = header.encode('utf-8') + data
        write_end(f, data)


def upgrade(f, path):
    """A log written under an older version is rewritten under COLUMNS (old rows get
    empty new fields; torn rows are copied as they are) into a new file that replaces it
    whole, so a crash leaves either the old log or the new one."""
    old = header_of(f, path)
    if old is None or old is COLUMNS:
        return False
    f.seek(0)
    try:
        records = list(csv.reader(io.StringIO(f.read().decode('utf-8'))))[1:]
    except (UnicodeDecodeError, csv.Error) as e:
        raise LogError('%s: cannot upgrade to the new columns (%s)' % (path, e)) from None
    pad = [''] * (len(COLUMNS) - len(old))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(COLUMNS)
    writer.writerows(r + pad if len(r) == len(old) else r for r in records)
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.%s.' % name, suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as t:
            t.write(out.getvalue().encode('utf-8'))
            t.flush()
            os.fchmod(t.fileno(), os.fstat(f.fileno()).st_mode & 0o7777)
            os.fsync(t.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def row_text(rows):
    missing = [c for c in COLUMNS if c not in rows[0]] if rows else []
    if missing:   # the driver's bug, not the user's: say which columns
        raise KeyError('results row lacks columns %s' % ', '.join(missing))
    out = io.StringIO()
    csv.writer(out, lineterminator='\n').writerows([r[c] for c in COLUMNS] for r in rows)
    return out.getvalue().encode('utf-8')


def append_row(path, row):
    """Append one experiment, a dict with every column of COLUMNS; the header comes first
    once. Refuses (LogError) a file that is not a results log; upgrades an older version's.
    A failed write is rolled back: AppendError, whose `unsaved` is the row as a CSV line."""
    data = row_text([row])
    check_log(path)   # before locking: a directory cannot be opened for appending
    with rolled_back(path, data.decode('utf-8')), locked(path, upgrade) as f:
        if header_of(f, path) is None:
            data = (','.join(COLUMNS) + '\n').encode('utf-8') + data
        write_end(f, data)


# ---------------------------------------------------------------------------
# Reading.

def log_files(paths):
    """The files named, a folder standing for its *.csv files in name order."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files = []
    for path in map(str, paths):
        if os.path.isdir(path):
            found = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith('.csv'))
            if not found:
                raise LogError('no *.csv logs in the folder %s' % path)
            files += found
        else:
            files.append(path)
    return files


def read_log(paths, ints=(), floats=(), required=()):
    """The rows of one log or several (files, or folders of *.csv), concatenated: dicts of
    the header's columns as stripped strings, those in ints as int and in floats as float,
    and 'where' ('<path> line <n>') for the caller's own complaints about a row. The
    columns in ints, floats and required must be in the header. A log of an older version
    gets '' in the newer columns. Torn rows and seeds run twice are warned about on stderr."""
    files = log_files(paths)
    rows = []
    for path in files:
        found = read_file(path, ints, floats, list(ints) + list(floats) + list(required))
        # A job still running (or dead) leaves an empty log: no reason to drop the others.
        if not found and len(files) > 1:
            print('warning: %s has no data rows, skipped' % path, file=sys.stderr)
        rows += found
    if not rows:
        raise LogError('no data rows in %s' % ', '.join(files))
    warn_duplicates(rows)
    return rows


def read_file(path, ints=(), floats=(), required=()):
    try:
        with open(path, newline='', encoding='utf-8') as f:
            return parse_rows(csv.reader(f), path, ints, floats, required)
    except OSError as e:
        raise LogError('cannot read %s: %s' % (path, e.strerror or e)) from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise LogError('%s is not a CSV results log (%s)' % (path, e)) from None


def done_seeds(paths, control, settings):
    """The seeds with a row of this condition in the logs (files or folders of
    them): the batches' resume rule. A missing or empty log has none; a file
    that is not a results log is refused."""
    done = set()
    for path in log_files([p for p in paths if os.path.exists(p) and not (
            os.path.isdir(p) and not any(n.endswith('.csv') for n in os.listdir(p)))]):
        if check_log(path) is not None:
            done |= {int(r['seed']) for r in read_file(path) if r['seed'].isdigit()
                     and r['control'] == control and r['settings'] == settings}
    return done


def parse_rows(reader, path, ints, floats, required):
    header = next(reader, None)
    if header is None:   # an empty file: the header comes with the first row
        return []
    missing = [c for c in required if c not in header]
    if missing and not set(COLUMNS) & set(header):   # the first line is data
        raise LogError('%s has no header line' % path)
    if missing:
        raise LogError('%s: no column %s in the header' % (path, ', '.join(missing)))
    newer = [c for c in COLUMNS if c not in header] if set(COLUMNS_V1) <= set(header) else []
    # An older version's row under a newer header (an append of that version after the
    # upgrade, or a merge) is one of the older lengths: padded, not torn.
    older = {len(v) for v in VERSIONS if v == header[:len(v)] and len(v) < len(header)}
    rows = []
    for record in reader:
        where = '%s line %d' % (path, reader.line_num)
        if not record:
            continue
        if len(record) in older:
            record += [''] * (len(header) - len(record))
        # A crash cut the row short, or an older version glued the next row to it.
        if len(record) != len(header):
            print('warning: %s: torn row (%d fields, expected %d), skipped'
                  % (where, len(record), len(header)), file=sys.stderr)
            continue
        row = dict(zip(header, (v.strip() for v in record)), **dict.fromkeys(newer, ''))
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


def key(row):
    return tuple(str(row[c]) for c in KEY)


def warn_duplicates(rows):
    """A seed logged twice under one condition is one experiment counted twice (a log
    given twice, a merge done twice, a rerun): say where, so it can be cleaned up."""
    seen = defaultdict(list)
    for r in rows:
        if all(c in r for c in KEY):
            seen[key(r)].append(r['where'])
    for (seed, control, settings), wheres in seen.items():
        if len(wheres) > 1:
            lines = defaultdict(list)
            for w in wheres:
                path, n = w.rsplit(' line ', 1)
                lines[path].append(n)
            print('warning: seed %s appears %d times under control=%s settings=%r (%s)' % (
                seed, len(wheres), control, settings, '; '.join(
                    '%s line%s %s' % (p, 's' * (len(ns) > 1), ', '.join(ns))
                    for p, ns in lines.items())), file=sys.stderr)


# ---------------------------------------------------------------------------
# Merging.

def merge(dest, sources):
    """Append to dest, in one locked write, every row of the sources whose (seed, control,
    settings) is neither in dest nor earlier in the sources. Returns (rows merged, source
    files, duplicates skipped)."""
    files = log_files(sources)
    rows = []
    for path in files:
        check_log(path)
        rows += read_file(path)
    check_log(dest)
    with rolled_back(dest, ''), locked(dest, upgrade) as f:
        empty = header_of(f, dest) is None
        f.seek(0)
        text = f.read().decode('utf-8')
        seen = {key(r) for r in parse_rows(csv.reader(io.StringIO(text)), dest, (), (), ())}
        new = []
        for r in rows:
            if key(r) not in seen:
                seen.add(key(r))
                new.append(dict(r, **{c: r.get(c, '') for c in COLUMNS}))
        if new:
            header = (','.join(COLUMNS) + '\n').encode('utf-8') if empty else b''
            write_end(f, header + row_text(new))
    return len(new), len(files), len(rows) - len(new)


class Parser(argparse.ArgumentParser):
    def error(self, message):   # one line and exit 1, like every other refusal here
        self.exit(1, 'error: %s\n' % message)


def main(argv=None):
    p = Parser(description=__doc__.split('\n\n')[0])
    commands = p.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True
    m = commands.add_parser('merge', help='append the rows of SRC... that DEST lacks to DEST')
    m.add_argument('dest', metavar='DEST', help='results log to append to (created if missing)')
    m.add_argument('sources', nargs='+', metavar='SRC', help='results logs, or folders of *.csv')
    try:
        args = p.parse_args(argv)
    except SystemExit as e:   # --help, or a usage error already printed
        return e.code
    try:
        merged, n_files, duplicates = merge(args.dest, args.sources)
    except LogError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except OSError as e:
        print('error: cannot write %s: %s' % (args.dest, e.strerror or e), file=sys.stderr)
        return 1
    print('merged %d rows from %d files into %s, %d duplicates skipped'
          % (merged, n_files, args.dest, duplicates))
    return 0


if __name__ == '__main__':
    sys.exit(main())

