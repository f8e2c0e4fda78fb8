"""A real single-node SLURM (tests/slurm_cluster.sh, fixture `slurm` in
conftest.py): job arrays as docs/cluster.md uses them.
Needs root and apt (Debian/Ubuntu); skipped otherwise."""
import os
import subprocess

import pytest

pytestmark = pytest.mark.slow       # a SLURM cluster


def sbatch(slurm, *args):
    """sbatch --parsable ARGS on the test cluster: (exit status, job id, stderr)."""
    r = subprocess.run(['sbatch', '--parsable'] + list(args), env=slurm.env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    return r.returncode, r.stdout.strip().split(';')[0], r.stderr


def test_array_wait(slurm, tmp_path):
    """A 2-task array with --wait: both tasks ran, each with its own index."""
    rc, job, err = sbatch(slurm, '--wait', '--array=0-1', '--chdir', str(tmp_path),
                          '--output', str(tmp_path / 'task-%a.out'),
                          '--wrap', 'echo "task $SLURM_ARRAY_TASK_ID"')
    assert rc == 0, err
    assert sorted(os.listdir(str(tmp_path))) == ['task-0.out', 'task-1.out']
    for i in 0, 1:
        assert (tmp_path / ('task-%d.out' % i)).read_text() == 'task %d\n' % i
    assert slurm.tasks(job) == {0: ('COMPLETED', 0), 1: ('COMPLETED', 0)}


def test_array_failing_task(slurm, tmp_path):
    """A failing task: sbatch --wait exits with the highest exit code of the
    tasks, and jobcomp tells which task failed and how."""
    rc, job, err = sbatch(slurm, '--wait', '--array=0-2', '--chdir', str(tmp_path),
                          '--output', '/dev/null', '--wrap', 'exit $((SLURM_ARRAY_TASK_ID * 3))')
    assert rc == 6, err
    assert slurm.tasks(job) == {0: ('COMPLETED', 0), 1: ('FAILED', 3), 2: ('FAILED', 6)}
