"""What a run tells as it goes, in one place: the console lines, the
TensorBoard scalars, and the events for the batch that started it. The lines
are the 2017 script's where it had them (the per-generation line, `Entire
Iter:...`); programs read the results log and the events, never these lines."""
import os
import sys
import time

import results_log
from events import emit
from stop import STARTED


class Report:
    """Everything a run tells as it goes, in one place: the console lines (a line per
    generation unless --quiet, each task's outcome, the 2017 summary line) and the
    TensorBoard scalars of --log_dir (the two fitnesses and the best so far, per
    generation; with several seeds, a folder per seed)."""

    def __init__(self, args, hold=False):
        """hold: keep the console lines and events until release(), so that the
        experiments of several slots, running at once, are told one after
        another (the batch files a console's lines by its events)."""
        self.args, self.several, self.writer = args, len(args.seeds) > 1, None
        self.held = [] if hold else None

    def _say(self, text, err=False):
        if self.held is not None:
            self.held.append((err, text))
        else:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    def _emit(self, *a, **k):
        if self.held is not None:
            self.held.append((None, (a, k)))
        else:
            emit(*a, **k)

    def close(self):
        """The experiment is over: close its TensorBoard log, tell what was held."""
        self.end_experiment()
        self.release()

    def release(self):
        """Tell what was held, in order; from now on nothing is held."""
        held, self.held = self.held or [], None
        for err, what in held:
            if err is None:
                emit(*what[0], **what[1])
            else:
                self._say(what, err)

    def ready(self, imports, data, graph):
        self._say('ready %.1fs after start: imports %.1fs, data %.1fs, graph %.1fs'
              % (time.time() - STARTED, imports, data, graph))

    def experiment(self, k, seed):
        self._emit('start', seed)
        if self.several:
            self._say('experiment %d of %d: seed %d' % (k + 1, len(self.args.seeds), seed))
        if self.args.log_dir:
            from pathnet import tf
            self.writer = tf.summary.FileWriter(os.path.join(self.args.log_dir, 'seed%d' % seed)
                                                if self.several else self.args.log_dir)

    def generation(self, task, generation, fitness, best, seconds):
        if self.writer:
            from pathnet import tf
            self.writer.add_summary(tf.Summary(value=[
                tf.Summary.Value(tag='task%d/fitness_%s' % (task + 1, c), simple_value=f)
                for c, f in zip('ab', fitness)] + [
                tf.Summary.Value(tag='task%d/best' % (task + 1), simple_value=best)]),
                generation)
        if not self.args.quiet:
            self._say('task %d  gen %4d  fitness %.4f %.4f  best %.4f  %6.1fs'
                  % (task + 1, generation, fitness[0], fitness[1], best, seconds))

    def validation(self, task, generation, accuracy):
        if self.writer:
            from pathnet import tf
            self.writer.add_summary(tf.Summary(value=[tf.Summary.Value(
                tag='task%d/val_accuracy' % (task + 1), simple_value=accuracy)]), generation)

    def diverged(self, seed, task, generation):
        self._say('warning: seed %d: task %d diverged at generation %d (non-finite loss); '
              'recorded as not converged' % (seed, task + 1, generation), err=True)

    def task(self, task, classes, result):
        self._say('task %d (%d vs %d) %s after %d generations, fitness %.4f, path %s'
              % (task + 1, classes[0], classes[1],
                 'solved' if result.converged else
                 'DIVERGED' if result.diverged else 'NOT solved',
                 result.generations, result.fitness, results_log.path_text(result.mask)))

    def accuracy(self, task, classes, accuracy, before=None):
        """A task's test accuracy after task 2; task 1's also right after task 1."""
        notes = ['%.4f right after task 1' % before] if before is not None else []
        # scratch re-initialises task 1's modules for task 2: what task 1's path gives
        # afterwards, and which of its modules task 2 re-uses, say nothing about task 1.
        # (finetune_reinit keeps task 1's path, so both still mean what they say.)
        if task == 0 and self.args.control == 'scratch':
            notes.append('meaningless under scratch, as is the overlap: task 1\'s modules '
                         'were re-initialised')
        self._say('task %d test accuracy (%d vs %d, winning path): %.4f%s'
                  % (task + 1, classes[0], classes[1], accuracy,
                     ' (%s)' % '; '.join(notes) if notes else ''))

    def end_experiment(self):
        if self.writer:
            self.writer.close()
            self.writer = None

    def failed(self, seed, error):
        self._say('error: seed %d failed: %s: %s'
                  % (seed, type(error).__name__, first_line(error)), err=True)
        self._emit('failed', seed, error='%s: %s' % (type(error).__name__, first_line(error)))
        self.close()

    def written(self, row):
        self._say('Entire Iter:%d,TASK1:%d,TASK2:%d,Overlap:%d'
                  % (row['task1_generations'] + row['task2_generations'], row['task1_generations'],
                     row['task2_generations'], row['overlap']))
        self._emit('done', row['seed'], task1_generations=row['task1_generations'],
                   task2_generations=row['task2_generations'], overlap=row['overlap'])
        self.close()

    def seeds(self, done, failed):
        if self.several:
            self._say('seeds: %d done, %d failed%s' % (len(done), len(failed),
                      ' (%s)' % ' '.join(map(str, failed)) if failed else ''))


def first_line(error):
    """The informative line of an exception (TensorFlow's start with a
    generic 'Graph execution error:')."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    lines = [l for l in lines if not l.endswith('execution error:')] or lines or ['']
    return lines[0]
