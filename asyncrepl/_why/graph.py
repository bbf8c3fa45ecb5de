"""The wait-for graph: which tasks nothing will move on, and the cycles among them.

Plain graph code over :class:`~asyncrepl._why.model.Wait` records (a task's
*targets* are its edges, its *mode* says whether all of them or any one must
end); no asyncio.
"""

from __future__ import annotations

from .model import DEAD_ENDS, Wait


def stuck_among(waits: dict) -> set:
    """The tasks of *waits* (task -> Wait) that nothing will move on, as far
    as can be told: a fixpoint over the graph (a task waiting for *all* of
    its targets is stuck when one of them is; for *any* of them, when every
    one is)."""
    stuck = {task for task, wait in waits.items() if wait.end in DEAD_ENDS or (wait.targets and wait.end is None)}
    changed = True
    while changed:
        changed = False
        for task in list(stuck):
            wait = waits[task]
            if wait.end in DEAD_ENDS:
                continue
            inside = [target in stuck for target in wait.targets]
            keep = any(inside) if wait.mode == "all" else all(inside)
            if not keep:
                stuck.discard(task)
                changed = True
    return stuck


def cycles_among(stuck: set, waits: dict) -> list[list]:
    """The wait-for cycles among the *stuck* tasks (strongly connected parts
    of two tasks or more, or a task waiting on itself), each as the tasks in
    the order they wait on each other."""
    edges = {task: [t for t in waits[task].targets if t in stuck] for task in stuck}
    cycles = []
    for component in _components(edges):
        if len(component) > 1 or component[0] in edges[component[0]]:
            cycles.append(_cycle_through(component, edges))
    return cycles


def choose(wait: Wait, stuck: set, cycles: list):
    """The target a chain goes on to: one in a cycle, else a stuck one;
    for a wait any target can end, None if one of them can still move."""
    in_cycle = [t for t in wait.targets if any(t in cycle for cycle in cycles)]
    if in_cycle:
        return in_cycle[0]
    stuck_targets = [t for t in wait.targets if t in stuck]
    if wait.mode == "any" and len(stuck_targets) < len(wait.targets):
        return next(t for t in wait.targets if t not in stuck)  # the one that can move on
    return stuck_targets[0] if stuck_targets else wait.targets[0]


def _components(edges: dict) -> list[list]:
    """Strongly connected components (Tarjan's, iterative)."""
    index_of: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    components = []
    counter = 0
    for root in edges:
        if root in index_of:
            continue
        work = [(root, iter(edges[root]))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member is node:
                        break
                components.append(component)
    return components


def _cycle_through(component: list, edges: dict) -> list:
    """One cycle through a strongly connected *component*, from its member
    the registry made first, following edges that stay inside it."""
    members = set(component)
    start = component[-1]
    path, seen = [start], {start: 0}
    node = start
    while True:
        nxt = next((t for t in edges[node] if t in members), None)
        if nxt is None:
            return path
        if nxt in seen:
            return path[seen[nxt] :]
        seen[nxt] = len(path)
        path.append(nxt)
        node = nxt
