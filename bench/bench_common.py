"""What several benchmark sections share: the repository's paths, the
per-generation summary, the call of a measuring child process, the results
log reader and the pool that runs batches of driver processes."""
import csv
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, 'binary_mnist_pathnet.py')
# The in-process measurements run behind the runner's hidden --child flag, so
# a child is started the same way whichever section asks for it.
RUNNER = os.path.join(ROOT, 'bench', 'benchmark.py')


def peak_mb():
    """This process's peak resident memory so far, in MB."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(ms):
    """Median and p10/p90 (nearest rank) of a list of milliseconds."""
    ms = sorted(ms)
    return {'generations': len(ms), 'median_ms': round(statistics.median(ms), 2),
            'p10_ms': round(ms[len(ms) // 10], 2), 'p90_ms': round(ms[9 * len(ms) // 10], 2)}


def run_child(mode, generations=0, threads=1, impl='pathnet', seed=1, warmup=0, extra=()):
    """One --child measurement in a fresh process; its last stdout line is JSON."""
    p = subprocess.run([sys.executable, RUNNER, '--child', mode, '--generations',
                        str(generations), '--threads', str(threads), '--impl', impl,
                        '--seed', str(seed), '--warmup', str(warmup)] + list(extra),
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit('error: child %s %s failed (status %d):\n%s'
                 % (mode, impl, p.returncode, p.stderr[-3000:]))
    return json.loads(p.stdout.strip().split('\n')[-1])


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


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
    many: the seeds dealt out to `jobs` processes, each --seeds its share.
    The experiments section runs both; study_time runs per_seed as a baseline."""
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


def fmt(x, form='%.1f'):
    """A report cell: blank for a figure that was not measured."""
    return '' if x is None else form % x
