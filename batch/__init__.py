"""Many binary-MNIST PathNet experiments, several processes at once, into one
results log, resumable: the batch runner behind auto_binary_mnist_pathnet.sh.

    cli.py      the command: what to run (the seeds not yet in the log), then
                one of the two halves below; its USAGE says everything
    local.py    the seeds dealt out to processes of the driver here, followed
                through the events they write (events.py)
    slurm.py    the seeds as ONE SLURM job array (SCHEDULER=slurm)
    common.py   what the halves share; it imports neither of them

Stdlib only, besides the driver's parser, results_log and events.
"""
