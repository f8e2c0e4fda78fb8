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
  slots           experiments per hour with 2 processes x --slots K for each
                  K of --slots_ks (--slots_experiments seeds), ms per
                  experiment-generation, peak RSS, a trace, and with
                  --slots_study_runs a default study through the auto script
                  for K = 1 and the best K (bench_slots.py);
  kernels         per K of --kernels_ks, one thread: ms per slot of a lockstep
                  tournament, its traced split, and layer 1's kernels alone,
                  per slot and batched over the slots (bench_kernels.py).

--driver_flags adds driver flags to the experiments and study_time runs
(e.g. '--max_steps 20 --T 10' for a quick check; the published run uses the
defaults). Every scratch log and console log goes to a temporary folder,
removed at the end (--keep_tmp keeps it). --out PREFIX writes PREFIX.txt (the
report) and PREFIX.json (the numbers); bench/results.txt and .json are the
published run, so trial runs on a busy machine should go elsewhere.

Layout: this file is the runner (flags, sections, the report, the output
files); each section's measurement and report paragraph is a module of its own
next to it: bench_startup.py, bench_per_generation.py (also the in-process
timer the shared and plain sections use), bench_memory.py,
bench_experiments.py, bench_study_time.py, bench_tournament.py (shared and
plain), bench_validation.py, bench_slots.py and bench_kernels.py;
bench_common.py holds what several share.
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

import bench_experiments
import bench_kernels
import bench_memory
import bench_per_generation
import bench_slots
import bench_startup
import bench_study_time
import bench_tournament
import bench_validation
from bench_common import ROOT, fmt
from bench_per_generation import IMPLS, PLAIN_VARIANTS
from bench_study_time import RELEASE
from bench_validation import VALIDATION_FLAGS

SECTIONS = ('startup', 'per_generation', 'memory', 'experiments', 'study_time', 'shared',
            'plain', 'validation', 'slots', 'kernels')
# Quoted context, NOT measured by this script: figures the speed issue
# reported for other programs on a 2-core machine (not code of ours).
REFERENCE = [('2017 script, as published', '750', '14', '136', '918'),
             ('2017 script, no per-step summaries', '180-240', '', '', ''),
             ('PyTorch PathNet peer', '140', '7', '', '1400')]


# -- command line -------------------------------------------------------------

def parser():
    """The command line; the report reads its repeats and generations."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--slots_ks', default='1,2,4,8,16',
                   help='slots: the K of 2 processes x --slots K (1 is --seeds as before)')
    p.add_argument('--slots_study_runs', type=int, default=0,
                   help='slots: a default study of this many experiments through the auto '
                        'script for K = 1 and the best K (0: none)')
    p.add_argument('--kernels_ks', default='1,2,4,8',
                   help='kernels: the K whose lockstep tournament and layer-1 kernels are timed')
    p.add_argument('--slots_experiments', type=int, default=100,
                   help='slots: experiments per K (seeds SEED_BASE..)')
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
    return p


def main():
    p = parser()
    a = p.parse_args()
    if a.child == 'memory':
        return bench_memory.child(a.memory_experiments, shlex.split(a.memory_flags), a.results)
    if a.child == 'validation':
        return bench_validation.child(a.validation_seeds,
                                      shlex.split((a.validation_flags or [''])[-1]), a.results)
    if a.child:
        return bench_per_generation.child(a.child, a.generations, int(a.threads), a.impl,
                                          a.seed, a.warmup)
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
    out = {'cpu_cores': os.cpu_count(), 'python': sys.version.split()[0],
           'sections': sections, 'argv': sys.argv[1:]}
    try:
        if 'startup' in sections:
            out['startup'] = bench_startup.section(a.repeats, os.path.join(tmp, 'bench.csv'))
        if 'per_generation' in sections:
            out['per_generation'] = bench_per_generation.section(a.generations,
                                                                 a.threads.split(','))
        if 'memory' in sections:
            out['memory'] = bench_memory.section(a.memory_experiments, a.memory_flags, tmp)
        if 'experiments' in sections:
            seeds = list(range(a.seed_base, a.seed_base + a.experiments))
            out['experiments'] = bench_experiments.section(seeds, a.jobs, a.rounds, flags, tmp)
        if 'study_time' in sections:
            out['study_time'] = bench_study_time.section(a.study_runs, a.jobs, a.seed_base,
                                                         flags, a.study_baseline, tmp)
        if 'shared' in sections:
            out['shared'] = bench_tournament.comparison(['pathnet', 'shared'], a.generations,
                                                        a.warmup, a.rounds, a.seed)
        if 'plain' in sections:
            out['plain'] = bench_tournament.comparison(['pathnet'] + variants, a.generations,
                                                       a.warmup, a.rounds, a.seed)
        if 'slots' in sections:
            out['slots'] = bench_slots.section(
                [int(k) for k in a.slots_ks.split(',')],
                list(range(a.seed_base, a.seed_base + a.slots_experiments)), flags, tmp,
                a.slots_study_runs)
        if 'kernels' in sections:
            out['kernels'] = bench_kernels.section([int(k) for k in a.kernels_ks.split(',')])
        if 'validation' in sections:
            out['validation'] = bench_validation.section(a.validation_seeds, a.validation_flags
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

def report(out, a):
    """The report as text: one paragraph per section that was run (each
    section's module writes its own), then the table across sections."""
    lines = ['', 'binary_mnist_pathnet.py on %d cores, Python %s, TensorFlow %s'
             % (out['cpu_cores'], out['python'], out['tensorflow']),
             'benchmark.py %s' % ' '.join(out['argv'])]
    for key, paragraph in (('startup', bench_startup.report),
                           ('per_generation', bench_per_generation.report),
                           ('memory', bench_memory.report),
                           ('experiments', bench_experiments.report),
                           ('study_time', bench_study_time.report)):
        if out.get(key):
            lines += paragraph(out[key], a)
    for key in ('shared', 'plain'):
        if out.get(key):
            lines += bench_tournament.report(key, out[key], a)
    if out.get('validation'):
        lines += bench_validation.report(out['validation'], a)
    if out.get('slots'):
        lines += bench_slots.report(out['slots'], a)
    if out.get('kernels'):
        lines += bench_kernels.report(out['kernels'], a)
    lines += table(out)
    return '\n'.join(lines) + '\n'


def table(out):
    """Task 1 at one thread next to the plain tournaments and the quoted
    figures, when per_generation or plain was run. With the plain section,
    its figure for this project: measured next to the plain rows, after the
    same warm-up."""
    c = out.get('plain')
    if 'per_generation' not in out and not c:
        return []
    one = (c['task1']['pathnet']['median_ms'] if c
           else out['per_generation']['1']['task1']['median_ms'])
    s = out.get('startup') or {}
    e = out.get('experiments')
    per_seed = e['per_seed'] if e else []
    names = bench_tournament.NAMES
    lines = ['', '| | ms/generation | s to 1st generation | s per experiment process (a) | peak MB |',
             '|---|---|---|---|---|',
             '| this project (threads 1), measured | %.1f | %s | %s | %s |'
             % (one, fmt(s.get('first_generation_s')),
                fmt(statistics.median(r['median_process_s'] for r in per_seed) if per_seed
                    else None),
                fmt(max(r['peak_rss_mb'] for r in per_seed) if per_seed else None, '%.0f'))]
    for v in c['variants'] if c else ():
        lines.append('| %s (bench/plain_tf1.py), measured | %.1f | | | %.0f |'
                     % (names[v], c['task1'][v]['median_ms'], c['peak_rss_mb'][v]))
    for row in REFERENCE:
        lines.append('| %s (quoted, not measured here) | %s | %s | %s | %s |' % row)
    return lines


if __name__ == '__main__':
    main()
