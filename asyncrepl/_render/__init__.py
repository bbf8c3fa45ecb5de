"""The rendering layer: everything asyncrepl shows, as text (terminal) and
HTML or SVG (Jupyter).

* ``tables``: tables, text blocks, task views, naming code places;
* ``timeline``: drawing a %%timeline recording (text, SVG, Chrome trace);
* ``reports``: asyncrepl's one-line reports, printed where they belong;
* ``lag``: ``%asyncdebug``'s report of the loop's lag;
* ``why``: ``%why``'s chains and the deadlock report's line, in words.

Each view is an object with ``_repr_pretty_`` (and ``_repr_html_`` or
``_repr_svg_``), so IPython's ``display`` gives a terminal the text and a
notebook both forms.
"""

from .._lazy import lazy_exports

#: Each name this package offers, and its module (imported at first use).
_WHERE = {
    "report": "reports",
    "LocalsView": "tables",
    "Table": "tables",
    "TextBlock": "tables",
    "Views": "tables",
    "format_age": "tables",
    "left_out": "tables",
    "terminal_width": "tables",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
