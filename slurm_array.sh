# The SLURM half of auto_binary_mnist_pathnet.sh (SCHEDULER=slurm), sourced
# by it once it knows the seeds still to do (todo), the condition and the
# driver's flags. Submits ONE job array: each array task runs a share of the
# seeds in one process and appends to a log of its own in $parts (shared
# storage; no locking across nodes), which the resume rule, the plot scripts
# and `results_log.py merge` all read.

command -v sbatch >/dev/null || die "SCHEDULER=slurm: sbatch not found (is SLURM installed here?)"
mkdir -p -- "$parts" || die "cannot create $parts"
parts=$(cd "$parts" && pwd)
n=${#todo[@]}
per=${SEEDS_PER_TASK:-$(( (n + njobs - 1) / njobs ))}
[[ $per =~ ^[1-9][0-9]{0,8}$ ]] || die "SEEDS_PER_TASK must be a positive integer, got '$per'"
tasks=$(( (n + per - 1) / per ))
threads=1
(( threads_set )) && threads=$("$py" - "$here" "${extra[@]}" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import binary_mnist_pathnet as d
print(max(1, d.parse_args(['--seed', '0'] + sys.argv[2:]).threads))
EOF
)

# An array still queued or running holds its seeds (claim-<id>.txt): they
# have no rows until they finish, and resubmitting them would run them twice.
for c in "$parts"/claim-*.txt; do
    [[ -f $c ]] || continue
    cid=${c##*/claim-} cid=${cid%.txt}
    [[ $cid =~ ^[0-9]+$ ]] || continue
    if q=$(squeue -h -j "$cid" -o %i 2>&1); then
        [[ -n $q ]] || { rm -f -- "$c"; continue; }
    elif [[ $q == *'Invalid job id'* ]]; then
        rm -f -- "$c"; continue
    else
        die "cannot ask squeue whether job array $cid (claim $c) still runs: $q"
    fi
    { IFS= read -r cond; read -r seeds; } <"$c"
    [[ $cond == "$control $condition" ]] || continue
    for s in $seeds; do
        [[ -z ${is_todo[$s]:-} ]] || die "seed $s of this condition is in job array $cid," \
            "still queued or running; wait for it (squeue -j $cid) or scancel it, then rerun"
    done
done

# Task i runs line i+1 of the seeds file; the script and the seeds stay in
# $parts, so what ran can be read back.
stamp=$(date +%Y%m%d-%H%M%S)-$$
seeds_file=$parts/seeds-$stamp.txt
for (( i = 0; i < n; i += per )); do
    (IFS=,; echo "${todo[*]:i:per}")
done >"$seeds_file" || die "cannot write $seeds_file"
job=$parts/job-$stamp.sh
out=${parts//%/%%}/slurm-%A_%a.out
{
    echo '#!/bin/bash'
    echo "#SBATCH --job-name=pathnet-$control"
    echo "#SBATCH --array=0-$(( tasks - 1 ))%$njobs"
    echo "#SBATCH --cpus-per-task=$threads"
    # --output is given on sbatch's command line: a #SBATCH line cannot hold
    # a folder with a space, and % is a filename pattern (%% a literal %).
    echo "# sbatch --output=$out"
    printf 'parts=%q\n' "$parts"
    echo "seeds=\$(sed -n \"\$(( SLURM_ARRAY_TASK_ID + 1 ))p\" $(printf '%q' "$seeds_file"))"
    printf 'exec %q %q --seeds "$seeds" --threads %d' "$py" "$driver" "$threads"
    (( ${#extra[@]} )) && printf ' %q' "${extra[@]}"
    # The last --results wins: each task appends to a log of its own.
    echo ' --results "$parts/part-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.csv"'
} >"$job" || die "cannot write $job"

read -ra sbatch_args <<<"${SBATCH_ARGS:-}"
id=$(sbatch --parsable --output="$out" "${sbatch_args[@]}" "$job") || die "sbatch refused the job array ($job)"
id=${id%%;*}
printf '%s\n' "$control $condition" "${todo[*]}" >"$parts/claim-$id.txt"
echo "submitted job array $id: $n run(s) in $tasks task(s) of up to $per seed(s), at most" \
     "$njobs at once; $skipped skipped (already in $results or $parts/)"
echo "follow it with: squeue -j $id; task logs: $parts/slurm-${id}_*.out"
printf 'when it is done: %q %q merge %q %q\n' "$py" "$here/results_log.py" "$results" "$parts"
[[ ${WAIT:-0} == 1 ]] || exit 0

# --wait: until no task of the array is left in the queue, then report from
# the tasks' logs (SLURM without accounting keeps no exit codes).
# squeue refuses an id no longer known (the array ended, MinJobAge ago);
# any other error (e.g. a busy controller timing out) is not the end.
while :; do
    if q=$(squeue -h -j "$id" -o %i 2>&1); then
        [[ -n $q ]] || break
    elif [[ $q == *'Invalid job id'* ]]; then
        break
    elif [[ $q != "${squeue_error:-}" ]]; then
        squeue_error=$q
        echo "warning: squeue failed, polling on: $q" >&2
    fi
    sleep "${SLURM_POLL:-2}"
done
ok=0 failed=0 failures=()
for (( t = 0; t < tasks; t++ )); do
    # A task cancelled before it ran has no output file: awk would stop
    # before its END, and the task's seeds be neither done nor failed.
    out_t=$parts/slurm-${id}_$t.out
    [[ -r $out_t ]] || out_t=/dev/null
    while IFS=' ' read -r seed text; do
        if [[ $text == 'Entire Iter:'* ]]; then
            ok=$(( ok + 1 ))
            printf '%d Iteration, %s\n' $(( seed - base )) "$text"
        else
            failed=$(( failed + 1 ))
            failures+=("FAILED run $(( seed - base )), seed $seed: $text [$parts/slurm-${id}_$t.out]")
        fi
    done < <(awk -v list="$(sed -n "$(( t + 1 ))p" "$seeds_file")" '
        BEGIN { n = split(list, s, ","); seed = s[1] }
        /^experiment [0-9]+ of [0-9]+: seed [0-9]+$/ { seed = $NF; next }
        /^Entire Iter:/ { done[seed] = $0 }
        /^error: seed [0-9]+ failed: / { err[$3] = $0 }
        NF { last = $0; last_of[seed] = $0 }
        END { for (i = 1; i <= n; i++) { x = s[i]
                  if (x in done) print x, done[x]
                  else if (x in err) print x, err[x]
                  else if (x in last_of) print x, "its task ended during it: " last_of[x]
                  else print x, "not run: its task ended: " (last == "" ? "no output" : last) } }' \
        "$out_t")
done
(( failed == 0 )) || printf '%s\n' "${failures[@]}" >&2
# Nothing to merge when no task wrote a row (merge refuses a folder without
# *.csv); a merge that fails is not one more failed experiment.
merged=1
for f in "$parts"/*.csv; do
    [[ -e $f ]] && { "$py" "$here/results_log.py" merge "$results" "$parts" || merged=0; }
    break
done
summary
(( failed == 0 && merged ))
