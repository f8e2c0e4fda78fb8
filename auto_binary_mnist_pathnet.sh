#!/usr/bin/env bash
# Many binary-MNIST PathNet experiments, several processes at once (or one
# SLURM job array), each running a share of the seeds, resumable from the
# results log: the batch/ package does it all; run with --help for its usage. This
# script only picks the interpreter, for the batch and its runs alike:
#   PYTHON, else .venv/bin/python beside this script, else python3.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${PYTHON:-}
if [[ -z $py ]]; then
    py=python3
    [[ -x $here/.venv/bin/python ]] && py=$here/.venv/bin/python
fi
shopt -s execfail       # an interpreter that cannot be run is bad usage (2), not 126/127
exec "$py" "$here/batch/__main__.py" "$@"
echo "error: cannot run the interpreter '$py' (PYTHON)" >&2
exit 2
