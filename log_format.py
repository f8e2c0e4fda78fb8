"""The results log's format: its columns (one version per release that added
some), what a row holds and how its fields are written and read back (paths,
curves, settings), and the code version a row names. No I/O but asking git;
results_log.py reads, appends and merges logs in this format, and re-exports
these names: `results_log.COLUMNS` is the one to use."""
import os
import re
import subprocess

# Training-fitness levels: the first generation whose winner reached each is
# recorded, so transfer can be read at several thresholds from the same runs.
LEVELS = (0.95, 0.98, 0.99)
# Held-out accuracy levels: the first generation whose winner reached each on the
# task's validation images (checked every --val_every generations). Fitness on
# noisy training images measures memorising them too; these measure learning.
VAL_LEVELS = (0.85, 0.90, 0.93, 0.95)
# What task 2 starts from (the driver's --control; docs/algorithm.md): task 1's
# path frozen or trainable, every other module kept or re-initialised.
CONTROLS = ('pathnet', 'scratch', 'finetune', 'pathnet_noreinit', 'finetune_reinit')


def curve_generations(last):
    """The generations of a task's held-out learning curve, up to `last`: 1, 2, 3, 5,
    then the 1-2-5 series (10, 20, 50, 100, 200, 500, 1000, 2000, ...). One fixed
    schedule for every run, so curves of runs of any length line up."""
    out, decade = [g for g in (1, 2, 3) if g <= last], 1
    while 5 * decade <= last:
        out += [g for g in (5 * decade, 10 * decade, 20 * decade) if g <= last]
        decade *= 10
    return out


COLUMNS_V1 = ['timestamp', 'seed', 'control', 'task1', 'task2',
              'task1_generations', 'task2_generations', 'overlap',
              'task1_converged', 'task2_converged', 'task1_fitness', 'task2_fitness',
              'task1_test_accuracy', 'task2_test_accuracy', 'task1_path', 'task2_path',
              'L', 'M', 'N', 'seconds', 'settings']
# Each version appends, never inserts: a reader that knows only an older one
# still finds its columns.
COLUMNS_V2 = COLUMNS_V1 + ['task%d_diverged' % t for t in (1, 2)] + \
    ['task%d_gen_%.2f' % (t, level) for t in (1, 2) for level in LEVELS]
# Provenance: which code and build made the row. The same seed gives other rows
# on another TensorFlow or CPU (float rounding), so a row names its build.
COLUMNS_V3 = COLUMNS_V2 + ['code_version', 'tensorflow', 'numpy']
COLUMNS_V4 = COLUMNS_V3 + ['task%d_val_accuracy' % t for t in (1, 2)] + \
    ['task%d_val_gen_%.2f' % (t, level) for t in (1, 2) for level in VAL_LEVELS]
# Retention and learning curves: task 1's test accuracy right after task 1 (before
# task 2; the after value is task1_test_accuracy), and each task's held-out curve.
COLUMNS_V5 = COLUMNS_V4 + ['task1_test_accuracy_before'] + \
    ['task%d_val_curve' % t for t in (1, 2)]
VERSIONS = [COLUMNS_V1, COLUMNS_V2, COLUMNS_V3, COLUMNS_V4, COLUMNS_V5]
COLUMNS = VERSIONS[-1]
HEADERS = {','.join(v): v for v in VERSIONS}
KEY = ('seed', 'control', 'settings')   # one experiment: a seed is run once per condition


class LogError(Exception):
    """A log that cannot be used: one line naming the file (and line), never a traceback."""


# ---------------------------------------------------------------------------
# The row.

def path_text(mask):
    """A path as the log writes it: its active modules per layer, layers joined by '|'.
    mask: [L, M] 0/1 (nested lists or an array), e.g. -> '1-4-7|0-2|3-5-9'."""
    return '|'.join('-'.join(str(m) for m, on in enumerate(layer) if on) for layer in mask)


def path_modules(text, L, M, N):
    """'1-4-7|0-2|3-5-9' -> [[1, 4, 7], [0, 2], [3, 5, 9]]; ValueError for anything
    path_text cannot write for this shape (L layers of 1..N distinct modules below M)."""
    layers = text.split('|')
    out = []
    for layer in layers:
        modules = [int(m) for m in layer.split('-')] \
            if re.fullmatch(r'[0-9]+(-[0-9]+)*', layer) else []
        if len(layers) != L or not modules or max(modules) >= M or len(modules) > N \
                or len(set(modules)) != len(modules):
            raise ValueError('malformed path %r: want L=%d layers of 1..N=%d distinct '
                             'modules below M=%d, joined by - and |' % (text, L, N, M))
        out.append(modules)
    return out


def overlap(mask_a, mask_b):
    """Number of (layer, module) positions active in both paths ([L, M] 0/1 masks)."""
    return sum(bool(a) and bool(b) for la, lb in zip(mask_a, mask_b) for a, b in zip(la, lb))


RELEASE = '4.0'   # rows name it when the code is not a git checkout (a release tarball)


def code_version():
    """The code's git commit, with '+dirty' when tracked files have local changes; the
    release when the code is not in a git checkout (or git is missing)."""
    def git(*args):
        return subprocess.run(('git', '-C', os.path.dirname(os.path.abspath(__file__))) + args,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30)
    try:
        commit = git('rev-parse', '--short=12', 'HEAD')
        if commit.returncode != 0:
            return RELEASE
        dirty = git('status', '--porcelain', '--untracked-files=no')
    except (OSError, subprocess.SubprocessError):
        return RELEASE
    return commit.stdout.strip() + ('+dirty' if dirty.returncode or dirty.stdout.strip()
                                    else '')


def curve_text(curve):
    """A held-out learning curve {generation: accuracy} as the log writes it: space-separated
    generation:accuracy pairs in generation order, e.g. '1:0.8112 2:0.8807 3:0.9012'."""
    return ' '.join('%d:%.4f' % (g, curve[g]) for g in sorted(curve))


def parse_curve(text):
    """A *_val_curve column back as {generation: accuracy}, in generation order; '' (no
    curve: a log before the column) -> {}. Anything curve_text cannot write is refused
    (LogError)."""
    curve = {}
    for pair in text.split():
        g, colon, acc = pair.partition(':')
        try:
            if not colon or not g.isdigit() or int(g) in curve or curve and int(g) < max(curve):
                raise ValueError
            curve[int(g)] = float(acc)
        except ValueError:
            raise LogError('cannot read the curve %r: %r is not generation:accuracy in '
                           'increasing generation order' % (text, pair)) from None
    return curve


def make_row(seed, control, settings, shape, tasks, results, accuracy, seconds, timestamp,
             provenance, accuracy_before):
    """The log's row of one experiment. shape: (L, M, N); tasks: the two class pairs;
    results: each task's outcome (generations, converged, diverged, fitness, mask: the
    winning path [L, M], reached: {fitness level: first generation}, val_accuracy: the
    winning path's, val_reached: {validation level: first generation}, curve: {generation:
    that generation's winner's validation accuracy}); accuracy: each winning path's test
    accuracy after task 2; provenance: code_version, tensorflow and numpy;
    accuracy_before: task 1's test accuracy right after task 1, before task 2 began."""
    row = dict(provenance)
    row.update({'timestamp': timestamp, 'seed': seed, 'control': control,
           'L': shape[0], 'M': shape[1], 'N': shape[2],
           'overlap': overlap(results[0].mask, results[1].mask),
           'seconds': '%.1f' % seconds, 'settings': settings,
           'task1_test_accuracy_before': '%.4f' % accuracy_before})
    for t, (classes, r, acc) in enumerate(zip(tasks, results, accuracy), 1):
        row['task%d' % t] = '%dv%d' % tuple(classes)
        row['task%d_generations' % t] = r.generations
        row['task%d_converged' % t] = int(r.converged)
        row['task%d_diverged' % t] = int(r.diverged)
        row['task%d_fitness' % t] = '%.4f' % r.fitness
        row['task%d_test_accuracy' % t] = '%.4f' % acc
        row['task%d_path' % t] = path_text(r.mask)
        for level in LEVELS:
            row['task%d_gen_%.2f' % (t, level)] = r.reached.get(level, '')
        row['task%d_val_accuracy' % t] = '%.4f' % r.val_accuracy
        for level in VAL_LEVELS:
            row['task%d_val_gen_%.2f' % (t, level)] = r.val_reached.get(level, '')
        row['task%d_val_curve' % t] = curve_text(r.curve)
    return row


def parse_settings(text):
    """The settings column ('--T=20 --learning_rate=0.01': the flags that differ from the
    driver's defaults) as {flag name: value string}, e.g. {'T': '20', 'learning_rate':
    '0.01'}; '' -> {}. A word not starting with -- belongs to the value before it, so a value
    may hold spaces (or '='). Anything else is refused (LogError)."""
    flags, words = [], text.split()
    for word in words:
        if word.startswith('--') or not flags:
            flags.append(word)
        else:
            flags[-1] += ' ' + word
    out = {}
    for flag in flags:
        name, equals, value = flag[2:].partition('=')
        if not flag.startswith('--') or not equals or not name or name in out:
            raise LogError('cannot read the settings %r: %r is not one --name=value'
                           % (text, flag))
        out[name] = value
    return out
