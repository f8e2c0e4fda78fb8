"""The studies: named sets of cells, each cell a results log whose experiments
run under several controls, paired by seed, through the batch runner
(auto_binary_mnist_pathnet.sh). Seeds are run in rounds over all cells of a
study (10 seeds everywhere, then 20, ...), so a study stopped early has every
cell started; rerun the same command to resume (the batches skip done seeds).

    python study.py list [STUDY...]            # cells, controls, seeds, their commands
    python study.py run STUDY... [--jobs 2]    # run (or resume) them in this order
    python study.py pairs                      # the transfer matrix's class pairs
    python study.py rates                      # the tuning study's grid, each control's best
    python study.py status [STUDY...]          # seeds done per cell and control

Studies (results/<folder>/README.md says what each found):
  protocol  results/study/: when does PathNet transfer? 7 protocol cells x 3
            controls x 50 seeds (the second release's study)
  positive  results/transfer/: positive controls, task 2 = task 1 (5v6 -> 5v6)
            and the same classes with the labels swapped (5v6 -> 6v5)
  controls  results/transfer/: freezing apart from re-initialising (5 controls)
  matrix    results/transfer/: 10 drawn class pairs and the positive controls
  tuning    results/transfer/: each control's own gradient-descent rate in the
            cell where PathNet beat scratch (shared, sgd, mean), on seeds
            1000-1009, disjoint from the study's (python study.py rates)
  tuned     results/transfer/: that cell with each control at its best rate
  length    results/transfer/: task 1 trained for 1,000 generations (fixed
            noise), to separate long task-1 training from fresh noise
  scarce    results/benefits/: task 2 with N training images (20 to all), for a
            fixed TASK2_GENERATIONS, on 6 pairs; its held-out learning curve
  learning_rate  results/benefits/: the defaults at 5 Adam rates, 1e-4 to 1e-2
"""
import argparse
import os
import subprocess
import sys
from itertools import combinations

import numpy as np

from results_log import VAL_LEVELS, LogError, done_seeds, parse_settings, read_log

HERE = os.path.dirname(os.path.abspath(__file__))
AUTO = os.path.join(HERE, 'auto_binary_mnist_pathnet.sh')
RESULTS = os.path.join(HERE, 'results')   # the studies' logs, wherever this is run from
PAPER = ('pathnet', 'scratch', 'finetune')
ALL = PAPER + ('pathnet_noreinit', 'finetune_reinit')
SGD = ['--optimizer', 'sgd', '--learning_rate', '0.05']   # results/study/README.md: the pilot
PROTOCOLS = {                                              # the matrix's two protocols
    'restore_adam': [],                                    # the defaults
    'shared_sgd': ['--tournament', 'shared'] + SGD}        # the closest to the paper
# The tuning grid: the first four as planned; 0.5 and 1.0 were added (same seeds, same
# commit) when all three controls did best at 0.2, the edge, before `tuned` ran.
RATES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def tuning_log():
    return os.path.join(RESULTS, 'transfer', 'tuning_shared_sgd_mean.csv')

PAIR_SEED = 2017       # the matrix's pairs: drawn once with this seed (python study.py pairs)
# What PathNet buys: task 2 with few images, read on its held-out curve after a fixed
# number of generations (chosen from results/benefits/pilot_task2_300.csv), and the
# defaults across Adam's learning rate.
IMAGES = (20, 50, 100, 300, 1000, None)    # None: all of task 2's training images
TASK2_GENERATIONS = 100
ADAM_RATES = (0.0001, 0.0003, 0.001, 0.003, 0.01)


def draw_pairs(seed=PAIR_SEED, shared=5, disjoint=5):
    """Ordered (task 1, task 2) pairs of binary tasks, each task two digits (its first
    class -> logit 0): `shared` whose tasks share one class, `disjoint` that share none.
    No pair twice, none a positive control."""
    rng = np.random.default_rng(seed)
    tasks = [tuple(int(d) for d in rng.permutation(t)) for t in combinations(range(10), 2)]
    out = {'shared': [], 'disjoint': []}
    want = {'shared': shared, 'disjoint': disjoint}
    while any(len(out[k]) < want[k] for k in out):
        t1, t2 = (tasks[i] for i in rng.choice(len(tasks), 2, replace=False))
        kind = {1: 'shared', 0: 'disjoint'}.get(len(set(t1) & set(t2)))
        if kind and len(out[kind]) < want[kind] and (t1, t2) not in out[kind]:
            out[kind].append((t1, t2))
    return out


def pair_flags(t1, t2):
    return ['--a1', str(t1[0]), '--a2', str(t1[1]), '--b1', str(t2[0]), '--b2', str(t2[1])]


def pair_name(t1, t2):
    return '%dv%d-%dv%d' % (t1 + t2)


POSITIVE = [((5, 6), (5, 6)), ((5, 6), (6, 5))]


def cell(log, flags, controls=PAPER, seeds=50, base=0):
    return {'log': log, 'flags': flags, 'controls': controls, 'seeds': seeds, 'base': base}


def by_rate(rows):
    """{control: {rate: [rows]}}: a log's rows by control and --learning_rate."""
    out = {}
    for r in rows:
        rate = float(parse_settings(r['settings']).get('learning_rate', 0.001))
        out.setdefault(r['control'], {}).setdefault(rate, []).append(r)
    return out


def generations(row):
    """Task-2 generations to the threshold; a run that did not converge (it hit the cap,
    or diverged and stopped early) counts at the cap."""
    if row['task2_converged']:
        return row['task2_generations']
    return int(parse_settings(row['settings']).get('max_steps', 1000))


def best_rates(log):
    """Each control's rate of the tuning log with the fewest task-2 generations on
    average (generations())."""
    grid = by_rate(read_log(log, ints=('task2_generations', 'task2_converged')))
    return {c: min(by, key=lambda rate: (np.mean([generations(r) for r in by[rate]]), rate))
            for c, by in grid.items()}


def rates_table(log):
    """The tuning grid as text: per control and rate, the runs, how many converged, the
    mean task-2 generations (the tuning criterion, generations()), and
    the mean generation of each held-out level (a level never reached counts at the
    run's cap) and final held-out accuracy, for a reader who prefers another criterion."""
    val = ['task2_val_gen_%.2f' % v for v in VAL_LEVELS]
    rows = read_log(log, ints=('task2_generations', 'task2_converged'),
                    floats=('task2_val_accuracy',), required=val)
    best = best_rates(log)
    lines = ['%-16s %5s %3s %9s %10s  %s  %s' % (
        'control', 'rate', 'n', 'converged', 'threshold',
        ' '.join('val %-5.2f' % v for v in VAL_LEVELS), 'val accuracy')]
    for control, by in sorted(by_rate(rows).items()):
        for rate, runs in sorted(by.items()):
            cap = [int(parse_settings(r['settings']).get('max_steps', 1000)) for r in runs]
            levels = [np.mean([int(r[v]) if r[v] else c for r, c in zip(runs, cap)])
                      for v in val]
            lines.append('%-16s %5g %3d %6d/%-2d %10.1f  %s  %12.3f%s' % (
                control, rate, len(runs), sum(r['task2_converged'] for r in runs), len(runs),
                np.mean([generations(r) for r in runs]),
                ' '.join('%9.1f' % m for m in levels),
                np.mean([r['task2_val_accuracy'] for r in runs]),
                '  <- best' if best[control] == rate else ''))
    return '\n'.join(lines)


def studies():
    t = os.path.join(RESULTS, 'transfer')
    mean = ['--tournament', 'shared', '--optimizer', 'sgd', '--aggregate', 'mean']
    out = {'protocol': [cell(os.path.join(RESULTS, 'study', name + '.csv'), flags)
                        for name, flags in (
        ('restore_adam', []), ('restore_sgd', SGD), ('shared_adam', ['--tournament', 'shared']),
        ('shared_sgd', ['--tournament', 'shared'] + SGD),
        ('shared_sgd_mean', ['--tournament', 'shared', '--aggregate', 'mean'] + SGD),
        ('shared_sgd_pop20', ['--tournament', 'shared', '--candi', '20'] + SGD),
        ('shared_sgd_fresh', ['--tournament', 'shared', '--noise_mode', 'fresh'] + SGD))]}
    matrix = POSITIVE + [p for kind in draw_pairs().values() for p in kind]
    for name, pairs in (('positive', POSITIVE), ('matrix', matrix)):
        out[name] = [cell(os.path.join(t, protocol, pair_name(*p) + '.csv'),
                          flags + pair_flags(*p), seeds=20)
                     for p in pairs for protocol, flags in PROTOCOLS.items()]
    out['controls'] = [cell(os.path.join(t, 'controls_restore_adam.csv'), [], ALL)]
    out['tuning'] = [cell(tuning_log(), mean + ['--learning_rate', str(rate)], seeds=10, base=1000)
                     for rate in RATES]
    try:
        best = best_rates(tuning_log())
    except LogError:
        best = {}
    out['tuned'] = [cell(os.path.join(t, 'tuned_shared_sgd_mean.csv'),
                         mean + ['--learning_rate', str(best[c])], (c,))
                    for c in PAPER if c in best]
    out['length'] = [cell(os.path.join(t, 'shared_sgd_task1_1000.csv'),
                          ['--tournament', 'shared'] + SGD + ['--task1_generations', '1000'])]
    b = os.path.join(RESULTS, 'benefits')
    drawn = draw_pairs()
    out['scarce'] = [cell(os.path.join(b, 'scarce', pair_name(*p) + '.csv'), pair_flags(*p) + [
        '--task2_generations', str(TASK2_GENERATIONS)] + ['--train_images', str(n)] * bool(n),
        seeds=20) for p in [((5, 6), (6, 7)), POSITIVE[0]] + drawn['shared'][:2] +
        drawn['disjoint'][:2] for n in IMAGES]
    out['learning_rate'] = [cell(os.path.join(b, 'learning_rate.csv'),
                                 ['--learning_rate', str(rate)], seeds=20) for rate in ADAM_RATES]
    return out


def rounds(n):
    """10, 20, 50 ... up to n: every cell gets its first seeds before any gets more."""
    return sorted({r for r in (10, 20, 50, 100) if r < n} | {n})


def command(c, control, runs, jobs):
    # The log relative to the project's root, where run() starts the batches.
    return [AUTO, str(runs), str(jobs), '--', '--quiet', '--results',
            os.path.relpath(c['log'], HERE),
            '--control', control] + c['flags']


def status(names):
    """Per cell and control, the seeds of its range done in its condition (the batches'
    own resume rule: same control and settings), as a table; then each study's total."""
    from batch.cli import read_flags   # the driver's flag parser, for a row's settings
    import binary_mnist_pathnet as driver
    lines = ['| study | log (in results/) | seeds done per control, of the cell\'s |',
             '| --- | --- | --- |']
    totals = []
    for name in names:
        done_all = want_all = 0
        for c in studies()[name]:
            got = []
            for control in c['controls']:
                args = read_flags(command(c, control, 1, 1)[4:])
                done = done_seeds([c['log']], control, driver.settings(args))
                n = len(done & set(range(c['base'], c['base'] + c['seeds'])))
                got.append('%s %d/%d' % (control, n, c['seeds']))
                done_all, want_all = done_all + n, want_all + c['seeds']
            rate = ' (%s)' % c['flags'][-1] if name in ('tuning', 'tuned') else ''
            lines.append('| %s | `%s`%s | %s |' % (name, os.path.relpath(c['log'], RESULTS),
                                                  rate, ', '.join(got)))
        totals.append('%s: %d of %d runs' % (name, done_all, want_all))
    return '\n'.join(lines + [''] + totals)


def listing(names, jobs):
    """Each study's cells with the commands that run them, one per control, ready to
    paste (from the project's root). A cell in two studies is listed under the first."""
    lines = ['# Every cell: its log, controls and seeds, then one batch command per control.',
             '# Run them from the project\'s root; each resumes where its log stands.']
    seen = {}
    for name in names:
        lines.append('')
        lines.append('## %s' % name)
        for c in studies()[name]:
            log = os.path.relpath(c['log'], HERE)
            head = '# %s: %s, seeds %d-%d' % (log, ' '.join(c['controls']), c['base'],
                                              c['base'] + c['seeds'] - 1)
            if (log, tuple(c['flags'])) in seen:
                lines.append('%s (the same cell as in study %s)'
                             % (head, seen[log, tuple(c['flags'])]))
                continue
            seen[log, tuple(c['flags'])] = name
            lines.append(head)
            for control in c['controls']:
                cmd = command(c, control, c['seeds'], jobs)
                lines.append('SEED_BASE=%d ./%s %s' % (c['base'], os.path.relpath(cmd[0], HERE),
                                                       ' '.join(cmd[1:])))
    return '\n'.join(lines)


def run(names, jobs):
    todo = [c for name in names for c in studies()[name]]
    if not todo:
        print('error: nothing to run (tuned needs the tuning study first)', file=sys.stderr)
        return 2
    failed = 0
    for runs in rounds(max(c['seeds'] for c in todo)):
        for c in todo:
            for control in c['controls']:
                n = min(runs, c['seeds'])
                print('== %s --control %s: %d seeds from %d' % (c['log'], control, n, c['base']),
                      flush=True)
                status = subprocess.call(command(c, control, n, jobs), cwd=HERE,
                                         env=dict(os.environ, SEED_BASE=str(c['base'])))
                if status == 130:
                    return 130
                failed += status != 0
    print('study: %s done, %d batch(es) with failures' % (' '.join(names), failed))
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='what', metavar='COMMAND')
    sub.required = True
    names = sorted(studies())
    ls = sub.add_parser('list', help='the cells of the studies, and their commands')
    ls.add_argument('studies', nargs='*', choices=names + [[]], metavar='STUDY')
    go = sub.add_parser('run', help='run or resume the studies, in the order given')
    go.add_argument('studies', nargs='+', choices=names, metavar='STUDY')
    for sp in (ls, go):
        sp.add_argument('--jobs', type=int, default=os.cpu_count() or 1,
                        help='processes at a time (the batch runner\'s JOBS)')
    sub.add_parser('pairs', help='the transfer matrix\'s class pairs and how they were drawn')
    sub.add_parser('rates', help='the tuning study\'s grid of rates and each control\'s best')
    st = sub.add_parser('status', help='runs done and to do, per cell and control')
    st.add_argument('studies', nargs='*', choices=names + [[]], metavar='STUDY')
    args = p.parse_args(argv)
    if args.what == 'pairs':
        print('drawn with numpy.random.default_rng(%d) (study.draw_pairs):' % PAIR_SEED)
        for kind, pairs in draw_pairs().items():
            print('  %-8s %s' % (kind, '  '.join('%dv%d -> %dv%d' % (a + b) for a, b in pairs)))
        print('  positive %s' % '  '.join('%dv%d -> %dv%d' % (a + b) for a, b in POSITIVE))
        return 0
    if args.what == 'rates':
        try:
            print(rates_table(tuning_log()))
        except LogError as e:
            print('error: %s' % e, file=sys.stderr)
            return 1
        return 0
    if args.what == 'status':
        try:
            print(status(args.studies or names))
        except LogError as e:
            print('error: %s' % e, file=sys.stderr)
            return 1
        return 0
    if args.what == 'list':
        print(listing(args.studies or names, args.jobs))
        return 0
    if args.jobs < 1:
        p.error('--jobs must be at least 1')
    return run(args.studies, args.jobs)


if __name__ == '__main__':
    sys.exit(main())
