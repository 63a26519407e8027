"""The book's figure style keeps text legible: at least 8 pt, at a width the page shows unshrunk."""

from __future__ import annotations

import pytest

from coinfer.app.book import BOOK_STYLE, markdown_table, smallest_font_pt

PAGE_COLUMN_PX = 750  # the text column of sphinx-book-theme at a 1400 px window


def test_smallest_font_is_at_least_8_pt():
    assert smallest_font_pt() >= 8.0


def test_default_figure_fits_the_page_column_unshrunk():
    width_in, _ = BOOK_STYLE["figure.figsize"]
    assert width_in * BOOK_STYLE["figure.dpi"] <= PAGE_COLUMN_PX


def test_the_check_reads_named_sizes():
    small = {**BOOK_STYLE, "xtick.labelsize": "xx-small"}  # 0.579 x 10 pt
    assert smallest_font_pt(small) == pytest.approx(5.79, abs=0.01)


def test_markdown_table_formats_integers_and_units():
    text = markdown_table(
        [(36, 0.12345, float("nan"))], ["blocks", "rho", "latency (ms)"], [None, ".3f", ".1f"]
    )
    lines = text.splitlines()
    assert lines[0] == "| blocks | rho | latency (ms) |"
    assert lines[2] == "| 36 | 0.123 | n/a |"
    with pytest.raises(ValueError, match="rows\\[0\\] must have 3 cells"):
        markdown_table([(1, 2)], ["a", "b", "c"])


def test_the_chapters_matplotlibrc_is_the_book_style():
    from pathlib import Path

    import matplotlib as mpl

    rc = mpl.rc_params_from_file(
        str(Path(__file__).resolve().parents[1] / "book" / "matplotlibrc"),
        use_default_template=False,
    )
    for key, value in BOOK_STYLE.items():
        got = rc[key]
        assert (list(got) if isinstance(value, tuple) else got) == (
            list(value) if isinstance(value, tuple) else value
        ), key
