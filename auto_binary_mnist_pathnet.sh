#!/usr/bin/env bash
# Many binary-MNIST PathNet experiments, several at once, resumable from the
# results log. See usage() or run with --help.
set -u

usage() {
    cat <<EOF
usage: $(basename "$0") [RUNS] [JOBS] [-- FLAGS...]

Runs RUNS experiments of binary_mnist_pathnet.py (default 1000), JOBS at a
time (default: the number of cores, $(nproc) here). Run i (0..RUNS-1) gets
--seed SEED_BASE+i; every run appends one row to the same results log, the
driver's --results (default results/binary_mnist_pathnet.csv). FLAGS go to
every run unchanged (they must not set --seed). Prints "<i> Iteration,
Entire Iter:..." and a progress line per finished run, then a summary.

Resume: rerun the same command. A seed is skipped if the log already holds a
row of the same condition: same --control (default pathnet) and same
settings column (the non-default flags that change what is computed).
Failed and interrupted runs leave no row and are run again.

Threads: each run gets --threads max(1, CORES/JOBS) (integer division), so
JOBS runs do not oversubscribe the CPU, unless FLAGS set --threads.

Environment:
  SEED_BASE    seed of run 0 (default 0)
  RUN_LOG_DIR  folder of the per-run console logs, CONTROL-seedN.log
               (default: runs/ beside the results log)
  PYTHON       interpreter (default: .venv/bin/python beside this script
               if it exists, else python3)

Exit status: 0 all runs done, 1 some run failed, 2 bad usage,
130 interrupted (Ctrl-C or SIGTERM stops every run; the log keeps whole rows).
EOF
}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# `wait -n -p` (which child finished) needs bash 5.1.
(( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501 )) || die "needs bash >= 5.1"

pos=()
while (( $# )); do
    case $1 in
        -h|--help) usage; exit 0 ;;
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
import contextlib, csv, os, sys
sys.path.insert(0, sys.argv[1])
import binary_mnist_pathnet as d
sys.argv[0] = d.__file__          # the name in its error messages
SEED, THREADS = 2**31 - 2, 10**9
try:
    with contextlib.redirect_stdout(sys.stderr):
        a = d.parse_args(['--seed', str(SEED), '--threads', str(THREADS)] + sys.argv[2:])
except SystemExit as e:
    sys.exit(e.code or 99)                      # 99: FLAGS asked for the driver's --help
condition = d.settings(a)                       # the non-default flags but --control
done = set()
if os.path.exists(a.results):
    with open(a.results, newline='') as f:
        rows = csv.DictReader(f)
        if rows.fieldnames and not {'seed', 'control', 'settings'} <= set(rows.fieldnames):
            sys.exit('error: %s has no seed/control/settings columns' % a.results)
        done = {int(r['seed']) for r in rows if (r['seed'] or '').isdigit()
                and r['control'] == a.control and r['settings'] == condition}
print(a.results, a.control, int(a.seed != SEED), int(a.threads != THREADS), sep='\n')
print(' '.join(map(str, sorted(done))))
EOF
)
case $? in 0) ;; 99) exit 0 ;; *) exit 2 ;; esac
{ IFS= read -r results; read -r control; read -r seed_set; read -r threads_set; read -r done_list; } <<<"$info"
(( seed_set )) && die "FLAGS must not set --seed: run i gets SEED_BASE+i"

threads=()
(( threads_set )) || threads=(--threads $(( $(nproc) / njobs > 1 ? $(nproc) / njobs : 1 )))
logdir=${RUN_LOG_DIR:-$(dirname -- "$results")/runs}
mkdir -p -- "$logdir" || exit 2

declare -A is_done=()
for s in $done_list; do is_done[$s]=1; done
todo=() skipped=0
for (( i = 0; i < runs; i++ )); do
    if [[ -n ${is_done[$(( base + i ))]:-} ]]; then
        skipped=$(( skipped + 1 ))
    else
        todo+=("$i")
    fi
done

declare -A run_of=()     # running child's pid -> run index
ok=0 failed=0 start=$SECONDS

hms() { printf '%d:%02d:%02d' $(( $1 / 3600 )) $(( $1 % 3600 / 60 )) $(( $1 % 60 )); }
runlog() { printf '%s/%s-seed%d.log' "$logdir" "$control" "$1"; }

# All terminal output comes from this process, one printf per line, so the
# lines of concurrent runs never mix.
finish() {      # pid status: report a finished run
    local i=${run_of[$1]} st=$2 log line
    unset "run_of[$1]"
    log=$(runlog $(( base + i )))
    if (( st == 0 )); then
        ok=$(( ok + 1 ))
        line=$(grep '^Entire Iter:' "$log" 2>/dev/null | tail -n 1)
        printf '%d Iteration, %s\n' "$i" "${line:-(no result line, see $log)}"
    else
        failed=$(( failed + 1 ))
        line=$(grep -v '^[[:space:]]*$' "$log" 2>/dev/null | tail -n 1)
        printf 'FAILED run %d, seed %d (exit %d): %s [%s]\n' "$i" $(( base + i )) "$st" "${line:-no output}" "$log" >&2
    fi
    local n=$(( ok + failed )) left=$(( ${#todo[@]} - ok - failed )) el=$(( SECONDS - start ))
    printf '[%d/%d] %d done, %d failed, %d running, %s left\n' "$n" "${#todo[@]}" "$ok" "$failed" \
        "${#run_of[@]}" "$( (( left == 0 )) && echo 0:00:00 || hms $(( el * left / n )) )"
}

reap() {        # wait until some run ends, and report it
    local pid st
    wait -n -p pid "${!run_of[@]}"; st=$?
    [[ -n ${pid:-} ]] || { echo "error: lost track of the runs" >&2; exit 1; }   # cannot happen
    finish "$pid" "$st"
}

summary() {
    printf 'summary: %d done, %d failed, %d skipped (already in %s), wall time %s\n' \
        "$ok" "$failed" "$skipped" "$results" "$(hms $(( SECONDS - start )))"
}

# Ctrl-C, SIGTERM, hangup: background children of a script ignore SIGINT, so
# every run is sent SIGTERM, which the driver turns into "exit 130, append
# nothing" (a row being written is finished first).
stop() {
    trap '' INT TERM HUP
    echo "interrupted: stopping ${#run_of[@]} running run(s)" >&2
    kill -TERM $(jobs -p) 2>/dev/null       # jobs -p: even one not yet in run_of
    local pid
    for pid in "${!run_of[@]}"; do
        wait "$pid"
        (( $? == 0 )) && finish "$pid" 0    # it finished before the signal
    done
    wait
    summary
    echo "interrupted: $ok run(s) finished in this batch; rerun the same command to resume" >&2
    exit 130
}
trap stop INT TERM HUP

echo "${#todo[@]} run(s) to do, $skipped skipped (already in $results), $njobs at a time" \
     "with ${threads[*]:-the --threads of FLAGS}; per-run logs in $logdir/"
for i in "${todo[@]}"; do
    while (( ${#run_of[@]} >= njobs )); do reap; done
    "$py" "$driver" --seed $(( base + i )) "${threads[@]}" "${extra[@]}" >"$(runlog $(( base + i )))" 2>&1 &
    run_of[$!]=$i
done
while (( ${#run_of[@]} )); do reap; done
summary
(( failed == 0 )) || exit 1
