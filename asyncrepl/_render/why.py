"""Drawing the wait-for analysis (:mod:`asyncrepl._why`) in words: ``%why``'s
chains and groups, and the deadlock report's line.

*place* names a code site as the user knows it (``Views.place``:
``In [3] line 4: source``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._why import Analysis, Cancelling, Cause, Chain, Wait

__all__ = ["Place", "deadlock_line", "render_all", "render_chain"]

Place = Callable[..., str]  # Views.place: (Site, with_source=True) -> "In [3] line 4: source"


def render_parts(parts: list, place: Place) -> str:
    """One line of *parts* (strings, and (words, Site) pairs named by *place*)."""
    out = []
    for index, part in enumerate(parts):
        if isinstance(part, tuple):
            words, site = part
            if site is None:
                continue
            text = f"{words} {place(site, with_source=False)}"
            out.append(f"({text})" if words.endswith("taken at") else text)
        elif index == len(parts) - 1 and index > 2 and not part.startswith("and "):
            out[-1] += ","
            out.append(part)
        else:
            out.append(part)
    return " ".join(out)


def deadlock_line(analysis: Analysis, cycle: list, place: Place) -> str:
    """The deadlock report's line: ``task 21 holds lock a (taken at In [3]
    line 4) and waits for lock b at In [3] line 5, held by task 22; task
    22 ...``."""
    return "; ".join(render_parts(parts, place) for parts in analysis.describe_cycle(cycle))


def _step_line(analysis: Analysis, wait: Wait, place: Place) -> str:
    text = wait.what
    if wait.holders and wait.kind in ("lock", "condition", "semaphore"):
        live = [h for h in wait.holders if h.ended is None]
        shown = []
        for held in live[:5]:
            taken = f" (taken at {place(held.taken_at, with_source=False)})" if held.taken_at is not None else held.taken
            shown.append(f"{analysis.short(held.task) if held.task is not None else held.label}{taken}")
        if shown:
            text += ", held by " + ", ".join(shown) + (f", +{len(live) - 5}" if len(live) > 5 else "")
    elif wait.targets and wait.kind not in ("task",):
        ids = ", ".join(str(analysis.registry.info(t).id) for t in wait.targets[:5])
        more = f", +{len(wait.targets) - 5}" if len(wait.targets) > 5 else ""
        text += f", {wait.role} task{'s' if len(wait.targets) > 1 else ''} {ids}{more}"
    if wait.timeouts:
        text += "; " + ", ".join(wait.timeouts)
    return text


def render_cause(cause: Cause, place: Place, indent: str = "  ") -> list[str]:
    lines = []
    for parts in cause.details:
        if cause.kind == "cycle":
            lines.append(indent + render_parts(parts, place))
        else:
            lines.append(indent + render_parts(parts[:1], place))
            for words, site in parts[1:]:
                if site is not None:
                    lines.append(f"{indent}  {words} {place(site)}")
    return lines


def render_cancelling(cancelling: Cancelling, place: Place) -> str:
    text = f"cancelled by {cancelling.who}"
    if cancelling.asked_at is not None:
        text += f" at {place(cancelling.asked_at, with_source=False)}"
    whose = "it" if cancelling.by is None else cancelling.by
    if cancelling.how == "caught" and cancelling.where is not None:
        text += f"; {whose} caught CancelledError at {place(cancelling.where)} and went on"
    elif cancelling.how == "handling" and cancelling.where is not None:
        text += f"; {whose} is still unwinding, in an except or finally block at {place(cancelling.where)}"
    else:
        text += "; it has not ended yet (it waits for what it awaits to end)"
    return text


def render_chain(analysis: Analysis, chain: Chain, place: Place) -> list[str]:
    """``%why ID``: the chain, one line per link, then the root cause."""
    cause = chain.cause
    verdict = "is stuck" if chain.stuck else "is not stuck"
    heading = _HEADINGS.get(cause.kind)
    lines = [f"task {chain.label} {verdict}: {heading + ': ' if heading else ''}{cause.summary}"]
    for index, wait in enumerate(chain.steps):
        who = analysis.short(wait.task)
        arrow = "  " if index == 0 else "  -> "
        where = f" at {place(wait.where)}" if wait.where is not None and wait.kind not in ("running", "ready", "done") else ""
        lines.append(f"{arrow}{who} waits{where}" if where else f"{arrow}{who}: {wait.what}")
        if where:
            lines.append(f"{' ' * len(arrow)}   on {_step_line(analysis, wait, place)}")
    if chain.cancelling is not None:
        lines.append("  " + render_cancelling(chain.cancelling, place))
    if cause.details:
        lines.append(f"  {_HEADINGS.get(cause.kind, cause.kind)}:")
        lines += render_cause(cause, place, "    ")
    return lines


_HEADINGS = {
    "cycle": "deadlock",
    "leak": "leak",
    "dead partner": "dead partner",
    "cancelling": "cancellation in progress",
    "held idle": "held while waiting for work",
}


def group(chains: list[Chain]) -> list[tuple[Cause, list[Chain]]]:
    """Chains grouped by their root cause, in the order given (cycles first...)."""
    groups: dict = {}
    for chain in chains:
        key = chain.cause.key if chain.cause.key is not None else ("other", id(chain))
        if chain.cause.kind not in _HEADINGS:
            key = ("rest",)
        groups.setdefault(key, (chain.cause, []))[1].append(chain)
    return list(groups.values())


def render_all(analysis: Analysis, chains: list[Chain], place: Place) -> list[str]:
    """``%why``: every stuck task, grouped by root cause."""
    if not chains:
        waiting = sum(1 for t in analysis.tasks if not analysis.registry.is_own(t) and t is not analysis.current)
        verb = "waits" if waiting == 1 else "wait"
        return [f"no stuck task: {waiting} pending task{'s' if waiting != 1 else ''} {verb} on timers, I/O or threads, or for work, or can move on"]
    lines = []
    for cause, members in group(chains):
        ids = [analysis.registry.info(chain.task).id for chain in members]
        if cause.kind in _HEADINGS:
            if cause.kind == "cancelling":
                for chain in members:
                    lines.append(f"cancellation in progress: task {chain.label}")
                    lines.append("  " + render_cancelling(chain.cancelling, place))
                continue
            lines.append(f"{_HEADINGS[cause.kind]}: {cause.summary}")
            lines += render_cause(cause, place)
            if cause.kind == "cycle":
                in_cause = {id(t) for t in cause.tasks}
                behind = [chain for chain in members if id(chain.task) not in in_cause]
            else:
                # Those waiting on it themselves, by where they wait; then the
                # tasks that wait on those (a request handler awaiting its task).
                # Of a lock held while its holder waits for work, the holder is
                # the chain's last step, and those waiting on it the lock's.
                steps_to_it = 2 if cause.kind == "held idle" else 1
                behind = [chain for chain in members if len(chain.steps) > steps_to_it]
                at_places: dict = {}
                for chain in members:
                    if len(chain.steps) == steps_to_it:
                        at_places.setdefault(chain.steps[0].where, []).append(analysis.registry.info(chain.task).id)
                for where, direct in at_places.items():
                    lines.append(f"  waiting on it: tasks {_id_list(direct)}" + (f" (at {place(where)})" if where else ""))
            if behind:
                lines.append(f"  waiting behind it: tasks {_id_list([analysis.registry.info(c.task).id for c in behind])}")
        else:
            lines.append(f"waiting, not known to be stuck for good: tasks {_id_list(ids)}")
            for chain in members[:10]:
                last = chain.steps[-1]
                step = _step_line(analysis, chain.steps[0], place)
                if len(chain.steps) > 1:
                    step += f"; {analysis.short(last.task)}: {cause.summary}"
                elif cause.summary.startswith(step):  # "future X: nothing known sets its result"
                    step = cause.summary
                else:
                    step += f"; {cause.summary}"
                lines.append(f"  {analysis.short(chain.task)}: {step}")
    lines.append("%why ID shows one task's chain")
    return lines


def _id_list(ids: list) -> str:
    more = f", +{len(ids) - 10}" if len(ids) > 10 else ""
    return ", ".join(map(str, ids[:10])) + more
