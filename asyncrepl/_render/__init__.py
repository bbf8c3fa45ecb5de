"""The rendering layer: everything asyncrepl shows, as text (terminal) and
HTML or SVG (Jupyter).

* ``tables``: tables, text blocks, task views, naming code places;
* ``timeline``: drawing a %%timeline recording (text, SVG, Chrome trace);
* ``reports``: asyncrepl's one-line reports, printed where they belong;
* ``why``: ``%why``'s chains and the deadlock report's line, in words.

Each view is an object with ``_repr_pretty_`` (and ``_repr_html_`` or
``_repr_svg_``), so IPython's ``display`` gives a terminal the text and a
notebook both forms.
"""

from .reports import report
from .tables import LocalsView, Table, TextBlock, Views, format_age, left_out, terminal_width

__all__ = ["LocalsView", "Table", "TextBlock", "Views", "format_age", "left_out", "report", "terminal_width"]
