"""The validation section: the cost of the held-out measure. For each
protocol, one process runs the driver's main() on the validation seeds with
PathNet.evaluate and PathNet.tournament timed in-process; the share of each
experiment's wall time spent on held-out evaluations, and the share
--val_every 0 would have. Every count is checked against what the
experiment's row implies, and the section fails if one disagrees."""
import json
import os
import statistics
import sys
import time

from bench_common import ROOT, fmt, run_child

# The protocols (--validation_flags): the defaults, and the paper's
# tournament with plain gradient descent.
VALIDATION_FLAGS = ['', '--tournament shared --optimizer sgd --learning_rate 0.05']


def validation_schedule(generations, reached, val_every):
    """How many held-out evaluations evolve() makes in a task of `generations`
    generations whose winner reached the validation levels at the generations
    `reached` (the row's taskN_val_gen_* values; '' or None: not reached):
    every generation up to 4*val_every, then every val_every, while a level is
    unreached (the generation that reaches the last one is evaluated, none
    after it), once at the end (val_every 0: only there), and at each
    generation of the held-out curve (1, 2, 3, 5, 10, 20, ...) not among them."""
    from results_log import VAL_LEVELS, curve_generations
    gens = [int(g) for g in reached if g not in ('', None)]
    last = max(gens) if len(gens) == len(VAL_LEVELS) else generations
    scheduled = {g for g in range(1, min(generations - 1, last) + 1)
                 if val_every and (g <= 4 * val_every or g % val_every == 0)}
    return len(scheduled | {generations} | set(curve_generations(generations)))


def expected_validations(row, val_every):
    """Held-out evaluations of each task of an experiment, from its row."""
    from results_log import VAL_LEVELS
    return [validation_schedule(int(row['task%d_generations' % t]),
                                [row['task%d_val_gen_%.2f' % (t, v)] for v in VAL_LEVELS],
                                val_every) for t in (1, 2)]


def child(seeds, flags, results):
    """The driver's own main() running `seeds` in this process with `flags`,
    PathNet.evaluate and PathNet.tournament wrapped by timers. An evaluation
    made while evolve() runs is a validation (held-out) one; the others are the
    two final test-accuracy evaluations of experiment(). Per experiment (the
    wall time of the driver's experiment(): data, tasks, test accuracy): time
    and count of each, the generations, and the held-out evaluations its row
    implies (expected_validations), which the counts must match."""
    sys.path.insert(0, ROOT)
    sys.modules.setdefault('keras', None)
    import binary_mnist_pathnet as driver
    import pathnet
    clock = time.perf_counter
    val_every = driver.parse_args(['--seeds', seeds] + flags).val_every
    now = {'experiment': None, 'task': None}     # what is running
    experiments = []
    evaluate, tournament = pathnet.PathNet.evaluate, pathnet.PathNet.tournaments

    def timed_evaluate(self, *args, **kwargs):
        t0 = clock()
        accuracy = evaluate(self, *args, **kwargs)
        dt, e, task = clock() - t0, now['experiment'], now['task']
        if task is None:
            e['test_s'] += dt
            e['test_evaluations'] += 1
        else:
            e['val_s'] += dt
            e['val_evaluations'] += 1
            e['val_per_task'][task] += 1
            e['max_evaluation_s'] = max(e['max_evaluation_s'], dt)
        return accuracy

    def timed_tournament(self, *args, **kwargs):
        t0 = clock()
        result = tournament(self, *args, **kwargs)
        now['experiment']['tournament_s'] += clock() - t0
        now['experiment']['tournaments'] += 1
        return result
    # (one process runs one slot, so a round is one experiment's tournament)

    evolve = driver.evolve

    def evolving(net, sess, ex, task, *args, **kwargs):
        now['task'] = task
        try:
            return (yield from evolve(net, sess, ex, task, *args, **kwargs))
        finally:
            now['task'] = None

    experiment = driver.experiment

    def measured(net, sess, data, ex):
        e = now['experiment'] = {'seed': ex.seed, 'val_s': 0.0, 'val_evaluations': 0,
                                 'val_per_task': [0, 0], 'max_evaluation_s': 0.0,
                                 'test_s': 0.0, 'test_evaluations': 0,
                                 'tournament_s': 0.0, 'tournaments': 0}
        t0 = clock()
        row = yield from experiment(net, sess, data, ex)
        e['wall_s'] = clock() - t0
        now['experiment'] = None
        e['generations'] = [int(row['task%d_generations' % t]) for t in (1, 2)]
        e['expected_val_per_task'] = expected_validations(row, val_every)
        experiments.append(e)
        return row
    pathnet.PathNet.evaluate, pathnet.PathNet.tournaments = timed_evaluate, timed_tournament
    driver.evolve, driver.experiment = evolving, measured   # looked up at each call
    t0 = clock()
    status = driver.main(['--seeds', seeds, '--quiet', '--threads', '1', '--slots', '1',
                          '--results', results]
                         + flags, stop=driver.Stop())
    out = {'status': status, 'seeds': seeds, 'flags': ' '.join(flags), 'val_every': val_every,
           'process_wall_s': round(clock() - t0, 2), 'experiments': []}
    for e in experiments:
        per_eval = e['val_s'] / e['val_evaluations'] if e['val_evaluations'] else 0.0
        e['share'] = e['val_s'] / e['wall_s']
        # --val_every 0: the same experiment (validation draws nothing random)
        # with only each task's last evaluation, at this one's mean cost each.
        e['share_val_every_0'] = 2 * per_eval / (e['wall_s'] - e['val_s'] + 2 * per_eval)
        e['tournament_share'] = e['tournament_s'] / e['wall_s']
        out['experiments'].append({k: round(v, 5) if isinstance(v, float) else v
                                   for k, v in e.items()})
    out.update({k: round(v, 5) if isinstance(v, float) else v
                for k, v in validation_summary(out['experiments']).items()})
    out['problems'] = validation_problems(out)
    print(json.dumps(out))


def validation_summary(experiments):
    """Medians and extremes over a protocol's experiments."""
    def col(k):
        return [e[k] for e in experiments]
    gens = [sum(e['generations']) for e in experiments]
    per_eval = [1000 * e['val_s'] / e['val_evaluations'] for e in experiments
                if e['val_evaluations']]
    return {'median_share': statistics.median(col('share')), 'max_share': max(col('share')),
            'median_share_val_every_0': statistics.median(col('share_val_every_0')),
            'max_share_val_every_0': max(col('share_val_every_0')),
            'pooled_share': sum(col('val_s')) / sum(col('wall_s')),
            'median_tournament_share': statistics.median(col('tournament_share')),
            'median_val_evaluations': statistics.median(col('val_evaluations')),
            'min_val_evaluations': min(col('val_evaluations')),
            'max_val_evaluations': max(col('val_evaluations')),
            'median_generations': statistics.median(gens), 'min_generations': min(gens),
            'max_generations': max(gens),
            'median_wall_s': statistics.median(col('wall_s')),
            'median_ms_per_evaluation': statistics.median(per_eval) if per_eval else None}


def validation_problems(out):
    """Why the validation numbers cannot be trusted, if they cannot: a failed
    run, or counts that disagree with what the rows and the driver imply (three
    test evaluations per experiment: task 1 right after task 1, then both tasks
    after task 2; one tournament per generation, the
    held-out evaluations of each task's schedule)."""
    problems = [] if out['status'] == 0 else ['the driver exited %s' % out['status']]
    if not out['experiments']:
        problems.append('no experiment was measured')
    for e in out['experiments']:
        seed = 'seed %s: ' % e['seed']
        if e['test_evaluations'] != 3:
            problems.append(seed + '%d test evaluations, not 3' % e['test_evaluations'])
        if e['tournaments'] != sum(e['generations']):
            problems.append(seed + '%d tournaments for %d generations'
                            % (e['tournaments'], sum(e['generations'])))
        if e['val_per_task'] != e['expected_val_per_task'] or \
                e['val_evaluations'] != sum(e['expected_val_per_task']):
            problems.append(seed + 'held-out evaluations %d %s, the rows imply %s'
                            % (e['val_evaluations'], e['val_per_task'],
                               e['expected_val_per_task']))
        if not 0 <= e['share'] < 1 or e['val_s'] + e['test_s'] + e['tournament_s'] > e['wall_s']:
            problems.append(seed + 'times do not add up (validation %.3f s, test %.3f s, '
                            'tournaments %.3f s, wall %.3f s)' % (
                                e['val_s'], e['test_s'], e['tournament_s'], e['wall_s']))
    return problems


def section(seeds, protocols, tmp):
    """Each protocol's experiments in a process of their own (child): the
    share of each experiment's wall time spent on held-out evaluations."""
    runs = []
    for k, flags in enumerate(protocols):
        r = run_child('validation', extra=['--validation_seeds', seeds,
                                           '--validation_flags=' + flags,
                                           '--results', os.path.join(tmp, 'validation-%d.csv' % k)])
        if r['problems']:
            sys.exit('error: validation, flags %r: %s' % (flags, '; '.join(r['problems'][:5])))
        runs.append(r)
    return {'seeds': seeds, 'protocols': runs}


def report(v, a):
    lines = ['', 'held-out validation: PathNet.evaluate during evolve() (not the 2 final test'
             ' evaluations) against the wall time of each experiment, seeds %s in one process'
             ' per protocol, threads 1:' % v['seeds']]
    say = lines.append
    for r in v['protocols']:
        say('  %s (val_every %d): share median %.2f%%, max %.2f%% (pooled %.2f%%);'
            ' implied at --val_every 0 (2 evaluations): median %.2f%%, max %.2f%%'
            % (r['flags'] or 'defaults', r['val_every'], 100 * r['median_share'],
               100 * r['max_share'], 100 * r['pooled_share'],
               100 * r['median_share_val_every_0'], 100 * r['max_share_val_every_0']))
        say('    per experiment: %s held-out evaluations (median; %d-%d), %s generations'
            ' (%d-%d), %.1f s wall, %.1f ms per evaluation; tournaments %.1f%% of the wall'
            % (fmt(r['median_val_evaluations'], '%g'), r['min_val_evaluations'],
               r['max_val_evaluations'], fmt(r['median_generations'], '%g'),
               r['min_generations'], r['max_generations'], r['median_wall_s'],
               r['median_ms_per_evaluation'], 100 * r['median_tournament_share']))
        say('    %6s %8s %8s %6s %11s %7s %9s' % ('seed', 'wall s', 'val s', 'evals',
                                                 'generations', 'share', 'share@0'))
        for e in r['experiments']:
            say('    %6d %8.2f %8.3f %6d %5d+%-5d %6.2f%% %8.2f%%'
                % (e['seed'], e['wall_s'], e['val_s'], e['val_evaluations'],
                   e['generations'][0], e['generations'][1], 100 * e['share'],
                   100 * e['share_val_every_0']))
    return lines
