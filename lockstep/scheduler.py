"""Experiments in lockstep: K slots of one graph, each running an experiment
(a generator, binary_mnist_pathnet.experiment), one session.run per round
playing the pending tournament of every busy slot.

Seeds go to slots in the order given; a slot whose experiment ends (or fails)
takes the next seed at once, so slots may be in different tasks. Rounds visit
the slots in order 0..K-1, so which slot runs which seed is deterministic; a
seed's row does not depend on it anyway. With K = 1 this is the ordinary run,
one experiment after another.
"""
from stop import Interrupted

# Never one experiment's failure: they end the whole run.
FATAL = (Interrupted, KeyboardInterrupt, SystemExit)


class Slot:
    """A busy slot: its seed, its experiment and the tournament it waits for."""

    def __init__(self, seed, steps, request):
        self.seed, self.steps, self.request = seed, steps, request


def play(net, sess, seeds, start, finish, fail, stop, check=None):
    """Run the experiments of `seeds` in the net's slots (net.S of them).

    start(k, seed, slot) -> the experiment's generator (k: the seed's place in
    seeds); finish(seed, slot, row) once it returns; fail(seed, slot, error)
    if it raises: one experiment's failure costs no other, its slot moves on.
    stop.check() is called before every round and every start; a stop, and
    any error raised by finish (a row that cannot be written), end the run at
    once. check(request) validates a tournament before it is batched with the
    others', so a bad one fails its own slot only."""
    queue = list(enumerate(seeds))
    busy = [None] * net.S

    def resume(s, seed, steps, outcome):
        """Send slot s's experiment its last outcome; True if it asks for
        another tournament (then busy[s] holds it)."""
        try:
            request = steps.send(outcome)         # send(None) starts it
            if check:
                check(request)
        except StopIteration as end:
            finish(seed, s, end.value)
            return False
        except FATAL:
            raise
        except Exception as e:      # noqa: BLE001 - this seed's failure, reported
            steps.close()
            fail(seed, s, e)
            return False
        busy[s] = Slot(seed, steps, request)
        return True

    def refill(s):
        busy[s] = None
        while queue:
            k, seed = queue.pop(0)
            stop.check()
            try:
                steps = start(k, seed, s)
            except FATAL:
                raise
            except Exception as e:      # noqa: BLE001
                fail(seed, s, e)
                continue
            if resume(s, seed, steps, None):
                return

    for s in range(net.S):
        refill(s)
    while any(busy):
        stop.check()
        try:
            outcomes = net.tournaments(sess, [b.request if b else None for b in busy])
        except FATAL:
            raise
        except Exception as e:      # noqa: BLE001 - a failed round: no slot can go on
            outcomes = [e] * net.S
        for s, (b, outcome) in enumerate(zip(list(busy), outcomes)):
            if b is None:
                continue
            if isinstance(outcome, Exception):
                b.steps.close()
                fail(b.seed, s, outcome)
                refill(s)
            elif not resume(s, b.seed, b.steps, outcome):
                refill(s)


def alone(steps, net, sess):
    """Drive one generator of the driver (evolve, experiment) in slot 0, the
    other slots idle: for tools that run a single task or experiment by hand.
    Its return value."""
    outcome = None
    try:
        while True:
            request = steps.send(outcome)
            outcome = net.tournaments(sess, [request] + [None] * (net.S - 1))[0]
    except StopIteration as end:
        return end.value
