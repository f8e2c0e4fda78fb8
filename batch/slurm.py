"""The SLURM half of the batch (SCHEDULER=slurm; cli.py says the rest):
the seeds still to do go to ONE job array. Each array task runs a share of
them in one process (--seeds) and appends to a log of its own in the parts
folder, <log without .csv>-slurm/ (shared storage: nothing relies on flock
across nodes), which the resume rule, the plot scripts and `results_log.py
merge` all read. Its events go to a file of its own there too,
events-<job>_<task>.jsonl, from which --wait reports per seed once the array
is gone; SLURM without accounting keeps no exit codes to ask for.
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
import time

import results_log
from batch.common import DRIVER, HERE, Exit, last_line, warn_bad
from events import parse as parse_events


def squeue(job):
    """Whether the job array is still queued or running: True or False, or
    the error squeue gave (a busy controller timing out, say: not the end)."""
    try:
        r = subprocess.run(['squeue', '-h', '-j', str(job), '-o', '%i'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    except OSError as e:
        return str(e)
    if r.returncode == 0:
        return bool(r.stdout.strip())
    if 'Invalid job id' in r.stdout:    # an id it no longer knows: the array ended MinJobAge ago
        return False
    return r.stdout.strip() or 'squeue exited with status %d' % r.returncode


def check_claims(parts, condition, todo):
    """An array still queued or running holds its seeds (claim-<id>.txt): they
    have no rows until they finish, and submitting them again would run them
    twice. Claims of arrays that are gone are removed."""
    wanted = set(todo)
    for path in sorted(glob.glob(os.path.join(glob.escape(parts), 'claim-*.txt'))):
        job = os.path.basename(path)[len('claim-'):-len('.txt')]
        if not job.isdigit():
            continue
        queued = squeue(job)
        if queued is False:
            os.unlink(path)
            continue
        if queued is not True:
            raise Exit('cannot ask squeue whether job array %s (claim %s) still runs: %s'
                       % (job, path, queued))
        with open(path, encoding='utf-8', errors='replace') as f:
            head, _, seeds = f.read().partition('\n')
        clash = [s for s in seeds.split() if s.isdigit() and int(s) in wanted]
        if head == condition and clash:
            raise Exit('seed %s of this condition is in job array %s, still queued or running; '
                       'wait for it (squeue -j %s) or scancel it, then rerun'
                       % (clash[0], job, job))


def job_script(shares, jobs, flags, python, args, parts, seeds_file, out):
    """The array's job script: task i runs line i+1 of the seeds file."""
    q = shlex.quote
    command = [python, DRIVER, '--seeds', '"$seeds"', '--threads', str(max(1, args.threads))]
    return '\n'.join([
        '#!/bin/bash',
        '#SBATCH --job-name=pathnet-%s' % args.control,
        '#SBATCH --array=0-%d%%%d' % (len(shares) - 1, jobs),
        '#SBATCH --cpus-per-task=%d' % max(1, args.threads),
        # A #SBATCH line cannot hold a folder with a space, and % is a file name
        # pattern (%% a literal %): --output is given on sbatch's command line.
        '# sbatch --output=%s' % out,
        'parts=%s' % q(parts),
        'task=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}',
        'seeds=$(sed -n "$(( SLURM_ARRAY_TASK_ID + 1 ))p" %s)' % q(seeds_file),
        'export PATHNET_EVENTS="$parts/events-$task.jsonl"',
        # The last --results wins: each task appends to a log of its own.
        'exec %s %s --results "$parts/part-$task.csv"'
        % (' '.join(c if c == '"$seeds"' else q(c) for c in command),
           ' '.join(map(q, flags))), ''])


def read_events(path):
    """The events of a finished task ([] if it wrote none); a line cut short
    or garbled (a task killed mid-write) is warned about and skipped."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return []
    events, rest, bad = parse_events(data)
    warn_bad(bad + [rest] if rest else bad, path)
    return events


def report(job, shares, parts, tally):
    """Per seed, from each task's events: done, failed, or what its task said
    last if it ended without a word about the seed."""
    failures = []
    for t, share in enumerate(shares):
        out = os.path.join(parts, 'slurm-%s_%d.out' % (job, t))
        events = read_events(os.path.join(parts, 'events-%s_%d.jsonl' % (job, t)))
        started = {e['seed'] for e in events if e['event'] == 'start'}
        ends = {e['seed']: e for e in events if e['event'] != 'start'}
        last = last_line(out) or 'no output'   # a task cancelled before it ran has none
        for seed in share:
            e = ends.get(seed)
            if e and e['event'] == 'done':
                tally.done(seed, e)
            elif e:
                failures.append((seed, e['error'], out))
            elif seed in started:
                failures.append((seed, 'its task ended during it: ' + last, out))
            else:
                failures.append((seed, 'not run: its task ended: ' + last, out))
    for failure in failures:
        tally.fail(*failure)


def submit(todo, jobs, flags, python, args, condition, parts, tally, signals,
           seeds_per_task=None, sbatch_args=(), wait=False, poll=2.0):
    """One job array for todo, at most jobs tasks at a time; with wait, until
    it is gone, then report and merge. The exit status."""
    if not shutil.which('sbatch'):
        raise Exit('SCHEDULER=slurm: sbatch not found (is SLURM installed here?)')
    try:
        os.makedirs(parts, exist_ok=True)
    except OSError as e:
        raise Exit('cannot create %s: %s' % (parts, e.strerror)) from None
    parts = os.path.abspath(parts)
    per = seeds_per_task or -(-len(todo) // jobs)
    shares = [todo[i:i + per] for i in range(0, len(todo), per)]
    check_claims(parts, condition, todo)

    # The job script and the seeds stay in the folder, so what ran can be read back.
    stamp = '%s-%d' % (time.strftime('%Y%m%d-%H%M%S'), os.getpid())
    seeds_file = os.path.join(parts, 'seeds-%s.txt' % stamp)
    script = os.path.join(parts, 'job-%s.sh' % stamp)
    out = parts.replace('%', '%%') + '/slurm-%A_%a.out'
    try:
        with open(seeds_file, 'w') as f:
            f.writelines(','.join(map(str, share)) + '\n' for share in shares)
        with open(script, 'w') as f:
            f.write(job_script(shares, jobs, flags, python, args, parts, seeds_file, out))
    except OSError as e:
        raise Exit('cannot write %s: %s' % (e.filename, e.strerror)) from None
    # sbatch passes its environment on to the tasks: not this batch's own variables.
    env = {k: v for k, v in os.environ.items() if k not in ('PATHNET_BATCH_PID', 'PATHNET_EVENTS')}
    r = subprocess.run(['sbatch', '--parsable', '--output=' + out] + list(sbatch_args) + [script],
                       stdout=subprocess.PIPE, universal_newlines=True, env=env)
    if r.returncode != 0:
        raise Exit('sbatch refused the job array (%s)' % script)
    job = r.stdout.strip().split(';')[0]
    with open(os.path.join(parts, 'claim-%s.txt' % job), 'w') as f:
        f.write('%s\n%s\n' % (condition, ' '.join(map(str, todo))))
    print('submitted job array %s: %d run(s) in %d task(s) of up to %d seed(s), at most %d at '
          'once; %d skipped (already in %s or %s/)' % (job, len(todo), len(shares), per, jobs,
                                                      tally.skipped, args.results, parts),
          flush=True)
    print('follow it with: squeue -j %s; task logs: %s/slurm-%s_*.out' % (job, parts, job))
    print('when it is done: %s' % ' '.join(map(shlex.quote, [
        python, os.path.join(HERE, 'results_log.py'), 'merge', args.results, parts])),
        flush=True)
    if not wait:
        return 0

    said = None
    while True:
        queued = squeue(job)
        if queued is False:
            break
        if queued is not True and queued != said:
            said = queued
            print('warning: squeue failed, polling on: %s' % queued, file=sys.stderr, flush=True)
        if signals.sleep(poll):
            print('interrupted: job array %s goes on; follow it with squeue -j %s' % (job, job),
                  file=sys.stderr, flush=True)
            return 130
    report(job, shares, parts, tally)
    # Nothing to merge when no task wrote a row (merge refuses a folder without
    # *.csv); a merge that fails is not one more failed experiment.
    merged = 0
    if glob.glob(os.path.join(glob.escape(parts), '*.csv')):
        merged = results_log.main(['merge', args.results, parts])
        sys.stdout.flush()
    tally.summary()
    return 0 if tally.failed == 0 and merged == 0 else 1
