"""The `slots` section: experiments per hour with 2 processes x --slots K
(each process runs half of the seeds, K of them at a time in one graph)
against today's --seeds (K = 1), ms per experiment-generation, peak RSS per
process, a default study through the auto script for K = 1 and the best K
(--slots_study_runs experiments, extrapolated to 1,000), and where a
generation's time goes (a TensorFlow FULL_TRACE of a few lockstep
tournaments, its step_stats summed by kind of op). The `gpu` part
times K = 64..256 when TensorFlow sees a GPU and says it was skipped otherwise.

    python bench/benchmark.py --sections slots --slots_ks 1,2,4,8,16 --slots_study_runs 200 \
        --out bench/slots
    python bench/bench_slots.py --trace 4        # only the trace of K = 4
"""
import json
import os
import subprocess
import sys
import time

from bench_common import ROOT, read_rows
from bench_study_time import AUTO, auto_batch

DRIVER = os.path.join(ROOT, 'binary_mnist_pathnet.py')
# Kinds of op in a trace, by the first pattern their type matches.
KINDS = (('matmuls', ('MatMul',)), ('optimizer', ('ApplyAdam', 'ApplyGradientDescent')),
         ('gathers/scatters', ('Gather', 'Scatter', 'TopK')),
         ('loop overhead', ('Enter', 'Exit', 'Merge', 'Switch', 'NextIteration', 'LoopCond',
                            'Identity', 'NoOp', 'Const', 'Less', 'AddV2')))


def processes(seeds, k, flags, tmp):
    """Seeds dealt out to 2 processes of the driver (--slots k): wall seconds,
    generations played, each process's peak RSS (VmHWM, polled) in MB."""
    shares = [seeds[0::2], seeds[1::2]]
    log = os.path.join(tmp, 'slots-k%d.csv' % k)
    procs = [subprocess.Popen([sys.executable, DRIVER, '--seeds', ','.join(map(str, s)),
                               '--slots', str(k), '--quiet', '--results', log] + flags,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for s in shares]
    t0, peak = time.perf_counter(), [0.0, 0.0]
    while any(p.poll() is None for p in procs):
        for j, p in enumerate(procs):
            try:
                with open('/proc/%d/status' % p.pid) as f:
                    # an exiting process may have no VmHWM line left
                    peak[j] = max([peak[j]] + [int(l.split()[1]) / 1024 for l in f
                                               if l.startswith('VmHWM')])
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    import csv
    with open(log, newline='') as f:
        rows = list(csv.DictReader(f))
    generations = sum(int(r['task1_generations']) + int(r['task2_generations']) for r in rows)
    return {'k': k, 'experiments': len(rows), 'wall_s': round(wall, 1),
            'per_hour': round(len(rows) / wall * 3600), 'generations': generations,
            # two cores: each process's wall time over the generations it played
            'ms_per_generation': round(2 * wall * 1000 / max(generations, 1), 2),
            'peak_rss_mb': [round(x) for x in peak],
            'status': [p.returncode for p in procs]}


def trace(k, rounds=5, device_hint=''):
    """A FULL_TRACE of `rounds` lockstep tournaments of k slots (defaults,
    random images): ms per round and its op time by kind."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import pathnet
    from pathnet import tf
    net = pathnet.PathNet(slots=k)
    rng = np.random.default_rng(0)
    x = (rng.random((2000, 784)) < 0.3).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 2000)]
    none = np.zeros((3, 10), np.float32)
    totals, walls = {}, []
    with pathnet.session(net, 1) as sess:
        sess.run(net.init)
        for s in range(k):
            net.start_task(sess, 0, x, y, none, np.random.default_rng(s), slot=s)
        for r in range(rounds + 1):
            requests = [pathnet.Tournament(0, np.stack([pathnet.path_mask(p, 10) for p in
                        pathnet.random_population(rng, 2, 3, 10, 3)]), none,
                        rng.integers(0, 2000, (50, 16))) for _ in range(k)]
            feeds = {net.task_of_slot: [0] * k, net.frozen: np.stack([none] * k),
                     net.geopath: np.stack([q.masks for q in requests]),
                     net.batches: np.stack([q.batches for q in requests]),
                     net.noise_seed: [0] * k}
            meta = tf.RunMetadata()
            t0 = time.perf_counter()
            sess.run(net.tournament_op, feeds, options=tf.RunOptions(
                trace_level=tf.RunOptions.FULL_TRACE), run_metadata=meta)
            if r == 0:
                continue        # the first run pays one-off costs
            walls.append(time.perf_counter() - t0)
            for dev in meta.step_stats.dev_stats:
                for node in dev.node_stats:
                    op = node.timeline_label.split('(')[0].split('=')[-1].strip() or node.node_name
                    kind = next((name for name, pats in KINDS if any(p in op for p in pats)),
                                'other')
                    totals[kind] = totals.get(kind, 0) + node.all_end_rel_micros / 1000
    return {'k': k, 'ms_per_round': round(1000 * sum(walls) / len(walls), 2),
            'ms_by_kind_per_round': {n: round(v / len(walls), 2) for n, v in
                                     sorted(totals.items())}}


def gpu():
    """K = 64..256 on a GPU, if TensorFlow sees one."""
    sys.path.insert(0, ROOT)
    from pathnet import tf
    if not tf.test.is_gpu_available():
        return {'skipped': 'TensorFlow sees no GPU'}
    return {'traces': [trace(k, rounds=3) for k in (64, 128, 256)]}


def study(k, runs, seed_base, flags, tmp):
    """A default study batch through the auto script (2 jobs, --slots k):
    its wall time, extrapolated to 1,000 experiments."""
    log = os.path.join(tmp, 'slots-study-k%d.csv' % k)
    wall = auto_batch(AUTO, runs, 2, seed_base, log, os.path.join(tmp, 'slots-study-k%d' % k),
                      ['--slots', str(k)] + flags)
    if len(read_rows(log)) != runs:
        sys.exit('error: the --slots %d study batch did not write one row per seed' % k)
    return {'k': k, 'runs': runs, 'wall_s': round(wall, 1),
            'per_1000_min': round(1000 * wall / runs / 60, 1)}


def section(ks, seeds, flags, tmp, study_runs=0):
    out = {'runs': [processes(seeds, k, flags, tmp) for k in ks]}
    base = next(r for r in out['runs'] if r['k'] == 1)
    for r in out['runs']:
        r['ratio'] = round(r['per_hour'] / base['per_hour'], 2)
    best = max(out['runs'], key=lambda r: r['per_hour'])['k']
    if study_runs:
        out['study'] = [study(k, study_runs, seeds[0], flags, tmp) for k in sorted({1, best})]
    out['traces'] = [json.loads(subprocess.run(
        [sys.executable, __file__, '--trace', str(k)], stdout=subprocess.PIPE,
        universal_newlines=True, check=True).stdout.splitlines()[-1]) for k in sorted({1, best})]
    out['gpu'] = json.loads(subprocess.run([sys.executable, __file__, '--gpu'],
                                           stdout=subprocess.PIPE, universal_newlines=True,
                                           check=True).stdout.splitlines()[-1])
    return out


def report(m, a=None):
    lines = ['', 'slots: %d experiments, 2 processes x --slots K (K = 1 is --seeds as before)'
             % m['runs'][0]['experiments']]
    for r in m['runs']:
        lines.append('  K=%-3d %6d experiments/hour (%.2fx)  %5.2f ms per experiment-generation'
                     '  peak RSS %s MB  wall %.0f s' % (r['k'], r['per_hour'], r['ratio'],
                                                        r['ms_per_generation'],
                                                        '/'.join(map(str, r['peak_rss_mb'])),
                                                        r['wall_s']))
    for t in m['traces']:
        lines.append('  trace K=%d: %.1f ms per round (%.2f per slot); %s' % (
            t['k'], t['ms_per_round'], t['ms_per_round'] / t['k'],
            ', '.join('%s %.1f' % kv for kv in t['ms_by_kind_per_round'].items())))
    for s in m.get('study', ()):
        lines.append('  study through the auto script, %d experiments, 2 jobs, --slots %d: wall '
                     '%.0f s, 1,000 experiments in %.1f min' % (s['runs'], s['k'], s['wall_s'],
                                                                s['per_1000_min']))
    g = m['gpu']
    lines.append('  gpu: ' + (g['skipped'] if 'skipped' in g else '; '.join(
        'K=%d %.1f ms per round' % (t['k'], t['ms_per_round']) for t in g['traces'])))
    return lines


if __name__ == '__main__':
    if sys.argv[1:2] == ['--trace']:
        print(json.dumps(trace(int(sys.argv[2]))))
    elif sys.argv[1:2] == ['--gpu']:
        print(json.dumps(gpu()))
