#!/usr/bin/env bash
# Many binary-MNIST PathNet experiments, several processes at once, each
# running a share of the seeds, resumable from the results log. See usage()
# or run with --help.
set -u

usage() {
    cat <<EOF
usage: $(basename "$0") [RUNS] [JOBS] [--wait] [-- FLAGS...]

Runs RUNS experiments of binary_mnist_pathnet.py (default 1000) in JOBS
processes at a time (default: the number of cores, $(nproc) here). Run i
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
fastest for this model; see the README's speed section), so JOBS = cores
uses the machine. FLAGS may set --threads.

Environment:
  SEED_BASE    seed of run 0 (default 0)
  RUN_LOG_DIR  folder of the per-experiment console logs, CONTROL-seedN.log
               (default: runs/ beside the results log)
  PYTHON       interpreter (default: .venv/bin/python beside this script
               if it exists, else python3)

On a SLURM cluster (SCHEDULER=slurm), the seeds still to do go to ONE job
array instead, at most JOBS tasks at a time, each task running a share of
them and appending to a log of its own, <log without .csv>-slurm/part-<job
id>_<task>.csv; rows there count as done when resuming. The script prints the
job id and exits, or with --wait (or WAIT=1) polls squeue until the array is
gone, then reports per seed as above, merges the folder into the log
(results_log.py merge) and exits 1 if any seed failed. While an array is
queued or running, another for any of its seeds of the same condition is
refused (exit 2). Also:
  SEEDS_PER_TASK  seeds per array task (default: RUNS/JOBS, rounded up)
  SLURM_LOG_DIR   the tasks' folder (logs, job script, seeds file)
  SBATCH_ARGS     more sbatch options, split at spaces (e.g. --partition=x)
  SLURM_POLL      seconds between squeue polls with --wait (default 2)

Exit status: 0 all experiments done, 1 some failed, 2 bad usage or another
batch is running on the log, 130 interrupted (Ctrl-C or SIGTERM stops every
process at its next tournament; the log keeps whole rows only).
EOF
}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# Written for and tested with bash 5 only (associative arrays, {fd} redirections,
# read -t with fractions and partial input).
(( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501 )) || die "needs bash >= 5.1"

pos=()
while (( $# )); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --wait) WAIT=1; shift ;;
        --) shift; break ;;
        *) pos+=("$1"); shift ;;
    esac
done
extra=("$@")
(( ${#pos[@]} <= 2 )) || die "too many arguments: ${pos[*]} (driver flags go after --; see --help)"
runs=${pos[0]:-1000}
njobs=${pos[1]:-$(nproc)}
base=${SEED_BASE:-0}
# At most 9 digits: bash arithmetic must not overflow.
[[ $runs =~ ^[1-9][0-9]{0,8}$ ]] || die "RUNS must be a positive integer, got '$runs'"
[[ $njobs =~ ^[1-9][0-9]{0,8}$ ]] || die "JOBS must be a positive integer, got '$njobs'"
[[ $base =~ ^(0|[1-9][0-9]{0,9})$ ]] && (( base + runs <= 2**31 )) ||
    die "SEED_BASE must be an integer with 0 <= SEED_BASE+RUNS-1 < 2^31, got '$base'"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
driver=$here/binary_mnist_pathnet.py
if [[ -z ${PYTHON:-} && -x $here/.venv/bin/python ]]; then
    PYTHON=$here/.venv/bin/python
fi
py=${PYTHON:-python3}

# The driver's own parser says what FLAGS mean (abbreviations, --x=y, the
# last of a repeated flag), so the log and condition we resume from are the
# ones the runs will use. Sentinels tell whether FLAGS set --seed/--threads.
info=$("$py" - "$here" "${extra[@]}" <<'EOF'
import contextlib, os, sys
sys.path.insert(0, sys.argv[1])
import binary_mnist_pathnet as d
import results_log
sys.argv[0] = d.__file__          # the name in its error messages
SEED, THREADS = 2**31 - 2, 10**9
try:
    with contextlib.redirect_stdout(sys.stderr):
        a = d.parse_args(['--seed', str(SEED), '--threads', str(THREADS)] + sys.argv[2:])
except SystemExit as e:
    sys.exit(e.code or 99)                      # 99: FLAGS asked for the driver's --help
# Seeds run on a cluster count as done before they are merged into the log.
parts = os.environ.get('SLURM_LOG_DIR') or os.path.splitext(a.results)[0] + '-slurm'
if os.path.isdir(a.results):
    sys.exit('error: %s is a directory, not a results log' % a.results)
try:
    done = results_log.done_seeds([a.results, parts], a.control, d.settings(a))
except results_log.LogError as e:
    sys.exit('error: %s' % e)
print(a.results, a.control, int(a.seed != SEED), int(a.threads != THREADS), parts, sep='\n')
print(' '.join(map(str, sorted(done))))
print(d.settings(a))
EOF
)
case $? in 0) ;; 99) exit 0 ;; *) exit 2 ;; esac
{ IFS= read -r results; read -r control; read -r seed_set; read -r threads_set; IFS= read -r parts
  read -r done_list; IFS= read -r condition; } <<<"$info"
(( seed_set )) && die "FLAGS must not set --seed: run i gets SEED_BASE+i"

declare -A is_done=()
for s in $done_list; do is_done[$s]=1; done
todo=() skipped=0
declare -A is_todo=()
for (( i = 0; i < runs; i++ )); do
    if [[ -n ${is_done[$(( base + i ))]:-} ]]; then
        skipped=$(( skipped + 1 ))
    else
        todo+=("$(( base + i ))")
        is_todo[$(( base + i ))]=1
    fi
done
(( njobs <= ${#todo[@]} )) || njobs=${#todo[@]}

# A batch claims its seeds in a file beside the log, locked by a descriptor
# that every run inherits: while any of its runs lives (even after the batch
# itself was killed with -9), another batch of the same condition refuses to
# run those seeds, which would be written twice. Batches of other seeds or
# other conditions share the log freely.
claim_seeds() {
    command -v flock >/dev/null || { echo "warning: no flock: batches on $results are" \
        "not checked for overlap" >&2; return; }
    local f o other seeds s mine=$results.batch.$$
    exec {o}>>"$results.lock" && flock "$o" || die "cannot lock $results.lock"
    for f in "$results".batch.*; do
        [[ -f $f ]] || continue
        exec {other}<"$f"
        if flock -n "$other"; then             # its batch and runs are gone
            rm -f -- "$f"
        else
            { IFS= read -r s; read -r seeds; } <"$f"
            if [[ $s == "$control $condition" ]]; then
                for s in $seeds; do
                    [[ -z ${is_todo[$s]:-} ]] ||
                        die "seed $s of this condition is being run by another batch (claim" \
                            "$f; its runs are still alive); wait for it or stop it, then rerun"
                done
            fi
        fi
        exec {other}<&-
    done
    exec {claim}>"$mine" && flock -n "$claim" || die "cannot create $mine"
    printf '%s\n' "$control $condition" "${todo[*]}" >&"$claim"
    exec {o}>&-
}

start=$SECONDS ok=0 failed=0
hms() { printf '%d:%02d:%02d' $(( $1 / 3600 )) $(( $1 % 3600 / 60 )) $(( $1 % 60 )); }
summary() {
    printf 'summary: %d done, %d failed, %d skipped (already in %s), wall time %s\n' \
        "$ok" "$failed" "$skipped" "$results" "$(hms $(( SECONDS - start )))"
}
if (( ${#todo[@]} == 0 )); then
    echo "0 run(s) to do, $skipped skipped (already in $results)"
    summary
    exit 0
fi
case ${SCHEDULER:-local} in
    local) ;;
    slurm) . "$here/slurm_array.sh"; exit ;;
    *) die "SCHEDULER must be local or slurm, got '$SCHEDULER'" ;;
esac

logdir=${RUN_LOG_DIR:-$(dirname -- "$results")/runs}
mkdir -p -- "$logdir" "$(dirname -- "$results")" || exit 2
claim_seeds

# Each process's output is split into one console log per experiment (by the
# driver's "experiment K of N: seed S" lines) and its results reach this
# script as events, one line each, through a pipe all of them share.
tmp=$(mktemp -d) || exit 2
trap 'rm -rf -- "$tmp" "$results.batch.$$"' EXIT
mkfifo "$tmp/events" && exec {ev}<>"$tmp/events" || exit 2
split() {       # first seed of the job, job number
    awk -v dir="$logdir" -v control="$control" -v seed="$1" -v job="$2" '
        function open_log(s) { if (out) close(out); seed = s; out = dir "/" control "-seed" s ".log"
                               printf "" > out; print "start", s; fflush() }
        BEGIN { open_log(seed) }
        # The log of the first seed is open already: it keeps the start-up lines (ready ...).
        /^experiment [0-9]+ of [0-9]+: seed [0-9]+$/ { if ($NF != seed) open_log($NF); next }
        { print > out; fflush(out) }
        /^Entire Iter:/ { print "done", seed, $0; fflush() }
        /^error: seed [0-9]+ failed: / { print "failed", $3, $0; fflush() }
        END { print "end", job; fflush() }'
}

declare -A seeds_of=() pending=() started=()   # job pid -> its seeds; seed -> not yet reported; began
declare -A job_of=() split_done=()   # job pid -> job number; job number -> its output all read
n=${#todo[@]}
for (( j = 0; j < njobs; j++ )); do
    share=()
    for (( k = j; k < n; k += njobs )); do share+=("${todo[k]}"); pending[${todo[k]}]=1; done
    list=$(IFS=,; echo "${share[*]}")
    PATHNET_BATCH_PID=$$ "$py" "$driver" --seeds "$list" "${extra[@]}" \
        > >(split "${share[0]}" "$j" >&"$ev") 2>&1 &
    seeds_of[$!]="${share[*]}" job_of[$!]=$j
done

report() {      # one event line from a job
    local kind=$1 seed=$2 line=$3 log=$logdir/$control-seed$2.log
    [[ $seed =~ ^[0-9]+$ ]] || return       # not an event (cannot happen)
    [[ $kind == end ]] && { split_done[$seed]=1; return; }
    [[ $kind == start ]] && { started[$seed]=1; return; }
    [[ -n ${pending[$seed]:-} ]] || return
    unset "pending[$seed]"
    if [[ $kind == done ]]; then
        ok=$(( ok + 1 ))
        printf '%d Iteration, %s\n' $(( seed - base )) "$line"
    else
        failed=$(( failed + 1 ))
        printf 'FAILED run %d, seed %d: %s [%s]\n' $(( seed - base )) "$seed" "$line" "$log" >&2
    fi
    local m=$(( ok + failed )) el=$(( SECONDS - start ))
    printf '[%d/%d] %d done, %d failed, %d process(es) running, %s left\n' "$m" "$n" "$ok" \
        "$failed" "${#seeds_of[@]}" "$( (( m == n )) && echo 0:00:00 || hms $(( el * (n - m) / m )) )"
}

partial=
event() {       # timeout: report the next event, if one comes in time
    local buf kind seed line
    # A read that times out mid-line keeps what it read: the line goes on next time.
    IFS= read -r -t "$1" -u "$ev" buf || { partial+=$buf; return 1; }
    buf=$partial$buf partial=
    read -r kind seed line <<<"$buf"
    report "$kind" "$seed" "$line"
}

drain() {       # the events already in the pipe
    while event "${1:-0.2}"; do :; done
}

ended() {       # pid status: a job's process ended; its unreported seeds failed
    local s st=$2 on= line seeds=${seeds_of[$1]}
    # Its last events may still be on their way (a loaded machine): until its
    # split has read all its output, or 30 s without any event.
    while [[ -z ${split_done[${job_of[$1]}]:-} ]] && event 30; do :; done
    unset "seeds_of[$1]"
    for s in $seeds; do [[ -n ${started[$s]:-} ]] && on=$s; done
    [[ -n $on ]] && line=$(grep -v '^[[:space:]]*$' "$logdir/$control-seed$on.log" 2>/dev/null |
                           tail -n 1)
    for s in $seeds; do
        [[ -n ${pending[$s]:-} ]] || continue
        if [[ $s == "$on" ]]; then
            report failed "$s" "its process ended with status $st: ${line:-no output}"
        else
            report failed "$s" "not run: its process ended with status $st during seed ${on:-(none)}: ${line:-no output}"
        fi
    done
}

# Ctrl-C, SIGTERM, hangup: every process is sent SIGTERM; it stops at its
# next tournament and writes nothing for the experiment it was in.
stop() {
    trap '' INT TERM HUP
    echo "interrupted: stopping ${#seeds_of[@]} running process(es)" >&2
    kill -TERM "${!seeds_of[@]}" 2>/dev/null
    local pid
    for pid in "${!seeds_of[@]}"; do wait "$pid"; done
    drain 0.5
    summary
    echo "interrupted: $ok experiment(s) finished in this batch; rerun the same command to resume" >&2
    exit 130
}
trap stop INT TERM HUP

echo "$n run(s) to do, $skipped skipped (already in $results), in $njobs process(es);" \
     "per-run logs in $logdir/"
while (( ${#seeds_of[@]} )); do
    event 1
    for pid in "${!seeds_of[@]}"; do
        # bash reaps its children as they end; wait then only fetches the status
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; ended "$pid" $?; }
    done
done
summary
(( failed == 0 )) || exit 1
