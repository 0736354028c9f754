"""The dashboard's tables and figure cards as HTML (issue 20, defects 8, 9, 10; tables that
fit a phone). Pure: text in, HTML out, tested without Streamlit.

Why not `st.table`/`st.dataframe`: their links open a new tab (and so a new session), a
dataframe is a fixed-height scroll box whose columns are cut on a phone, and a metric card cuts
a long game name. Here a table shows every row, wraps long names, drops its less important
columns on a narrow screen (`phone=False`), and links to a page of this app open in the same
tab (`target="_self"`); links to Twitch open a new one. Every piece of text is escaped: names
come from Twitch, i.e. from anyone.
"""

from __future__ import annotations

import html
from typing import Any, NamedTuple, Optional, Sequence
from urllib.parse import urlencode

from .format import NONE, missing

PHONE_WIDTH = 640  # px: below this, a table keeps only its `phone` columns

CSS = f"""<style>
.pulse-table {{ width: 100%; border-collapse: collapse; font-size: 0.9rem; margin-bottom: 1rem; }}
.pulse-table th, .pulse-table td {{ padding: 0.3rem 0.45rem; border-bottom: 1px solid rgba(128,128,128,0.25);
  vertical-align: top; text-align: left; }}
.pulse-table th {{ font-weight: 600; }}
.pulse-table td.num, .pulse-table th.num {{ text-align: right; white-space: nowrap; }}
.pulse-table td.name {{ overflow-wrap: break-word; min-width: 6.5em; }}
.pulse-table a {{ text-decoration: none; }}
.pulse-table a:hover {{ text-decoration: underline; }}
.pulse-cards {{ display: flex; flex-wrap: wrap; gap: 0.75rem 2rem; margin: 0.25rem 0 1rem 0; }}
.pulse-card {{ flex: 1 1 10rem; min-width: 8rem; }}
.pulse-card .label {{ font-size: 0.85rem; opacity: 0.75; }}
.pulse-card .value {{ font-size: 1.6rem; font-weight: 600; line-height: 1.25; overflow-wrap: anywhere; }}
.pulse-card .note {{ font-size: 0.8rem; opacity: 0.7; }}
.pulse-row {{ display: flex; flex-wrap: wrap; gap: 0 2rem; }}
.pulse-col {{ flex: 1 1 24rem; min-width: 0; }}
.pulse-note {{ font-size: 0.875rem; opacity: 0.75; }}
@media (min-width: {PHONE_WIDTH + 1}px) {{
  .pulse-table td.nowrap {{ white-space: nowrap; }}
}}
@media (max-width: {PHONE_WIDTH}px) {{
  .pulse-table .wide {{ display: none; }}
  .pulse-table {{ font-size: 0.85rem; }}
  .pulse-table th, .pulse-table td {{ padding: 0.25rem 0.3rem; }}
  .pulse-table td.name {{ min-width: 5em; }}
  .pulse-card .value {{ font-size: 1.3rem; }}
}}
</style>"""


class Link(NamedTuple):
    """A link in a cell: to a page of this app (same tab) or, `external`, to Twitch (new tab)."""

    text: str
    href: str
    external: bool = False


def page_link(text: Any, page: str, params: dict[str, Any]) -> Link:
    """A link to another page of this app, e.g. `game?game=509658&range=Last+7+days` (relative,
    so it works under any base URL path); a parameter may have several values (a list)."""
    label = "(no name)" if missing(text) or text == "" else str(text)
    query = urlencode({k: v for k, v in params.items() if not missing(v) and v != ""}, doseq=True)
    return Link(label, f"{page}?{query}" if query else page)


class Column(NamedTuple):
    key: str
    title: str
    numeric: bool = False  # right-aligned, never wrapped
    phone: bool = True  # shown on a phone
    name: bool = False  # a long name: wraps between words, and inside one only if it must
    nowrap: bool = False  # a date and time: on one line (but on a phone)


Cell = Any  # text, a Link, or None (shown as –)


def _text(value: Any) -> str:
    return html.escape(NONE if missing(value) else str(value), quote=True)


def _cell(value: Cell) -> str:
    if isinstance(value, Link):
        target = ' target="_blank" rel="noopener noreferrer"' if value.external else ' target="_self"'
        return f'<a href="{html.escape(value.href, quote=True)}"{target}>{_text(value.text)}</a>'
    return _text(value)


def table(rows: Sequence[dict[str, Cell]], columns: Sequence[Column]) -> str:
    """An HTML table of `rows` (dicts by column key), every row shown."""
    def classes(column: Column) -> str:
        names = [c for c, on in (("num", column.numeric), ("wide", not column.phone), ("name", column.name),
                                  ("nowrap", column.nowrap)) if on]
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f"<th{classes(c)}>{_text(c.title)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td{classes(c)}>{_cell(row.get(c.key))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f'<table class="pulse-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Card(NamedTuple):
    label: str
    value: Cell
    note: Optional[str] = None  # a small line under the value (a tooltip is invisible on a phone)


def cards(items: Sequence[Card]) -> str:
    """Figure cards in a row that wraps on a narrow screen; a long value wraps, never cut."""
    parts = []
    for card in items:
        note = f'<div class="note">{_text(card.note)}</div>' if card.note else ""
        parts.append(f'<div class="pulse-card"><div class="label">{_text(card.label)}</div>'
                     f'<div class="value">{_cell(card.value)}</div>{note}</div>')
    return f'<div class="pulse-cards">{"".join(parts)}</div>'


def heading(text: str) -> str:
    return f"<h3>{_text(text)}</h3>"


def paragraph(text: str, bold: str = "", note: bool = False) -> str:
    """A line of text; `bold` goes first, in bold; `note` makes it small (a caption)."""
    lead = f"<strong>{_text(bold)}</strong> " if bold else ""
    attributes = ' class="pulse-note"' if note else ""
    return f"<p{attributes}>{lead}{_text(text)}</p>"


def side_by_side(*blocks: str) -> str:
    """Blocks next to each other on a wide screen, one under the other on a phone."""
    return '<div class="pulse-row">' + "".join(f'<div class="pulse-col">{b}</div>' for b in blocks) + "</div>"
