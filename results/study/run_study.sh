#!/usr/bin/env bash
# The protocol study ("When does PathNet transfer?" in the README): every cell
# with the three controls, paired by seed, each cell in a log of its own here.
# Rounds of seeds over all cells, so an interrupted study has every cell
# started; rerun the same command to resume (the batches skip done seeds).
#   results/study/run_study.sh [JOBS] [STAGE...]     stages: 1 2 (default both)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
auto=$here/../../auto_binary_mnist_pathnet.sh
out=${STUDY_DIR:-$here}      # where the cells' logs go
jobs=${1:-$(nproc)}
shift || true
stages=${*:-1 2}
SGD='--optimizer sgd --learning_rate 0.05'   # see the README: the rate that solves task 1 in every pilot seed, faster than 0.01
declare -A cell=(
    [restore_adam]=''
    [restore_sgd]="$SGD"
    [shared_adam]='--tournament shared'
    [shared_sgd]="--tournament shared $SGD"
    [shared_sgd_fresh]="--tournament shared $SGD --noise_mode fresh"
    [shared_sgd_mean]="--tournament shared $SGD --aggregate mean"
    [shared_sgd_pop20]="--tournament shared $SGD --candi 20"
)
order=()
[[ " $stages " == *" 1 "* ]] && order+=(restore_adam restore_sgd shared_adam shared_sgd)
[[ " $stages " == *" 2 "* ]] && order+=(shared_sgd_mean shared_sgd_pop20 shared_sgd_fresh)
for runs in ${STUDY_ROUNDS:-10 25 50}; do
    for name in "${order[@]}"; do
        for control in pathnet scratch finetune; do
            # shellcheck disable=SC2086  # the cell's flags are words
            "$auto" "$runs" "$jobs" -- --quiet --results "$out/$name.csv" --control "$control" \
                ${cell[$name]}
            st=$?
            (( st == 130 )) && exit 130
        done
    done
done
