"""Several experiments in one TensorFlow graph, in lockstep (--slots K):
training.py builds the tournament's training loop for every slot at once,
scheduler.py deals the seeds out to the slots and plays one tournament of
every busy slot per session.run."""
