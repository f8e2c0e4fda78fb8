"""The experiments section: experiments per hour on the same seeds, (a) one
process per experiment (`--seed S`) against (b) the seeds dealt out to one
process per core running `--seeds` (what auto_binary_mnist_pathnet.sh does),
alternating a, b each round; the rows of a and b must agree."""
import os
import statistics
import sys

from bench_common import driver_batch, read_rows

# Columns that may differ between two runs of the same experiment.
TIMING_COLUMNS = ('timestamp', 'seconds')


def compare_rows(logs):
    """Rows of the same seed across logs (name -> path) must agree in every
    column but TIMING_COLUMNS. Returns (all agree, the disagreements)."""
    by_log = {name: {r['seed']: r for r in read_rows(path)} for name, path in logs.items()}
    names = list(by_log)
    first = by_log[names[0]]
    problems = []
    for name in names[1:]:
        other = by_log[name]
        if set(other) != set(first):
            problems.append('%s vs %s: seeds %s against %s' % (
                names[0], name, sorted(first, key=int), sorted(other, key=int)))
        for seed in sorted(set(first) & set(other), key=int):
            diff = [c for c in first[seed] if c not in TIMING_COLUMNS
                    and first[seed][c] != other[seed].get(c)]
            if diff:
                problems.append('seed %s, %s vs %s: %s' % (seed, names[0], name, ', '.join(diff)))
    return not problems, problems


def section(seeds, jobs, rounds, flags, tmp):
    """(a) one process per experiment against (b) the seeds dealt out to
    `jobs` processes running --seeds; alternating a, b each round."""
    out = {'seeds': [seeds[0], seeds[-1]], 'experiments': len(seeds), 'jobs': jobs,
           'rounds': rounds, 'driver_flags': flags, 'per_seed': [], 'many': []}
    logs = {}
    for k in range(rounds):
        for mode in ('per_seed', 'many'):
            log = os.path.join(tmp, 'experiments-%s-%d.csv' % (mode, k))
            wall, runs = driver_batch(mode, seeds, jobs, log,
                                      os.path.join(tmp, 'experiments-%s-%d' % (mode, k)), flags)
            rows = read_rows(log)
            if len(rows) != len(seeds):
                sys.exit('error: %s batch wrote %d rows for %d seeds (%s)'
                         % (mode, len(rows), len(seeds), log))
            out[mode].append({'wall_s': round(wall, 1), 'per_hour': round(3600 * len(seeds) / wall, 1),
                              'processes': len(runs),
                              'median_process_s': statistics.median(r['seconds'] for r in runs),
                              'peak_rss_mb': max(r['peak_rss_mb'] for r in runs),
                              'generations': sum(int(r['task1_generations']) +
                                                 int(r['task2_generations']) for r in rows)})
            logs['%s round %d' % (mode, k + 1)] = log
    for mode in ('per_seed', 'many'):
        out[mode + '_per_hour'] = statistics.median(r['per_hour'] for r in out[mode])
    out['ratio'] = round(out['many_per_hour'] / out['per_seed_per_hour'], 2)
    out['ratio_per_round'] = [round(b['per_hour'] / a['per_hour'], 2)
                              for a, b in zip(out['per_seed'], out['many'])]
    out['rows_agree'], out['row_differences'] = compare_rows(logs)
    return out


def report(e, a):
    lines = ['', 'experiments per hour, seeds %d-%d (%d experiments), %d processes at once,'
             ' %d round(s)%s:'
             % (e['seeds'][0], e['seeds'][1], e['experiments'], e['jobs'], e['rounds'],
                ', driver flags ' + ' '.join(e['driver_flags']) if e['driver_flags'] else '')]
    for mode, what in (('per_seed', '(a) one process per experiment (--seed S)'),
                       ('many', '(b) seeds dealt out, --seeds per process')):
        lines.append('  %-44s %7.1f per hour (rounds: %s; wall %s s)'
                     % (what, e[mode + '_per_hour'],
                        ', '.join('%.1f' % r['per_hour'] for r in e[mode]),
                        ', '.join('%.1f' % r['wall_s'] for r in e[mode])))
    lines += ['  ratio (b)/(a): %.2f (per round %s)'
              % (e['ratio'], ', '.join('%.2f' % x for x in e['ratio_per_round'])),
              '  peak RSS of a process: (a) %d MB, (b) %d MB'
              % (max(r['peak_rss_mb'] for r in e['per_seed']),
                 max(r['peak_rss_mb'] for r in e['many'])),
              '  rows of (a) and (b), every round, same seed: %s'
              % ('identical but for %s' % ' and '.join(TIMING_COLUMNS) if e['rows_agree'] else
                 'DIFFER: ' + '; '.join(e['row_differences'][:5]))]
    return lines
