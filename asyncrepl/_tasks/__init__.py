"""Task introspection, split by job: plain asyncio; nothing here knows IPython.

* ``code``: which code is the user's, and where a task was made or cancelled;
* ``registry``: the task factory, short ids, asyncrepl's own tasks;
* ``history``: what became of finished tasks, and the failures kept;
* ``resolve``: one reading of the ids, names and globs every magic takes;
* ``awaits``: await chains, what a task waits on, who awaits whom;
* ``cancelling``: why a cancelled task has not ended;
* ``naming``, ``rows``: how tasks and values are named, and ``%tasks``' rows;
* ``private``: every private attribute of asyncio these read.
"""

from .awaits import AwaitGraph, Link, await_chain, awaited_tasks, chain_locals, in_a_pending_gather, task_state, waits_on
from .cancelling import StillRunning
from .code import Site, is_repl_machinery
from .history import Finished
from .naming import coroutine_name, task_label
from .factory import TaskInfo
from .registry import TaskRegistry, ending, outcome
from .resolve import AmbiguousTask, Matches, NoSuchTask
from .rows import TaskRow, row, summary

__all__ = [
    "AmbiguousTask",
    "AwaitGraph",
    "Finished",
    "Link",
    "Matches",
    "NoSuchTask",
    "Site",
    "StillRunning",
    "TaskInfo",
    "TaskRegistry",
    "TaskRow",
    "await_chain",
    "awaited_tasks",
    "chain_locals",
    "coroutine_name",
    "ending",
    "in_a_pending_gather",
    "is_repl_machinery",
    "outcome",
    "row",
    "summary",
    "task_label",
    "task_state",
    "waits_on",
]
