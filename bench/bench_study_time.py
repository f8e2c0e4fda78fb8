"""The study_time section: the wall time of a whole study batch
(`auto_binary_mnist_pathnet.sh RUNS`, jobs = cores), extrapolated to 1,000
experiments, against the same batch of the first release's script and driver
(unpacked from this repository with git archive) or, with --study_baseline
per_seed, today's driver one process per experiment."""
import os
import subprocess
import sys
import time

from bench_common import ROOT, driver_batch, read_rows

AUTO = os.path.join(ROOT, 'auto_binary_mnist_pathnet.sh')
# The first release: one process per experiment in its batch script.
RELEASE = '27c9215'


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


def section(runs, jobs, seed_base, flags, baseline, tmp):
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


def report(st, a):
    lines = ['', 'study batch of %d experiments (seeds %d-%d), %d jobs%s:'
             % (st['runs'], st['seed_base'], st['seed_base'] + st['runs'] - 1, st['jobs'],
                ', driver flags ' + ' '.join(st['driver_flags']) if st['driver_flags'] else '')]
    for name in ('new', 'old'):
        r = st[name]
        lines.append('  %s: wall %.1f s, %.1f per hour, 1,000 experiments in %.2f h; %d'
                     ' generations (%.1f per experiment), %.2f ms of wall per generation'
                     % (r['what'], r['wall_s'], r['per_hour'], r['per_1000_h'], r['generations'],
                        r['mean_generations'], r['ms_per_generation_of_batch']))
    lines.append('  old/new wall: %.2fx; per generation: %.2fx%s'
                 % (st['speedup'], st['speedup_per_generation'],
                    ' (the release draws initial weights from TensorFlow\'s seeded initialisers,'
                    ' so its seeds run other experiments; the per-generation ratio allows for'
                    ' that)' if st['baseline'] == 'release' else ''))
    return lines
