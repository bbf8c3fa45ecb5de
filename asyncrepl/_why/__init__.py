"""Why a task is stuck: the wait-for analysis behind ``%why``, ``%tasks``'
"waits on" and the deadlock report.

For each pending task, what it waits on directly (:class:`Wait`): another
task, a gather, a TaskGroup, a timer, I/O, a thread, or one of asyncio's
primitives; and for a primitive, the tasks that hold it (locks and permits,
recorded by :mod:`asyncrepl._holders`) or could release, set or feed it.
Those are the edges of a wait-for graph.  A task's chain (:class:`Chain`)
follows the edges to a root cause: a timer, I/O, a thread, a **cycle** (a
deadlock), a **leak** (a lock or permits held by tasks that have ended), a
**dead partner** (a queue whose consumers or producers have ended, an Event
nobody is set up to set), or a **cancellation in progress**.

Plain asyncio; nothing here knows IPython.  The modules, in the order the
analysis uses them:

* ``model``: what it finds (Wait, Held, Partner, Cause, Cancelling, Chain);
* ``facts``: what it reads of each task, once (frames, where it waits, names);
* ``naming``: the name a primitive has in the user's code, and code sites;
* ``waits``: what one task waits on directly;
* ``primitives``: for a lock, semaphore, queue, event, condition or barrier,
  who holds it or could end the wait;
* ``endpoints``: the socket, pipe or thread a task waits on;
* ``graph``: the stuck tasks and the cycles among them;
* ``analysis``: the chains from a task to its root cause.

Their rendering is ``asyncrepl._render.why``.
"""

from .analysis import Analysis, analyse, wait_for_note
from .model import DEAD_ENDS, PROGRESS, Cancelling, Cause, Chain, Held, Partner, Wait

__all__ = [
    "DEAD_ENDS", "PROGRESS", "Analysis", "Cancelling", "Cause", "Chain", "Held", "Partner", "Wait", "analyse", "wait_for_note",
]
