"""Task introspection, split by job: plain asyncio; nothing here knows IPython.

* ``code``: which code is the user's, and where a task was made or cancelled;
* ``registry``: the task factory, short ids, asyncrepl's own tasks;
* ``history``, ``finished``: what became of finished tasks, the failures kept, and their records;
* ``resolve``: one reading of the ids, names and globs every magic takes;
* ``awaits``: await chains, what a task waits on, who awaits whom;
* ``cancelling``: why a cancelled task has not ended;
* ``naming``, ``rows``: how tasks and values are named, and ``%tasks``' rows;
* ``private``: every private attribute of asyncio these read.
"""

from .._lazy import lazy_exports

#: Each name this package offers, and its module (imported at first use).
_WHERE = {
    "AwaitGraph": "awaits",
    "Link": "awaits",
    "await_chain": "awaits",
    "awaited_tasks": "awaits",
    "chain_locals": "awaits",
    "in_a_pending_gather": "awaits",
    "shown_chain": "awaits",
    "task_state": "awaits",
    "users_coroutine": "awaits",
    "waits_on": "awaits",
    "StillRunning": "cancelling",
    "why_still_running": "cancelling",
    "Site": "code",
    "is_repl_machinery": "code",
    "TaskInfo": "factory",
    "Finished": "finished",
    "coroutine_name": "naming",
    "task_label": "naming",
    "TaskRegistry": "registry",
    "ending": "registry",
    "outcome": "registry",
    "AmbiguousTask": "resolve",
    "Matches": "resolve",
    "NoSuchTask": "resolve",
    "TaskRow": "rows",
    "row": "rows",
    "summary": "rows",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
