"""Small helpers the chapters use to hand numbers and tables to the page (not modelling code).

* :func:`glue_values` glues many numbers at once (myst-nb's ``glue`` with ``display=False``), so a
  chapter's bookkeeping cell is one call instead of a column of ``glue(...)`` lines;
* :func:`markdown_table` formats rows as a Markdown table (integers as integers, units in the
  headers), and :func:`show_table` displays it, so results a reader compares render as one HTML table
  rather than fragmented print output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

__all__ = [
    "BOOK_STYLE",
    "smallest_font_pt",
    "use_book_style",
    "glue_values",
    "markdown_table",
    "show_table",
]

#: The matplotlib style of the book's figures (written to ``book/matplotlibrc``, which matplotlib reads
#: from the chapters' working directory, so every chapter draws with it). At 100 dpi a 7-inch figure is 700 px wide, less than
#: the page's text column (about 750 px at a 1400 px window), so figures are not shrunk, and the
#: smallest text is 9 pt. ``tests/test_book_style.py`` checks both; the browser test checks that no
#: figure is shown so much smaller than drawn that its text falls below 8 pt.
BOOK_STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "figure.figsize": (7.0, 3.6),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
}

_FONT_KEYS = (
    "font.size",
    "axes.titlesize",
    "axes.labelsize",
    "xtick.labelsize",
    "ytick.labelsize",
    "legend.fontsize",
    "legend.title_fontsize",
    "figure.titlesize",
)


def smallest_font_pt(style: Mapping[str, Any] = BOOK_STYLE) -> float:
    """The smallest font size of ``style`` in points (named sizes relative to ``font.size``)."""
    from matplotlib import font_manager

    base = float(style["font.size"])
    sizes = []
    for key in _FONT_KEYS:
        value = style.get(key, base)
        if isinstance(value, str):
            value = base * font_manager.font_scalings[value]
        sizes.append(float(value))
    return min(sizes)


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to matplotlib in this process (the chapters' first cell calls it)."""
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_STYLE)


def glue_values(values: Mapping[str, Any]) -> None:
    """Glue every ``name -> value`` of ``values`` for the page, without displaying them.

    Floats are glued as Python floats (numpy scalars converted), so ``{glue:text}`name:.3f``` formats
    them in the prose.
    """
    from myst_nb import glue

    for name, value in values.items():
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        glue(name, value, display=False)


def _cell(value: Any, fmt: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if fmt is not None and isinstance(value, Real) and not isinstance(value, bool):
        if value != value:  # NaN
            return "n/a"
        return format(value, fmt)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[str],
    formats: Sequence[str | None] | None = None,
    align: Sequence[str] | None = None,
) -> str:
    """A Markdown (GFM) table of ``rows`` under ``headers``.

    Args:
        rows: one sequence of cell values per row.
        headers: column titles (put units here, e.g. ``"latency (ms)"``).
        formats: per column, a format spec for numbers (``".3f"``, ``".1%"``) or ``None``
            (integers as integers, other floats with 4 significant digits, NaN as ``n/a``).
        align: per column, ``"l"``, ``"r"`` or ``"c"`` (default: right for numbers, left otherwise,
            decided on the first row).
    """
    rows = [list(r) for r in rows]
    n = len(headers)
    formats = list(formats) if formats is not None else [None] * n
    if len(formats) != n:
        raise ValueError(f"formats must have {n} entries, one per header; got {len(formats)}")
    for i, r in enumerate(rows):
        if len(r) != n:
            raise ValueError(f"rows[{i}] must have {n} cells, one per header; got {len(r)}")
    if align is None:
        first = rows[0] if rows else [""] * n
        align = ["r" if isinstance(v, Real) and not isinstance(v, bool) else "l" for v in first]
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(v, f) for v, f in zip(r, formats, strict=True)) + " |")
    return "\n".join(lines)


def show_table(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[str],
    formats: Sequence[str | None] | None = None,
    align: Sequence[str] | None = None,
):
    """Display :func:`markdown_table` as rendered Markdown (in Jupyter and in the built book)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, headers, formats, align)))
