"""Speed and memory of binary_mnist_pathnet.py, each figure from its own process.

    python bench/benchmark.py [--out /tmp/bench] [--sections a,b,...]
    python bench/benchmark.py --sections plain --out /tmp/plain     # one section

The final, published run (on a quiet 2-core machine, nothing else running):

    MNIST_DATA_DIR=/path/to/mnist python bench/benchmark.py --experiments 40 \
        --rounds 2 --study_runs 200 --out bench/results

It should take about an hour (estimated from docs/speed.md's figures, 10.5 s
per default experiment alone, about 6 s each two at once): study_time about
35 min (two batches of 200 default experiments), experiments about 15 min
(2 rounds x 2 ways x 40), plain, shared, memory, per_generation and startup
together about 6 min, validation about 2 min.

Sections (--sections, all by default):
  startup         process start to the first generation, split into imports,
                  data and graph (median of --repeats processes);
  per_generation  milliseconds per generation of task 1 and task 2 with the
                  threshold out of reach, for the TensorFlow thread counts of
                  --threads, one process each;
  memory          one process running --memory_experiments experiments
                  (--seeds, --memory_flags: small settings by default) on one
                  graph: resident memory (VmRSS) after each experiment, and
                  the graph's op count before the first and after the last;
  experiments     experiments per hour, both ways side by side on the same
                  seeds (--experiments from --seed_base), as many processes
                  at once as cores (--jobs): (a) one process per experiment,
                  `binary_mnist_pathnet.py --seed S`, the first release's
                  batch; (b) the seeds dealt out round robin to the processes,
                  each running its share with `--seeds` (what
                  auto_binary_mnist_pathnet.sh does); --rounds rounds
                  alternating a, b; median per-hour and the ratio b/a; the
                  rows of a and b must agree except timestamp and seconds;
  study_time      wall time of a study batch, `auto_binary_mnist_pathnet.sh
                  RUNS` (--study_runs; jobs = cores), extrapolated to 1,000
                  experiments, against the same batch of the first release's
                  script and driver (commit 27c9215, unpacked from this
                  repository with git archive into a temporary folder; one
                  process per experiment), or with --study_baseline per_seed
                  the experiments section's runner (a) on today's driver;
  shared          ms per generation of --tournament shared against restore,
                  same seed, one thread, alternating processes;
  plain           ms per generation of this project's tournament against a
                  plain per-minibatch TF1 implementation (bench/plain_tf1.py),
                  alternating processes, same seed, one thread each;
  validation      the cost of the held-out measure: for each protocol of
                  --validation_flags (the defaults, and --tournament shared
                  --optimizer sgd --learning_rate 0.05), one process running
                  the driver's main() on --validation_seeds (1000-1009), with
                  PathNet.evaluate and PathNet.tournament timed in-process;
                  per experiment its wall time (the driver's experiment()),
                  the time and number of held-out evaluations (those made
                  inside evolve(); the two final test evaluations are counted
                  apart) and the generations; the median and maximum share
                  of the wall time, and the share --val_every 0 would have
                  (2 evaluations, at the measured cost each: the same
                  experiment, as validation draws nothing random). The counts
                  must match what the rows imply (expected_validations) or
                  the section fails. Shares are ratios within one process, so
                  machine load hits both sides.

--driver_flags adds driver flags to the experiments and study_time runs
(e.g. '--max_steps 20 --T 10' for a quick check; the published run uses the
defaults). Every scratch log and console log goes to a temporary folder,
removed at the end (--keep_tmp keeps it). --out PREFIX writes PREFIX.txt (the
report) and PREFIX.json (the numbers); bench/results.txt and .json are the
published run, so trial runs on a busy machine should go elsewhere.
"""
import argparse
import csv
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, 'binary_mnist_pathnet.py')
AUTO = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
PLAIN = os.path.join(ROOT, 'bench', 'plain_tf1.py')
# The first release: one process per experiment in its batch script.
RELEASE = '27c9215'
# The plain implementations: benchmark name -> plain_tf1's --forward.
PLAIN_VARIANTS = {'plain': 'masked', 'plain_cond': 'cond'}
SECTIONS = ('startup', 'per_generation', 'memory', 'experiments', 'study_time', 'shared',
            'plain', 'validation')
# The validation section's protocols (--validation_flags): the defaults, and
# the paper's tournament with plain gradient descent.
VALIDATION_FLAGS = ['', '--tournament shared --optimizer sgd --learning_rate 0.05']
# Columns that may differ between two runs of the same experiment.
TIMING_COLUMNS = ('timestamp', 'seconds')
# Quoted context, NOT measured by this script: figures the speed issue
# reported for other programs on a 2-core machine (not code of ours).
REFERENCE = [('2017 script, as published', '750', '14', '136', '918'),
             ('2017 script, no per-step summaries', '180-240', '', '', ''),
             ('PyTorch PathNet peer', '140', '7', '', '1400')]


def vmrss_mb(pid='self'):
    """Current resident memory (VmRSS) of a process, in MB."""
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def peak_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- in-process measurements (the --child modes) ------------------------------

IMPLS = ['pathnet', 'shared'] + list(PLAIN_VARIANTS)


def child(mode, generations, threads, impl='pathnet', seed=1, warmup=0):
    """In-process measurement: the driver's own task loop, threshold out of
    reach, so every task runs exactly warmup + `generations` tournaments; the
    first `warmup` of each task are not timed. Mode 'compare' also returns
    every generation's time. impl 'shared' is this project with --tournament
    shared; 'plain' puts the plain TF1 tournament of bench/plain_tf1.py in
    the same loop ('plain_cond': its --forward cond variant). The random
    streams are the driver's (binary_mnist_pathnet.experiment), so the same
    seed gives the same data, minibatch order and first pairs everywhere
    (plain_tf1 draws its initial weights its own way)."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(PLAIN))
    sys.modules.setdefault('keras', None)
    import numpy as np
    import binary_mnist_pathnet as driver
    import input_data
    import pathnet
    args = driver.parse_args(['--seed', str(seed), '--max_steps', str(warmup + generations),
                              '--threads', str(threads), '--quiet'] +
                             (['--tournament', 'shared'] if impl == 'shared' else []))
    args.threshold = 2.0
    data = input_data.load_mnist(input_data.default_data_dir(None))
    ticks = []

    class Ticks(driver.Report):
        def generation(self, task, *_):
            ticks.append((task, time.perf_counter()))
    ex = driver.Experiment(args, Ticks(args), driver.Stop())
    train = [input_data.binary_task(data['train_images'], data['train_labels'], a, b,
                                    args.noise, ex.data_rng)
             for a, b in ((args.a1, args.a2), (args.b1, args.b2))]
    del data
    if impl in PLAIN_VARIANTS:
        import plain_tf1
        net = plain_tf1.PlainPathNet(seed=seed, forward=PLAIN_VARIANTS[impl])
    else:
        net = pathnet.PathNet(tournament=args.tournament)
    out = {'ops_before': len(net.graph.get_operations())}
    with pathnet.session(net, threads) as sess:
        sess.run(net.init)
        frozen = keep = np.zeros((args.L, args.M), np.float32)
        for task in (0, 1):
            net.start_task(sess, task, *train[task], keep, ex.init_rng)
            ticks.append((task, time.perf_counter()))
            r = driver.evolve(net, sess, ex, task, frozen,
                              input_data.Batcher(len(train[task][0]), ex.batch_rng))
            frozen = keep = r.mask
    for task in (0, 1):
        t = [b - a for (ta, a), (tb, b) in zip(ticks, ticks[1:]) if ta == tb == task]
        out['task%d' % (task + 1)] = summary([1000 * x for x in t[warmup:]])
        if mode == 'compare':
            out['task%d' % (task + 1)]['ms'] = [round(1000 * x, 3) for x in t[warmup:]]
    out['ops_after'] = len(net.graph.get_operations())
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def memory_child(experiments, flags, results):
    """The driver's own main() running `experiments` seeds in this process
    (--seeds 0-N), with its experiment() wrapped to read VmRSS and the op
    count after each experiment (before its row is written)."""
    sys.path.insert(0, ROOT)
    import binary_mnist_pathnet as driver
    out = {'rss_mb': [], 'ops_before': None, 'ops_after': None}
    experiment = driver.experiment

    def measured(net, *args, **kwargs):
        if out['ops_before'] is None:
            out['ops_before'] = len(net.graph.get_operations())
            out['finalized'] = net.graph.finalized
            out['rss_before_mb'] = round(vmrss_mb(), 1)
        row = experiment(net, *args, **kwargs)
        out['rss_mb'].append(round(vmrss_mb(), 1))
        out['ops_after'] = len(net.graph.get_operations())
        return row
    driver.experiment = measured    # run() looks it up at each call
    t0 = time.perf_counter()
    status = driver.main(['--seeds', '0-%d' % (experiments - 1), '--quiet', '--threads', '1',
                          '--results', results] + flags, stop=driver.Stop())
    out['status'] = status
    out['wall_s'] = round(time.perf_counter() - t0, 1)
    out['peak_rss_mb'] = round(peak_mb(), 1)
    print(json.dumps(out))


def validation_schedule(generations, reached, val_every):
    """How many held-out evaluations evolve() makes in a task of `generations`
    generations whose winner reached the validation levels at the generations
    `reached` (the row's taskN_val_gen_* values; '' or None: not reached):
    every generation up to 4*val_every, then every val_every, while a level is
    unreached (the generation that reaches the last one is evaluated, none
    after it), and once at the end (val_every 0: only there)."""
    from results_log import VAL_LEVELS
    gens = [int(g) for g in reached if g not in ('', None)]
    last = max(gens) if len(gens) == len(VAL_LEVELS) else generations
    scheduled = sum(1 for g in range(1, min(generations - 1, last) + 1)
                    if val_every and (g <= 4 * val_every or g % val_every == 0))
    return scheduled + 1


def expected_validations(row, val_every):
    """Held-out evaluations of each task of an experiment, from its row."""
    from results_log import VAL_LEVELS
    return [validation_schedule(int(row['task%d_generations' % t]),
                                [row['task%d_val_gen_%.2f' % (t, v)] for v in VAL_LEVELS],
                                val_every) for t in (1, 2)]


def validation_child(seeds, flags, results):
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
    evaluate, tournament = pathnet.PathNet.evaluate, pathnet.PathNet.tournament

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

    evolve = driver.evolve

    def evolving(net, sess, ex, task, *args, **kwargs):
        now['task'] = task
        try:
            return evolve(net, sess, ex, task, *args, **kwargs)
        finally:
            now['task'] = None

    experiment = driver.experiment

    def measured(net, sess, data, ex):
        e = now['experiment'] = {'seed': ex.seed, 'val_s': 0.0, 'val_evaluations': 0,
                                 'val_per_task': [0, 0], 'max_evaluation_s': 0.0,
                                 'test_s': 0.0, 'test_evaluations': 0,
                                 'tournament_s': 0.0, 'tournaments': 0}
        t0 = clock()
        row = experiment(net, sess, data, ex)
        e['wall_s'] = clock() - t0
        now['experiment'] = None
        e['generations'] = [int(row['task%d_generations' % t]) for t in (1, 2)]
        e['expected_val_per_task'] = expected_validations(row, val_every)
        experiments.append(e)
        return row
    pathnet.PathNet.evaluate, pathnet.PathNet.tournament = timed_evaluate, timed_tournament
    driver.evolve, driver.experiment = evolving, measured   # looked up at each call
    t0 = clock()
    status = driver.main(['--seeds', seeds, '--quiet', '--threads', '1', '--results', results]
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
    run, or counts that disagree with what the rows and the driver imply (two
    test evaluations per experiment, one tournament per generation, the
    held-out evaluations of each task's schedule)."""
    problems = [] if out['status'] == 0 else ['the driver exited %s' % out['status']]
    if not out['experiments']:
        problems.append('no experiment was measured')
    for e in out['experiments']:
        seed = 'seed %s: ' % e['seed']
        if e['test_evaluations'] != 2:
            problems.append(seed + '%d test evaluations, not 2' % e['test_evaluations'])
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


def summary(ms):
    """Median and p10/p90 (nearest rank) of a list of milliseconds."""
    ms = sorted(ms)
    return {'generations': len(ms), 'median_ms': round(statistics.median(ms), 2),
            'p10_ms': round(ms[len(ms) // 10], 2), 'p90_ms': round(ms[9 * len(ms) // 10], 2)}


def run_child(mode, generations=0, threads=1, impl='pathnet', seed=1, warmup=0, extra=()):
    p = subprocess.run([sys.executable, __file__, '--child', mode, '--generations',
                        str(generations), '--threads', str(threads), '--impl', impl,
                        '--seed', str(seed), '--warmup', str(warmup)] + list(extra),
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit('error: child %s %s failed (status %d):\n%s'
                 % (mode, impl, p.returncode, p.stderr[-3000:]))
    return json.loads(p.stdout.strip().split('\n')[-1])


# -- sections -----------------------------------------------------------------

def comparison(impls, generations, warmup, rounds, seed):
    """impls[0] against the others, one process at a time, alternating
    (first, others..., first, others..., ...) so that a change in machine
    load hits all alike; one thread each, same seed. Per task: the pooled
    per-generation times of each implementation, and for each other one the
    ratio other/first of the pooled medians and of each round's medians
    (neighbours in time)."""
    raw = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            raw[impl].append(run_child('compare', generations, 1, impl, seed, warmup))
    base, others = impls[0], impls[1:]
    out = {'seed': seed, 'warmup': warmup, 'rounds': rounds, 'threads': 1,
           'base': base, 'variants': others}
    for task in ('task1', 'task2'):
        out[task] = {impl: summary([x for r in runs for x in r[task]['ms']])
                     for impl, runs in raw.items()}
        for v in others:
            out[task][v]['ratio'] = round(out[task][v]['median_ms'] /
                                          out[task][base]['median_ms'], 2)
            out[task][v]['ratio_per_round'] = [
                round(statistics.median(b[task]['ms']) / statistics.median(a[task]['ms']), 2)
                for a, b in zip(raw[base], raw[v])]
    out['peak_rss_mb'] = {impl: max(r['peak_rss_mb'] for r in runs) for impl, runs in raw.items()}
    out['ops'] = {impl: runs[0]['ops_after'] for impl, runs in raw.items()}
    return out


def startup(results):
    """Wall time from starting the driver to its first generation line."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, DRIVER, '--seed', '1', '--max_steps', '1',
                          '--results', results], stdout=subprocess.PIPE, text=True)
    phases = {}
    for line in p.stdout:
        m = re.match(r'ready .* imports ([\d.]+)s, data ([\d.]+)s, graph ([\d.]+)s', line)
        if m:
            phases = dict(zip(('imports_s', 'data_s', 'graph_s'), map(float, m.groups())))
        if line.startswith('task 1  gen    1'):
            phases['first_generation_s'] = time.perf_counter() - t0
            break
    p.stdout.read()
    p.wait()
    return phases


def pool(commands, jobs, logdir, env=None):
    """Run the commands, at most `jobs` at once, each as soon as a slot is
    free (os.wait: no polling delay); console output to logdir/<k>.log.
    Returns wall seconds and, per command, its seconds, peak RSS and status."""
    todo, running, runs = list(enumerate(commands)), {}, [None] * len(commands)
    t0 = time.perf_counter()
    while todo or running:
        while todo and len(running) < jobs:
            k, cmd = todo.pop(0)
            with open(os.path.join(logdir, '%d.log' % k), 'w') as f:
                p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
            running[p.pid] = (k, p, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        k, p, began = running.pop(pid)
        p.returncode = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                        else -os.WTERMSIG(status))
        runs[k] = {'seconds': round(time.perf_counter() - began, 2),
                   'peak_rss_mb': round(usage.ru_maxrss / 1024), 'status': p.returncode}
    return time.perf_counter() - t0, runs


def deal(seeds, jobs):
    """The auto script's split: seed k goes to process k mod jobs."""
    return [seeds[j::jobs] for j in range(jobs) if seeds[j::jobs]]


def driver_batch(mode, seeds, jobs, results, logdir, flags):
    """One batch of experiments with today's driver, one thread per process.
    per_seed: one process per experiment (--seed S), `jobs` at a time.
    many: the seeds dealt out to `jobs` processes, each --seeds its share."""
    common = ['--quiet', '--threads', '1', '--results', results] + flags
    if mode == 'per_seed':
        commands = [[sys.executable, DRIVER, '--seed', str(s)] + common for s in seeds]
    else:
        commands = [[sys.executable, DRIVER, '--seeds', ','.join(map(str, share))] + common
                    for share in deal(seeds, jobs)]
    os.makedirs(logdir, exist_ok=True)
    wall, runs = pool(commands, jobs, logdir)
    bad = [k for k, r in enumerate(runs) if r['status']]
    if bad:
        sys.exit('error: %s batch: process(es) %s failed; console logs in %s'
                 % (mode, bad, logdir))
    return wall, runs


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


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


def experiments_section(seeds, jobs, rounds, flags, tmp):
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


def validation_section(seeds, protocols, tmp):
    """Each protocol's experiments in a process of their own (validation_child):
    the share of each experiment's wall time spent on held-out evaluations."""
    runs = []
    for k, flags in enumerate(protocols):
        r = run_child('validation', extra=['--validation_seeds', seeds,
                                           '--validation_flags=' + flags,
                                           '--results', os.path.join(tmp, 'validation-%d.csv' % k)])
        if r['problems']:
            sys.exit('error: validation, flags %r: %s' % (flags, '; '.join(r['problems'][:5])))
        runs.append(r)
    return {'seeds': seeds, 'protocols': runs}


def release_checkout(tmp):
    """The first release's files, unpacked from this repository (read only:
    no worktree, nothing written into the repository)."""
    dest = os.path.join(tmp, 'release-' + RELEASE)
    os.makedirs(dest)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', RELEASE], capture_output=True)
    if archive.returncode:
        sys.exit('error: cannot unpack the first release %s with git archive: %s'
                 % (RELEASE, archive.stderr.decode().strip()))
    subprocess.run(['tar', '-x', '-C', dest], input=archive.stdout, check=True)
    return dest


def auto_batch(script, runs, jobs, seed_base, results, logdir, flags):
    """auto_binary_mnist_pathnet.sh RUNS JOBS -- --results LOG FLAGS, timed."""
    env = dict(os.environ, SEED_BASE=str(seed_base), RUN_LOG_DIR=logdir, PYTHON=sys.executable)
    t0 = time.perf_counter()
    p = subprocess.run([script, str(runs), str(jobs), '--', '--results', results] + flags,
                       env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit('error: %s exited %d:\n%s' % (script, p.returncode, (p.stdout + p.stderr)[-3000:]))
    return wall


def study_time(runs, jobs, seed_base, flags, baseline, tmp):
    """A study batch of `runs` experiments: today's auto script against the
    first release's (or today's driver one process per experiment),
    extrapolated to 1,000 experiments by wall/runs."""
    out = {'runs': runs, 'jobs': jobs, 'seed_base': seed_base, 'driver_flags': flags,
           'baseline': baseline}
    seeds = list(range(seed_base, seed_base + runs))
    batches = [('new', 'auto_binary_mnist_pathnet.sh (--seeds per process)')]
    batches.append(('old', 'first release %s auto_binary_mnist_pathnet.sh + driver (one '
                           'process per experiment)' % RELEASE if baseline == 'release' else
                    'today\'s driver, one process per experiment (--seed S)'))
    for name, what in batches:
        log = os.path.join(tmp, 'study-%s.csv' % name)
        logdir = os.path.join(tmp, 'study-%s-runs' % name)
        if name == 'new':
            wall = auto_batch(AUTO, runs, jobs, seed_base, log, logdir, flags)
        elif baseline == 'release':
            script = os.path.join(release_checkout(tmp), 'auto_binary_mnist_pathnet.sh')
            wall = auto_batch(script, runs, jobs, seed_base, log, logdir, flags)
        else:
            wall, _ = driver_batch('per_seed', seeds, jobs, log, logdir, flags)
        rows = read_rows(log)
        if sorted(int(r['seed']) for r in rows) != seeds:
            sys.exit('error: the %s study batch did not write one row per seed (%s)' % (name, log))
        gens = sum(int(r['task1_generations']) + int(r['task2_generations']) for r in rows)
        out[name] = {'what': what, 'wall_s': round(wall, 1),
                     'per_1000_h': round(1000 * wall / runs / 3600, 2),
                     'per_hour': round(3600 * runs / wall, 1), 'generations': gens,
                     'mean_generations': round(gens / runs, 1),
                     'ms_per_generation_of_batch': round(1000 * wall / gens, 2)}
    out['speedup'] = round(out['old']['wall_s'] / out['new']['wall_s'], 2)
    out['speedup_per_generation'] = round(out['old']['ms_per_generation_of_batch'] /
                                          out['new']['ms_per_generation_of_batch'], 2)
    return out


# -- command line -------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--sections', default=','.join(SECTIONS),
                   help='comma-separated, from: %s' % ', '.join(SECTIONS))
    p.add_argument('--repeats', type=int, default=3, help='processes per start-up figure')
    p.add_argument('--generations', type=int, default=100,
                   help='timed generations per task, per thread count or process')
    p.add_argument('--threads', default='1,2,0', help='TensorFlow thread counts to compare')
    p.add_argument('--warmup', type=int, default=10,
                   help='shared and plain: untimed generations per task before the timing')
    p.add_argument('--seed', type=int, default=1, help='shared and plain: the seed of all')
    p.add_argument('--memory_experiments', type=int, default=100,
                   help='memory: experiments in one process')
    p.add_argument('--memory_flags', default='--max_steps 30 --T 10',
                   help="memory: driver flags ('' for the defaults; write it with =)")
    p.add_argument('--experiments', type=int, default=20,
                   help='experiments: experiments per batch')
    p.add_argument('--seed_base', type=int, default=0,
                   help='experiments and study_time: the first seed')
    p.add_argument('--jobs', type=int, default=os.cpu_count(),
                   help='experiments and study_time: processes at once')
    p.add_argument('--rounds', type=int, default=2,
                   help='experiments, shared and plain: alternating rounds')
    p.add_argument('--study_runs', type=int, default=200,
                   help='study_time: experiments per batch')
    p.add_argument('--study_baseline', choices=['release', 'per_seed'], default='release',
                   help='study_time: the first release %s from git, or today\'s driver one '
                        'process per experiment' % RELEASE)
    p.add_argument('--driver_flags', default='',
                   help="experiments and study_time: extra driver flags for quick checks, e.g. "
                        "--driver_flags='--max_steps 20 --T 10' (write it with =)")
    p.add_argument('--validation_seeds', default='1000-1009',
                   help='validation: the seeds run in each protocol\'s process (disjoint from '
                        'the studies\')')
    p.add_argument('--validation_flags', action='append', default=None,
                   help="validation: a protocol's driver flags, one process each; repeat it for "
                        "several, write it with = ('--validation_flags=' for the defaults); "
                        "None: two, %s" % ' and '.join(repr(f) for f in VALIDATION_FLAGS))
    p.add_argument('--plain_variants', default=','.join(PLAIN_VARIANTS),
                   help='plain section: which of %s to measure' % ', '.join(PLAIN_VARIANTS))
    p.add_argument('--out', default=None,
                   help='write PREFIX.txt and PREFIX.json (bench/results is the published run)')
    p.add_argument('--json', default=None, help='write the numbers here')
    p.add_argument('--keep_tmp', action='store_true', help='keep the scratch folder')
    p.add_argument('--child', choices=['generations', 'compare', 'memory', 'validation'],
                   help=argparse.SUPPRESS)
    p.add_argument('--impl', choices=IMPLS, default='pathnet', help=argparse.SUPPRESS)
    p.add_argument('--results', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child == 'memory':
        return memory_child(a.memory_experiments, shlex.split(a.memory_flags), a.results)
    if a.child == 'validation':
        return validation_child(a.validation_seeds, shlex.split((a.validation_flags or [''])[-1]),
                                a.results)
    if a.child:
        return child(a.child, a.generations, int(a.threads), a.impl, a.seed, a.warmup)
    sections = a.sections.split(',')
    variants = a.plain_variants.split(',')
    unknown = set(sections) - set(SECTIONS) | set(variants) - set(PLAIN_VARIANTS)
    if unknown:
        p.error('unknown name(s) %s; sections: %s; plain variants: %s'
                % (', '.join(sorted(unknown)), ', '.join(SECTIONS), ', '.join(PLAIN_VARIANTS)))
    if not os.environ.get('MNIST_DATA_DIR') and not os.path.isdir(os.path.join(ROOT, 'MNIST_data')):
        sys.exit('error: set MNIST_DATA_DIR (or run the driver once to download MNIST)')
    flags = shlex.split(a.driver_flags)
    tmp = tempfile.mkdtemp(prefix='pathnet-bench-')
    log = os.path.join(tmp, 'bench.csv')
    out = {'cpu_cores': os.cpu_count(), 'python': sys.version.split()[0],
           'sections': sections, 'argv': sys.argv[1:]}
    try:
        if 'startup' in sections:
            runs = [startup(log) for _ in range(a.repeats)]
            out['startup'] = {k: round(statistics.median(r[k] for r in runs), 2)
                              for k in runs[0]}
        if 'per_generation' in sections:
            out['per_generation'] = {t: run_child('generations', a.generations, int(t))
                                     for t in a.threads.split(',')}
        if 'memory' in sections:
            m = run_child('memory', extra=['--memory_experiments', str(a.memory_experiments),
                                           '--memory_flags=' + a.memory_flags,
                                           '--results', os.path.join(tmp, 'memory.csv')])
            m['experiments'], m['flags'] = a.memory_experiments, a.memory_flags
            out['memory'] = m
        if 'experiments' in sections:
            seeds = list(range(a.seed_base, a.seed_base + a.experiments))
            out['experiments'] = experiments_section(seeds, a.jobs, a.rounds, flags, tmp)
        if 'study_time' in sections:
            out['study_time'] = study_time(a.study_runs, a.jobs, a.seed_base, flags,
                                           a.study_baseline, tmp)
        if 'shared' in sections:
            out['shared'] = comparison(['pathnet', 'shared'], a.generations, a.warmup,
                                       a.rounds, a.seed)
        if 'plain' in sections:
            out['plain'] = comparison(['pathnet'] + variants, a.generations, a.warmup,
                                      a.rounds, a.seed)
        if 'validation' in sections:
            out['validation'] = validation_section(a.validation_seeds, a.validation_flags
                                                   or VALIDATION_FLAGS, tmp)
    finally:
        if a.keep_tmp:
            print('scratch folder kept: %s' % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out['tensorflow'] = json.loads(subprocess.run(
        [sys.executable, '-c', 'import json, tensorflow as tf; print(json.dumps(tf.__version__))'],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')).stdout)
    text = report(out, a)
    print(text, end='')
    paths = [a.json] if a.json else []
    if a.out:
        with open(a.out + '.txt', 'w') as f:
            f.write(text)
        paths.append(a.out + '.json')
    for path in paths:
        with open(path, 'w') as f:
            json.dump(out, f, indent=1)


# -- the report -----------------------------------------------------------------

NAMES = {'pathnet': 'this project', 'shared': 'this project, --tournament shared',
         'plain': 'plain TF1 tournament', 'plain_cond': 'plain TF1 tournament, cond forward'}


def report(out, a):
    """The report as text: one paragraph per section that was run."""
    lines = ['', 'binary_mnist_pathnet.py on %d cores, Python %s, TensorFlow %s'
             % (out['cpu_cores'], out['python'], out['tensorflow']),
             'benchmark.py %s' % ' '.join(out['argv'])]
    say = lines.append
    s = out.get('startup')
    if s:
        say('')
        say('start-up to first generation: %.2f s (imports %.2f, data %.2f, graph %.2f;'
            ' median of %d)' % (s['first_generation_s'], s['imports_s'], s['data_s'],
                                s['graph_s'], a.repeats))
    if 'per_generation' in out:
        say('')
        say('ms per generation (median [p10, p90] over %d generations per task)' % a.generations)
        for t, r in out['per_generation'].items():
            say('  threads %-3s task 1 %6.2f [%.2f, %.2f]   task 2 %6.2f [%.2f, %.2f]'
                % (t, r['task1']['median_ms'], r['task1']['p10_ms'], r['task1']['p90_ms'],
                   r['task2']['median_ms'], r['task2']['p10_ms'], r['task2']['p90_ms']))
    m = out.get('memory')
    if m:
        rss = m['rss_mb']
        at = [k for k in (1, 10, 50, 100) if k <= len(rss)]
        if len(rss) not in at:
            at.append(len(rss))
        say('')
        say('memory: %d experiments in one process (--seeds 0-%d%s, threads 1), %.0f s:'
            % (m['experiments'], m['experiments'] - 1,
               ', ' + m['flags'] if m['flags'] else ', default settings', m['wall_s']))
        half = rss[len(rss) // 2:]
        say('  RSS after experiment %s: %s MB (%.1f MB before the first; min %.1f, max %.1f;'
            ' from experiment %d to %d: %+.1f MB; over the last %d: %.1f-%.1f MB)'
            % (', '.join(map(str, at)), ', '.join('%.1f' % rss[k - 1] for k in at),
               m['rss_before_mb'], min(rss), max(rss), min(10, len(rss)), len(rss),
               rss[-1] - rss[min(10, len(rss)) - 1], len(half), min(half), max(half)))
        say('  graph ops %d before the first experiment, %d after the last (finalized: %s)'
            % (m['ops_before'], m['ops_after'], m['finalized']))
    e = out.get('experiments')
    if e:
        say('')
        say('experiments per hour, seeds %d-%d (%d experiments), %d processes at once, %d round(s)%s:'
            % (e['seeds'][0], e['seeds'][1], e['experiments'], e['jobs'], e['rounds'],
               ', driver flags ' + ' '.join(e['driver_flags']) if e['driver_flags'] else ''))
        for mode, what in (('per_seed', '(a) one process per experiment (--seed S)'),
                           ('many', '(b) seeds dealt out, --seeds per process')):
            say('  %-44s %7.1f per hour (rounds: %s; wall %s s)'
                % (what, e[mode + '_per_hour'], ', '.join('%.1f' % r['per_hour'] for r in e[mode]),
                   ', '.join('%.1f' % r['wall_s'] for r in e[mode])))
        say('  ratio (b)/(a): %.2f (per round %s)'
            % (e['ratio'], ', '.join('%.2f' % x for x in e['ratio_per_round'])))
        say('  peak RSS of a process: (a) %d MB, (b) %d MB'
            % (max(r['peak_rss_mb'] for r in e['per_seed']),
               max(r['peak_rss_mb'] for r in e['many'])))
        say('  rows of (a) and (b), every round, same seed: %s'
            % ('identical but for %s' % ' and '.join(TIMING_COLUMNS) if e['rows_agree'] else
               'DIFFER: ' + '; '.join(e['row_differences'][:5])))
    st = out.get('study_time')
    if st:
        say('')
        say('study batch of %d experiments (seeds %d-%d), %d jobs%s:'
            % (st['runs'], st['seed_base'], st['seed_base'] + st['runs'] - 1, st['jobs'],
               ', driver flags ' + ' '.join(st['driver_flags']) if st['driver_flags'] else ''))
        for name in ('new', 'old'):
            r = st[name]
            say('  %s: wall %.1f s, %.1f per hour, 1,000 experiments in %.2f h; %d generations'
                ' (%.1f per experiment), %.2f ms of wall per generation'
                % (r['what'], r['wall_s'], r['per_hour'], r['per_1000_h'], r['generations'],
                   r['mean_generations'], r['ms_per_generation_of_batch']))
        say('  old/new wall: %.2fx; per generation: %.2fx%s'
            % (st['speedup'], st['speedup_per_generation'],
               ' (the release draws initial weights from TensorFlow\'s seeded initialisers, so its'
               ' seeds run other experiments; the per-generation ratio allows for that)'
               if st['baseline'] == 'release' else ''))
    for key in ('shared', 'plain'):
        c = out.get(key)
        if not c:
            continue
        say('')
        say('this project (--tournament restore) against %s:'
            % ('--tournament shared' if key == 'shared' else
               'a plain per-minibatch TF1 tournament (bench/plain_tf1.py)'))
        say('ms per generation, median [p10, p90] of %d generations per task after %d untimed,'
            ' %d alternating processes each, seed %d, 1 thread'
            % (a.generations * c['rounds'], c['warmup'], c['rounds'], c['seed']))
        for task in ('task1', 'task2'):
            say('  %s' % task.replace('task', 'task '))
            for impl in [c['base']] + c['variants']:
                r = c[task][impl]
                say('    %-36s %7.2f [%.2f, %.2f]%s'
                    % (NAMES[impl], r['median_ms'], r['p10_ms'], r['p90_ms'],
                       '' if impl == c['base'] else '   %.2fx this project (per round %s)'
                       % (r['ratio'], ', '.join('%.2f' % x for x in r['ratio_per_round']))))
        say('  peak RSS MB %s, graph ops %s' % (c['peak_rss_mb'], c['ops']))
    v = out.get('validation')
    if v:
        say('')
        say('held-out validation: PathNet.evaluate during evolve() (not the 2 final test'
            ' evaluations) against the wall time of each experiment, seeds %s in one process'
            ' per protocol, threads 1:' % v['seeds'])
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
    c = out.get('plain')
    if 'per_generation' in out or c:
        # Task 1, one thread. With the plain section, its figure for this
        # project: measured next to the plain rows, after the same warm-up.
        one = (c['task1']['pathnet']['median_ms'] if c
               else out['per_generation']['1']['task1']['median_ms'])
        s = s or {}
        per_seed = e['per_seed'] if e else []
        say('')
        say('| | ms/generation | s to 1st generation | s per experiment process (a) | peak MB |')
        say('|---|---|---|---|---|')
        say('| this project (threads 1), measured | %.1f | %s | %s | %s |'
            % (one, fmt(s.get('first_generation_s')),
               fmt(statistics.median(r['median_process_s'] for r in per_seed) if per_seed else None),
               fmt(max(r['peak_rss_mb'] for r in per_seed) if per_seed else None, '%.0f')))
        for v in c['variants'] if c else ():
            say('| %s (bench/plain_tf1.py), measured | %.1f | | | %.0f |'
                % (NAMES[v], c['task1'][v]['median_ms'], c['peak_rss_mb'][v]))
        for row in REFERENCE:
            say('| %s (quoted, not measured here) | %s | %s | %s | %s |' % row)
    return '\n'.join(lines) + '\n'


def fmt(x, form='%.1f'):
    return '' if x is None else form % x


if __name__ == '__main__':
    main()
