"""The batch's command (USAGE below, or auto_binary_mnist_pathnet.sh --help):
it works out what to run (the seeds not yet in the results log, by the
driver's own argument parser and results_log's resume rule), then hands the
seeds to local.py (processes here) or slurm.py (a SLURM job array).

    ./auto_binary_mnist_pathnet.sh 20 2 -- --quiet     # the command line
    status = batch.cli.run(20, 2, ['--quiet'])          # the same, in-process
"""
import os
import re
import sys

import binary_mnist_pathnet as driver
import results_log
from batch import local, slurm
from batch.common import CORES, DRIVER, PROG, SEED_LIMIT, NO_SEED, Exit, Signals, Tally

USAGE = """usage: {prog} [RUNS] [JOBS] [--wait] [-- FLAGS...]

Runs RUNS experiments of binary_mnist_pathnet.py (default 1000) in JOBS
processes at a time (default: the number of cores, {cores} here). Run i
(0..RUNS-1) gets seed SEED_BASE+i; the seeds still to do are dealt out to
the JOBS processes, each of which runs its share one after another
(--seeds), so TensorFlow starts once per process, not once per experiment.
Every experiment appends one row to the same results log, the driver's
--results (default results/binary_mnist_pathnet.csv). FLAGS go to every
run unchanged (they must not set --seed or --seeds). Prints "<i> Iteration,
Entire Iter:..." and a progress line per finished experiment, then a summary.

Resume: rerun the same command. A seed is skipped if the log already holds a
row of the same condition: same --control (default pathnet) and same
settings column (the non-default flags that change what is computed).
Failed and interrupted experiments leave no row and are run again. While a
batch's runs are alive (even if the batch itself was killed), a second batch
on the same log refuses to start.

Threads: each process runs with the driver's --threads (default 1, the
fastest for this model; see docs/speed.md), so JOBS = cores
uses the machine. FLAGS may set --threads.

Environment:
  SEED_BASE    seed of run 0 (default 0)
  RUN_LOG_DIR  folder of the per-experiment console logs, CONTROL-seedN.log
               (default: runs/ beside the results log); while a process
               runs, its whole console and its events are there too
               (batchPID-J.out, .events), left behind only by a batch that
               was killed with -9
  PYTHON       interpreter of this batch and its runs (default: .venv/bin/python
               beside this script if it exists, else python3)

On a SLURM cluster (SCHEDULER=slurm), the seeds still to do go to ONE job
array instead, at most JOBS tasks at a time, each task running a share of
them and appending to a log of its own, <log without .csv>-slurm/part-<job
id>_<task>.csv; rows there count as done when resuming. The script prints the
job id and exits, or with --wait (or WAIT=1) polls squeue until the array is
gone, then reports per seed as above (from each task's events, events-<job
id>_<task>.jsonl), merges the folder into the log (results_log.py merge) and
exits 1 if any seed failed. While an array is queued or running, another for
any of its seeds of the same condition is refused (exit 2). Also:
  SEEDS_PER_TASK  seeds per array task (default: RUNS/JOBS, rounded up)
  SLURM_LOG_DIR   the tasks' folder (logs, events, job script, seeds file)
  SBATCH_ARGS     more sbatch options, split at spaces (e.g. --partition=x)
  SLURM_POLL      seconds between squeue polls with --wait (default 2)

Exit status: 0 all experiments done, 1 some failed, 2 bad usage or another
batch is running on the log, 130 interrupted (Ctrl-C or SIGTERM stops every
process at its next tournament; the log keeps whole rows only)."""


def read_flags(flags):
    """FLAGS as the runs will read them, by the driver's own parser
    (abbreviations, --x=y, the last of a repeated flag)."""
    saved = sys.argv[:]
    sys.argv[:1] = [DRIVER]             # the name in its messages
    try:
        args = driver.parse_args(['--seed', str(NO_SEED)] + list(flags))
    except SystemExit as e:             # it printed its --help (0) or what it refuses (2)
        raise Exit(None, e.code if isinstance(e.code, int) else 2) from None
    finally:
        sys.argv[:] = saved
    if args.seed != NO_SEED:
        raise Exit('FLAGS must not set --seed: run i gets SEED_BASE+i')
    return args


def run(runs, jobs=None, flags=(), seed_base=0, python=None, run_log_dir=None,
        scheduler='local', wait=False, seeds_per_task=None, slurm_log_dir=None,
        sbatch_args=(), slurm_poll=2.0):
    """RUNS experiments, seeds seed_base.., at most JOBS processes (default:
    the cores) or array tasks at a time, each given the driver flags FLAGS;
    the other arguments are the environment variables of USAGE (python: the
    runs' interpreter, default this one). Prints what the script prints and
    returns its exit status. Call it from the main thread: it handles SIGINT,
    SIGTERM and SIGHUP while it runs."""
    try:
        jobs = CORES if jobs is None else jobs
        if runs < 1 or jobs < 1:
            raise Exit('%s must be a positive integer, got %d' % (('RUNS', runs) if runs < 1
                                                                  else ('JOBS', jobs)))
        if not 0 <= seed_base <= SEED_LIMIT - runs:
            raise Exit('SEED_BASE must be an integer with 0 <= SEED_BASE+RUNS-1 < 2^31, '
                       'got %d' % seed_base)
        if scheduler not in ('local', 'slurm'):
            raise Exit("SCHEDULER must be local or slurm, got '%s'" % scheduler)
        args = read_flags(flags)
        results, control = args.results, args.control
        settings = driver.settings(args)
        condition = '%s %s' % (control, settings)
        # Seeds run on a cluster count as done before they are merged into the log.
        parts = slurm_log_dir or os.path.splitext(results)[0] + '-slurm'
        if os.path.isdir(results):
            raise Exit('%s is a directory, not a results log' % results)
        try:
            done = results_log.done_seeds([results, parts], control, settings)
        except results_log.LogError as e:
            raise Exit(str(e)) from None
        todo = [s for s in range(seed_base, seed_base + runs) if s not in done]
        tally = Tally(seed_base, results, todo, runs - len(todo))
        if not todo:
            print('0 run(s) to do, %d skipped (already in %s)' % (tally.skipped, results),
                  flush=True)
            tally.summary()
            return 0
        jobs = min(jobs, len(todo))
        python = python or sys.executable
        with Signals() as signals:
            if scheduler == 'slurm':
                return slurm.submit(todo, jobs, flags, python, args, condition, parts,
                                    tally, signals, seeds_per_task, sbatch_args, wait,
                                    slurm_poll)
            logdir = run_log_dir or os.path.join(os.path.dirname(results) or '.', 'runs')
            return local.run_local(todo, jobs, flags, python, logdir, results, condition,
                                   control, tally, signals)
    except Exit as e:
        if e.message:
            print('error: %s' % e.message, file=sys.stderr, flush=True)
        return e.status


def number(name, text, pattern='[1-9][0-9]*', what='a positive integer'):
    if not re.fullmatch(pattern, text):
        raise Exit("%s must be %s, got '%s'" % (name, what, text))
    return int(text)


def main(argv=None):
    """The command line (USAGE): arguments and environment variables, then run()."""
    args = list(sys.argv[1:] if argv is None else argv)
    pos, flags, wait = [], [], os.environ.get('WAIT') == '1'
    while args:
        a = args.pop(0)
        if a in ('-h', '--help'):
            print(USAGE.format(prog=PROG, cores=CORES))
            return 0
        if a == '--':
            flags = args
            break
        if a == '--wait':
            wait = True
        else:
            pos.append(a)
    env = os.environ.get
    try:
        if len(pos) > 2:
            raise Exit('too many arguments: %s (driver flags go after --; see --help)'
                       % ' '.join(pos))
        runs = number('RUNS', pos[0] if pos else '1000')
        jobs = number('JOBS', pos[1] if len(pos) > 1 else str(CORES))
        base = number('SEED_BASE', env('SEED_BASE') or '0', '0|[1-9][0-9]*',
                      'an integer with 0 <= SEED_BASE+RUNS-1 < 2^31')
        scheduler = env('SCHEDULER') or 'local'
        per, poll = None, env('SLURM_POLL') or '2'
        if scheduler == 'slurm':
            per = number('SEEDS_PER_TASK', env('SEEDS_PER_TASK')) if env('SEEDS_PER_TASK') \
                else None
            if not re.fullmatch(r'[0-9]*\.?[0-9]+', poll):
                raise Exit("SLURM_POLL must be a number of seconds, got '%s'" % poll)
    except Exit as e:
        print('error: %s' % e.message, file=sys.stderr)
        return e.status
    return run(runs, jobs, flags, base, python=env('PYTHON') or None,
               run_log_dir=env('RUN_LOG_DIR') or None, scheduler=scheduler, wait=wait,
               seeds_per_task=per, slurm_log_dir=env('SLURM_LOG_DIR') or None,
               sbatch_args=(env('SBATCH_ARGS') or '').split(), slurm_poll=float(poll))
