"""Draw PathNet paths from the binary-MNIST results log and the population history.

    python -m analysis.plot_paths [LOG] [--seed S | --row K] [-o OUT.png]    one experiment's two paths
    python -m analysis.plot_paths [LOG] --usage [--control C] [-o OUT.png]   module usage, all experiments
    python -m analysis.plot_paths --history FILE [--seed S] [-o OUT] [--gif] the population converging
"""
import json
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.lines import Line2D

from analysis.plots import PlotError, add_logs, add_out, finish, parser, read, save
from results_log import CONTROLS, path_modules

INT_COLUMNS = ['seed', 'L', 'M', 'N', 'overlap', 'task1_generations', 'task2_generations',
               'task1_converged', 'task2_converged']
COLOURS = {1: 'tab:blue', 2: 'tab:orange'}
CMAPS = {1: 'Blues', 2: 'Oranges'}  # heat maps in the same colour as the task's path
MAX_PANELS = 12


# ---------------------------------------------------------------------------
# Reading the results log.

def parse_path(text, L, M, N, where):
    """'1-8-9|4-5-6|0-1-4' -> boolean [L, M] mask, rejecting anything the driver cannot write."""
    try:
        modules = path_modules(text, L, M, N)
    except ValueError as e:
        raise PlotError('%s: %s' % (where, e)) from None
    mask = np.zeros((L, M), bool)
    for layer, active in enumerate(modules):
        mask[layer, active] = True
    return mask


def load_log(path):
    """The log's rows, each with its two paths as boolean [L, M] masks mask1 and mask2."""
    rows = read(path, ints=INT_COLUMNS, required=(
        'control', 'task1', 'task2', 'task1_path', 'task2_path', 'task1_test_accuracy',
        'task2_test_accuracy'))
    for r in rows:
        for c in ('L', 'M', 'N'):
            if r[c] < 1:
                raise PlotError('%s: %s is %d, not a positive integer' % (r['where'], c, r[c]))
        for t in (1, 2):
            r['mask%d' % t] = parse_path(r['task%d_path' % t], r['L'], r['M'], r['N'], r['where'])
    return rows


def pick_row(rows, seed=None, row=None):
    if seed is not None:
        matches = [r for r in rows if r['seed'] == seed]
        if not matches:
            raise PlotError('no experiment with seed %d (seeds in the log: %s)'
                            % (seed, ' '.join(str(s) for s in sorted({r['seed'] for r in rows}))))
        return matches[-1]
    if row is None:
        return rows[-1]
    if not -len(rows) <= row < len(rows):
        raise PlotError('row %d is out of range: there are %d experiments (rows 0..%d or -%d..-1)'
                        % (row, len(rows), len(rows) - 1, len(rows)))
    return rows[row]


# ---------------------------------------------------------------------------
# One experiment: the module grid with both paths.

def path_edges(mask, task):
    """Input -> every active module of layer 1, each layer's active modules -> the next's,
    the last layer's -> the task's readout: how activations flow along a path."""
    stages = [['input']] + [[(l, int(m)) for m in np.flatnonzero(layer)]
                            for l, layer in enumerate(mask)] + [['readout%d' % task]]
    return [(a, b) for here, there in zip(stages, stages[1:]) for a in here for b in there]


def draw_paths(row):
    """Returns (fig, info): info maps each node style to its (layer, module) cells, and
    'edges' each task to its (from, to) node pairs, so tests need not read pixels."""
    L, M, control = row['L'], row['M'], row['control']
    t1, t2 = row['mask1'], row['mask2']
    frozen = control == 'pathnet'
    styles = {'task1_only': t1 & ~t2, 'task2_only': t2 & ~t1, 'both': t1 & t2, 'unused': ~(t1 | t2)}
    info = {k: [(int(l), int(m)) for l, m in np.argwhere(v)] for k, v in styles.items()}
    info['edges'] = {1: path_edges(t1, 1), 2: path_edges(t2, 2)}

    mid = (M - 1) / 2
    spots = {'input': (0, mid), 'readout1': (L + 1, mid - M / 5), 'readout2': (L + 1, mid + M / 5)}
    xy = lambda node: spots[node] if node in spots else (node[0] + 1, node[1])
    fig, ax = plt.subplots(figsize=(2.2 * (L + 2) + 1, 0.55 * M + 3.6))
    # The tasks' edges are offset so a connection both paths use shows both colours.
    for task, dy, ls in ((1, -0.12, '-'), (2, 0.12, '--')):
        for a, b in info['edges'][task]:
            (x0, y0), (x1, y1) = xy(a), xy(b)
            ax.plot([x0, x1], [y0 + dy, y1 + dy], ls, color=COLOURS[task], lw=1.8, alpha=0.8,
                    zorder=1)

    not_frozen = ' (not frozen: %s)' % control
    looks = {'task1_only': ('task-1 path' + (' (frozen during task 2)' if frozen else not_frozen),
                            dict(mfc=COLOURS[1], color=COLOURS[1])),
             'task2_only': ('task-2 path', dict(mfc=COLOURS[2], color=COLOURS[2], ls='--')),
             # Half and half, task 1 on the left as it came first.
             'both': ('on both' + (' (re-used frozen module)' if frozen else ' paths' + not_frozen),
                      dict(mfc=COLOURS[1], mfcalt=COLOURS[2], fillstyle='left', ls='none')),
             'unused': ('unused module', dict(mfc='white', mec='grey', ls='none'))}
    handles = []
    for style, (label, look) in looks.items():
        look = dict(dict(marker='o', mec='black', mew=1.5), **look)
        handles.append(Line2D([], [], ms=14, label=label, **look))
        xs, ys = zip(*map(xy, info[style])) if info[style] else ((), ())
        ax.plot(xs, ys, ms=26, zorder=2, **dict(look, ls='none'))
    for l, m in np.ndindex(L, M):
        # A white patch keeps the number readable across the half-and-half divide.
        ax.text(l + 1, m, str(m), ha='center', va='center', fontsize=9, weight='bold', zorder=3,
                color='grey' if (l, m) in info['unused'] else 'black',
                bbox=dict(boxstyle='round,pad=0.1', fc='white', ec='none') if t1[l, m] and t2[l, m]
                else None)

    ax.plot(*spots['input'], 's', ms=30, color='dimgrey')
    ax.annotate('input\n784 px', spots['input'], xytext=(0, -30), textcoords='offset points',
                ha='center', va='top')
    for t in (1, 2):
        ax.plot(*spots['readout%d' % t], 's', ms=30, color=COLOURS[t], mec='black')
        ax.annotate('readout %d\n%s, test acc %s'
                    % (t, row['task%d' % t], row['task%d_test_accuracy' % t]),
                    spots['readout%d' % t], xytext=(24, 0), textcoords='offset points', va='center')
    ax.set_xticks(range(L + 2),
                  ['input'] + ['layer %d' % (l + 1) for l in range(L)] + ['readouts'])
    ax.set_yticks(range(M), ['module %d' % m for m in range(M)])
    ax.set(xlim=(-0.6, L + 2.6), ylim=(M - 0.4, -0.6))  # module 0 on top, as in the heat maps
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)

    def generations(t):
        text = '%s in %d generations' % (row['task%d' % t], row['task%d_generations' % t])
        return text if row['task%d_converged' % t] else text + ' (not converged)'
    # The overlap is counted from the paths drawn; a log that disagrees is shown, not trusted.
    overlap = '%d' % len(info['both']) + ('' if len(info['both']) == row['overlap']
                                          else ' (log says %d)' % row['overlap'])
    ax.set_title('PathNet binary MNIST, seed %d (%s)\ntask 1: %s;  task 2: %s;  overlap %s'
                 % (row['seed'], control, generations(1), generations(2), overlap))
    shared = '; '.join('layer %d: %s' % (l + 1, ', '.join(map(str, np.flatnonzero(t1[l] & t2[l]))))
                       for l in range(L) if (t1[l] & t2[l]).any()) or 'none'
    fig.legend(handles=handles, loc='lower center', ncol=2, frameon=False, handlelength=3,
               bbox_to_anchor=(0.5, 0.06))
    fig.text(0.5, 0.015, 'task 1 path %s   task 2 path %s   %s: %s'
             % (row['task1_path'], row['task2_path'],
                're-used frozen modules' if frozen else 'modules on both', shared),
             ha='center', fontsize=9)
    fig.subplots_adjust(bottom=0.2, top=0.9, left=0.12, right=0.85)
    return fig, info


# ---------------------------------------------------------------------------
# All experiments: module usage.

def usage_counts(rows):
    """task1, task2: [L, M] experiments whose path uses each module; share: [L] fraction of
    experiments whose task-2 path uses at least one task-1 module in that layer."""
    shapes = sorted({(r['L'], r['M']) for r in rows})
    if len(shapes) > 1:
        raise PlotError('experiments differ in L x M (%s): cannot add them up'
                        % ', '.join('%dx%d' % s for s in shapes))
    task1 = np.sum([r['mask1'] for r in rows], axis=0, dtype=int)
    task2 = np.sum([r['mask2'] for r in rows], axis=0, dtype=int)
    share = np.mean([(r['mask1'] & r['mask2']).any(axis=1) for r in rows], axis=0)
    return task1, task2, share


def heatmap(ax, counts, vmax, cmap, fontsize=9, labels=True):
    """counts is [L, M]; drawn with layers as columns and module 0 on top, like the grid."""
    L, M = counts.shape
    image = ax.imshow(counts.T, cmap=cmap, vmin=0, vmax=vmax, aspect='auto')
    for l, m in np.ndindex(L, M):
        ax.text(l, m, str(int(counts[l, m])), ha='center', va='center', fontsize=fontsize,
                color='white' if counts[l, m] > 0.6 * vmax else 'black')
    ax.set_xticks(range(L), ['L%d' % (l + 1) for l in range(L)])
    ax.set_yticks(range(M), ['module %d' % m for m in range(M)] if labels else [])
    return image


def draw_usage(rows, control, log):
    task1, task2, share = usage_counts(rows)
    n, L = len(rows), len(share)
    fig, axes = plt.subplots(1, 3, figsize=(13, 6), gridspec_kw={'width_ratios': [1, 1, 1.3]})
    for ax, counts, task in ((axes[0], task1, 1), (axes[1], task2, 2)):
        image = heatmap(ax, counts, n, CMAPS[task])
        ax.set(xlabel='layer', title='on the task-%d path (%s)\nexperiments, of %d'
               % (task, rows[0]['task%d' % task], n))
        fig.colorbar(image, ax=ax, shrink=0.7, label='experiments')
    bars = axes[2].bar(range(1, L + 1), share, color=COLOURS[2], edgecolor='black')
    axes[2].bar_label(bars, ['%d/%d' % (round(s * n), n) for s in share], padding=3)
    axes[2].set(xticks=range(1, L + 1), ylim=(0, 1.12), xlabel='layer',
                ylabel='fraction of experiments')
    what = 'frozen task-1' if control == 'pathnet' else 'task-1 (not frozen: %s)' % control
    axes[2].set_title('task-2 paths using at least one\n%s module in the layer' % what)
    unsolved = sum(not (r['task1_converged'] and r['task2_converged']) for r in rows)
    fig.suptitle('Module usage over %d %s experiment%s in %s%s' % (
        n, control, '' if n == 1 else 's', log, '\n%d of them did not solve both tasks (not '
        'converged: task 1 %d, task 2 %d); their paths are the last winners\'' % (
            unsolved, sum(not r['task1_converged'] for r in rows),
            sum(not r['task2_converged'] for r in rows)) if unsolved else ''))
    return fig


# ---------------------------------------------------------------------------
# Population history.

def check_snapshot(snap, where):
    keys = ('seed', 'task', 'generation', 'population', 'counts')
    if not isinstance(snap, dict) or any(k not in snap for k in keys) \
            or any(type(snap[k]) is not int for k in keys[:4]) or snap['task'] not in (1, 2) \
            or snap['population'] < 1:
        raise PlotError('%s: want an object with integers seed, task (1 or 2), generation, '
                        'population and counts [L][M]' % where)
    try:
        counts = np.array(snap['counts'])
    except ValueError:  # ragged rows
        counts = np.zeros(0)
    if counts.ndim != 2 or counts.size == 0 or counts.dtype.kind != 'i' \
            or counts.min() < 0 or counts.max() > snap['population']:
        raise PlotError('%s: counts must be L lists of M integers in 0..population' % where)
    return dict(snap, counts=counts)


def read_history(path):
    """All snapshots in file order, each a dict with counts as an [L, M] array."""
    snapshots = []
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                where = '%s line %d' % (path, number)
                try:
                    snap = json.loads(line) if line.strip() else None
                except ValueError as e:
                    raise PlotError('%s is not JSON: %s' % (where, e)) from None
                if snap is not None:
                    snapshots.append(check_snapshot(snap, where))
                    if snapshots[-1]['counts'].shape != snapshots[0]['counts'].shape:
                        raise PlotError('%s: counts differ in shape from line 1' % where)
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError('cannot read history %s: %s'
                        % (path, getattr(e, 'strerror', None) or e)) from None
    if not snapshots:
        raise PlotError('history %s has no snapshots' % path)
    return snapshots


def select_run(snapshots, seed=None):
    """One experiment's snapshots: the last seed in the file unless given."""
    seed = snapshots[-1]['seed'] if seed is None else seed
    run = []
    for snap in (s for s in snapshots if s['seed'] == seed):
        # The same seed run again into the same file starts over: keep the last run.
        if run and (snap['task'], snap['generation']) <= (run[-1]['task'], run[-1]['generation']):
            run = []
        run.append(snap)
    if not run:
        raise PlotError('no snapshots for seed %d (seeds in the history: %s)'
                        % (seed, ' '.join(str(s) for s in sorted({s['seed'] for s in snapshots}))))
    return run


def evenly_spaced(items, most):
    """At most `most` items, evenly spaced, always the first and the last."""
    if len(items) <= most:
        return items
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, most).round().astype(int))]


def draw_history(run, source):
    tasks = sorted({s['task'] for s in run})
    strips = {t: evenly_spaced([s for s in run if s['task'] == t], MAX_PANELS) for t in tasks}
    cols = max(len(s) for s in strips.values())
    L, M = run[0]['counts'].shape
    fig, axes = plt.subplots(len(tasks), cols, squeeze=False, layout='constrained',
                             figsize=(0.5 * L * cols + 2.5, (0.3 * M + 1) * len(tasks) + 0.6))
    for row, task in zip(axes, tasks):
        last = strips[task][-1]
        for ax, snap in zip(row, strips[task]):
            image = heatmap(ax, snap['counts'], snap['population'], CMAPS[task], 6, ax is row[0])
            ax.set_title('gen %d%s' % (snap['generation'], ' (end)' if snap is last else ''),
                         fontsize=9)
        row[0].set_ylabel('task %d' % task, fontsize=12)
        for ax in row[len(strips[task]):]:
            ax.set_visible(False)
        fig.colorbar(image, ax=list(row), label='members (of %d)' % last['population'])
    fig.suptitle('Population converging on a path, seed %d (%s): how many members\' paths '
                 'use each module' % (run[-1]['seed'], source))
    return fig


def save_history_gif(run, source, out):
    """One frame per snapshot; task 1's final population stays in view during task 2."""
    tasks = sorted({s['task'] for s in run})
    ends = {t: [s for s in run if s['task'] == t][-1] for t in tasks}
    M = run[0]['counts'].shape[1]
    fig, axes = plt.subplots(1, len(tasks), squeeze=False, layout='constrained',
                             figsize=(3 * len(tasks) + 1.2, 0.35 * M + 1.8))
    frames, latest = evenly_spaced(run, 80), {}
    os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
    with PillowWriter(fps=3).saving(fig, out, dpi=90) as writer:
        for snap in frames + [frames[-1]] * 3:  # linger on the end
            latest[snap['task']] = snap
            for ax, task in zip(axes[0], tasks):
                ax.clear()
                if task not in latest:
                    ax.set_title('task %d\nnot started' % task)
                    ax.axis('off')
                    continue
                shown = latest[task]
                heatmap(ax, shown['counts'], shown['population'], CMAPS[task], 8, ax is axes[0][0])
                ax.set_title('task %d\ngeneration %d%s' % (task, shown['generation'],
                                                           ' (end)' * (shown is ends[task])))
            fig.suptitle('seed %d (%s)\nmembers (of %d) whose path uses each module'
                         % (snap['seed'], source, snap['population']))
            writer.grab_frame()
    plt.close(fig)


# ---------------------------------------------------------------------------

def parse_args(argv):
    p = parser(__doc__, raw=True)
    add_logs(p, many=False)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument('--usage', action='store_true', help='module usage over all experiments')
    mode.add_argument('--history', metavar='FILE', help='population history (JSON lines)')
    which = p.add_mutually_exclusive_group()
    which.add_argument('--seed', type=int, help='the last experiment (or history) with this seed')
    which.add_argument('--row', type=int, help='0-based data row; negative counts from the end')
    p.add_argument('--control', choices=CONTROLS,
                   help='only experiments of this control (default with --usage or --seed: '
                        'pathnet); --row then counts among them')
    p.add_argument('--gif', action='store_true', help='with --history: an animation instead')
    add_out(p, None, 'output file (default: under results/)')
    args = p.parse_args(argv)
    if args.usage and (args.seed is not None or args.row is not None):
        p.error('--usage draws all experiments: --seed and --row do not apply')
    if args.history and args.row is not None:
        p.error('--row picks from the results log, not from --history')
    if args.gif and not args.history:
        p.error('--gif needs --history FILE')
    if args.gif and args.out and not args.out.lower().endswith('.gif'):
        p.error('--gif writes a GIF: name the output *.gif')
    return args


def run(args):
    if args.history:
        snaps = select_run(read_history(args.history), args.seed)
        source = os.path.basename(args.history)
        out = args.out or 'results/path_history.' + ('gif' if args.gif else 'png')
        if args.gif:
            save_history_gif(snaps, source, out)
        else:
            save(draw_history(snaps, source), out, rect=None)   # laid out when drawn
        return out
    rows = load_log(args.log)
    # A seed is run once per condition: without --control, --seed means its pathnet run.
    control = args.control or ('pathnet' if args.usage or args.seed is not None else None)
    if control:
        rows = [r for r in rows if r['control'] == control]
        if not rows:
            raise PlotError('no %s experiments in %s' % (control, args.log))
    # Keep the controls' pictures apart when no output is named.
    suffix = lambda control: '' if control == 'pathnet' else '_' + control
    if args.usage:
        out = args.out or 'results/paths_usage%s.png' % suffix(control)
        save(draw_usage(rows, control, os.path.basename(os.path.normpath(args.log))), out)
        return out
    row = pick_row(rows, args.seed, args.row)
    out = args.out or 'results/paths_seed%d%s.png' % (row['seed'], suffix(row['control']))
    save(draw_paths(row)[0], out, rect=None)   # laid out around its legend when drawn
    return out


def main(argv=None):
    try:
        args = parse_args(argv)
    except SystemExit as e:  # argparse: --help, or a usage error already printed
        return e.code

    def work():
        try:
            return '', [run(args)]
        except OSError as e:    # writing the GIF
            raise PlotError(str(e)) from None
    return finish(work)


if __name__ == '__main__':
    sys.exit(main())
