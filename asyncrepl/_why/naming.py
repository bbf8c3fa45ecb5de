"""Naming what the user recognises: the name a primitive has in the user's
code (``locks['alice']``, ``self.lock``), whether a task's variables refer
to one, and the code site a frame is at.

Only dicts, lists, tuples and the ``__dict__`` of instances are read: no
user code runs (no properties, no ``__getitem__``).
"""

from __future__ import annotations

import sys
import weakref

from .._tasks.code import Site

_MOST_ITEMS = 256  # items of a dict or list looked through when naming a primitive


def name_in_frames(value, frames) -> str | None:
    """A name *value* has in *frames* (innermost first): a global of theirs
    first, the one name every task knows it by (a lock passed as an argument
    is ``first`` in one task and ``second`` in another: ``lock_a`` in both);
    else a local variable, an attribute of one (``self.lock``) or of one of
    its attributes (``self._protocol.read_event``), an item of a
    dict or list held in one (``locks['alice']``, ``self.locks['alice']``),
    or an item of a global dict or list.  Only dicts and lists are read: no
    user code runs."""
    for frame in frames:
        for key, candidate in frame.f_globals.items():
            if candidate is value and not key.startswith("_"):
                return key
    for frame in frames:
        found = _name_in_frame(value, frame)
        if found:
            return found
    return None


def _name_in_frame(value, frame) -> str | None:
    local = frame.f_locals
    for key, candidate in local.items():
        if candidate is value:
            return key
    for key, owner in local.items():
        found = _name_inside(value, owner, key)
        if found:
            return found
    for key, owner in local.items():
        attributes = attributes_of(owner)
        for attribute, inner in attributes.items():
            if isinstance(inner, (dict, list, tuple)):
                found = _item_name(value, inner, f"{key}.{attribute}")
            else:  # self._protocol.read_event, self.pool.lock
                found = next((f"{key}.{attribute}.{name}" for name, v in attributes_of(inner).items() if v is value), None)
            if found:
                return found
    for key, candidate in frame.f_globals.items():
        if candidate is value:
            return key
    for key, candidate in list(frame.f_globals.items()):
        if isinstance(candidate, (dict, list)) and not key.startswith("_"):
            found = _item_name(value, candidate, key)
            if found:
                return found
    return None


def attributes_of(owner) -> dict:
    """*owner*'s instance attributes, its ``__dict__`` and its slots (aiohttp's
    protocols keep their transport in one), read without running its code
    ({} for none)."""
    if owner is None or isinstance(owner, (type(sys), type, str, bytes, int, float)):
        return {}
    try:
        attributes = object.__getattribute__(owner, "__dict__")
    except Exception:
        attributes = None
    attributes = attributes if isinstance(attributes, dict) else {}
    slots = _slots_of(type(owner))
    if not slots:
        return attributes
    found = dict(attributes)
    for name, member in slots:
        try:
            found[name] = member.__get__(owner, type(owner))
        except AttributeError:  # a slot never set
            pass
    return found


_MemberDescriptor = type(type("_Slotted", (), {"__slots__": ("a",)}).a)
_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Slots of Python's own types that hold a namespace, not what the object
#: holds: a function's module globals name every queue of its module, and a
#: task holding a handler (a web framework's dispatcher) is no feeder of them.
_NAMESPACE_SLOTS = frozenset({"__globals__", "__builtins__"})


def _slots_of(cls: type) -> tuple:
    """(name, member descriptor) for each slot of *cls* and its bases: a
    member descriptor reads the slot in C (a property of the same name, which
    could run code, is not one)."""
    found = _slots.get(cls)
    if found is None:
        found = tuple(
            (name, member)
            for klass in cls.__mro__
            for name, member in vars(klass).items()
            if type(member) is _MemberDescriptor and name not in _NAMESPACE_SLOTS
        )
        try:
            _slots[cls] = found
        except TypeError:  # a type that takes no weak reference
            pass
    return found


def _name_inside(value, owner, key: str) -> str | None:
    if isinstance(owner, (dict, list, tuple)):
        return _item_name(value, owner, key)
    for attribute, candidate in attributes_of(owner).items():
        if candidate is value:
            return f"{key}.{attribute}"
    if type(owner).__module__.startswith("aiohttp") and hasattr(owner, "_state"):
        # aiohttp's Application keeps its items in _state (app["locks"]).
        state = getattr(owner, "_state", None)
        if isinstance(state, dict):
            for item_key, inner in list(state.items())[:_MOST_ITEMS]:
                if inner is value:
                    return f"{key}[{item_key!r}]"
                if isinstance(inner, (dict, list, tuple)):
                    found = _item_name(value, inner, f"{key}[{item_key!r}]")
                    if found:
                        return found
    return None


def _item_name(value, container, prefix: str) -> str | None:
    if len(container) > _MOST_ITEMS:
        return None
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for item_key, candidate in items:
        if candidate is value:
            return f"{prefix}[{item_key!r}]"
    return None


def refers_to(frames, value) -> bool:
    """Whether any of *frames* has *value* in a local variable, an attribute
    of one, or an item of a dict or list in one: what a task that could set
    an Event (feed a queue...) holds."""
    for frame in frames:
        if _name_in_frame_locals(value, frame):
            return True
    return False


def _name_in_frame_locals(value, frame) -> bool:
    local = frame.f_locals
    for key, owner in local.items():
        if owner is value or _name_inside(value, owner, key):
            return True
        for inner in attributes_of(owner).values():
            if isinstance(inner, (dict, list, tuple)) and _item_name(value, inner, ""):
                return True
    return False


# -- sites -----------------------------------------------------------------------------------


def _line_at(code, lasti: int) -> int | None:
    for start, end, line in code.co_lines():
        if start <= lasti < end:
            return line
    return None


def site(frame, lasti: int | None = None) -> Site | None:
    """Where *frame* is (or was at instruction *lasti*)."""
    if frame is None:
        return None
    code = frame.f_code
    line = _line_at(code, lasti) if lasti is not None else frame.f_lineno
    return Site(code.co_filename, line or frame.f_lineno or code.co_firstlineno, code.co_qualname)
