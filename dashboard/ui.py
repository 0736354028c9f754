"""What every page shares: the sidebar (time range, auto-refresh), the page frame that keeps a
page live and honest (one snapshot per draw, the status line, the outage sentence), and the
glue that puts `html` tables and cards and `charts` on the page."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple, Optional

import altair as alt
import streamlit as st

from . import REFRESH_ENV
from . import html as h
from . import queries as q
from .format import seconds_ago, window_label
from .loaders import Snapshot, bucket
from .timerange import CHOICES, CUSTOM, DEFAULT
from .watch import Fresh, State, Watch

DEFAULT_REFRESH = 2.0

NO_WINDOW = ("No window has closed yet: the processor closes each window one poll after its end, "
             "and the sink writes it here within seconds. This page fills in by itself.")
NOT_BUILT = ("The {model} model is not in the warehouse yet: dbt builds it (`twitch-pulse models build`; "
             "`make run` builds the models every few minutes), and this part of the page fills in then.")
NO_TABLES = ("The warehouse has no window tables yet: the sinks create them when they first start "
             "(`twitch-pulse bootstrap` does it by hand). This page fills in by itself once windows arrive.")


RANGE_PARAMS = ("range", "dates")  # the sidebar's widgets bound to the URL


@dataclass(frozen=True)
class Context:
    """The sidebar's choices, read by the page that runs after it."""

    source: q.Source
    choice: str
    dates: tuple
    refresh: Optional[float]
    url_params: tuple = ()  # the sidebar's choices as the URL holds them: (name, [values])

    def range_params(self) -> dict[str, list[str]]:
        """The sidebar's choices as a link's query parameters, so a link to another page keeps
        the range (its widgets read them from the URL)."""
        return dict(self.url_params)


def refresh_seconds() -> Optional[float]:
    """How often a page looks for new data, from the environment; None (off) for 0."""
    try:
        value = float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH))
    except ValueError:
        return DEFAULT_REFRESH
    return value if value > 0 else None


def sidebar() -> Optional[Context]:
    """Draw the time-range picker and the refresh toggle; None when the settings are unusable."""
    try:
        source = q.current_source()
    except Exception as exc:  # a ConfigError: one line, no traceback
        st.error(f"Cannot read the warehouse settings: {exc}")
        st.session_state["context"] = None
        return None
    with st.sidebar:
        choice = st.selectbox("Time range", CHOICES, index=CHOICES.index(DEFAULT), key="range", bind="query-params",
                              help="Counted back from the end of the latest complete window in the warehouse.")
        dates: tuple = ()
        if choice == CUSTOM:
            fresh = watcher(source).state().fresh
            end = fresh.windows.latest_end if fresh and fresh.windows.latest_end else datetime.now(timezone.utc)
            last = (end - timedelta(microseconds=1)).date()  # the newest data's day
            picked = st.date_input("Dates (UTC)", value=(last - timedelta(days=6), last), key="dates",
                                   bind="query-params")
            dates = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
        period = refresh_seconds()
        live = st.toggle("Live updates" if period else "Live updates (off: --refresh 0)", value=bool(period),
                         disabled=not period, key="live",
                         help=f"Look for new windows every {period:g} s and redraw the page when one is complete."
                         if period else None)
        st.caption(f"Warehouse: {source.database}.{source.schema} ({source.where})")
    url = tuple((name, st.query_params.get_all(name)) for name in RANGE_PARAMS if name in st.query_params)
    context = Context(source, choice, tuple(d for d in dates if isinstance(d, date)), period if live else None, url)
    st.session_state["context"] = context
    return context


def context() -> Optional[Context]:
    return st.session_state.get("context")


# --- the page frame ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, on_release=lambda watch: watch.stop())
def watcher(source: q.Source) -> Watch:
    return Watch(source).start()


_LAST_GOOD_MAX = 64


@st.cache_resource(show_spinner=False)
def _last_good() -> "OrderedDict[tuple, Snapshot]":
    """The newest snapshot each page and set of choices loaded, for every viewer of this
    server: what a page shows (marked as such) while the warehouse does not answer."""
    return OrderedDict()


def _remember(key: tuple, snapshot: Snapshot) -> None:
    store = _last_good()
    store[key] = snapshot
    store.move_to_end(key)
    while len(store) > _LAST_GOOD_MAX:
        store.popitem(last=False)


class Outcome(NamedTuple):
    """What a page can show now: a snapshot (None: nothing yet), and the state of the check."""

    snapshot: Optional[Snapshot]
    state: State
    failure: Optional[str] = None  # the page's own statements failed (one line)
    loaded_at: Optional[float] = None  # when the snapshot shown was read (wall clock)


Loader = Callable[[Context, Fresh, int], Snapshot]


def page(name: str, load: Loader, draw: Callable[[Context, Any], None], params: tuple = ()) -> None:
    """A page: its data as one snapshot from `load`, drawn by `draw`, under a status line.

    The status line is a fragment that runs every refresh period: it reads the background
    check (no statement), and when the warehouse holds something new it loads the new snapshot
    and reruns the page, which then draws it at once, in one piece, from the cache. An outage
    changes only the status line: the page keeps what it shows, and says since when the
    warehouse is silent; the next answer brings the page back by itself."""
    ctx = context()
    if ctx is None:
        return
    watch = watcher(ctx.source)
    key = (name, ctx.source, ctx.choice, ctx.dates, params)
    shown: dict[str, Any] = {}

    @st.fragment(run_every=ctx.refresh)
    def status() -> None:
        again = "outcome" in shown  # a run of this fragment alone: the page below is drawn already
        state = watch.state() if again else watch.check(newer_than=time.time())
        outcome = _attempt(ctx, state, load, key)
        if again and outcome.snapshot is not None and outcome.snapshot.digest != shown.get("digest"):
            st.rerun()  # the whole page, from the snapshot just loaded
        _status_line(ctx, outcome, watch)
        shown["outcome"] = outcome

    status()
    outcome: Outcome = shown["outcome"]
    if outcome.snapshot is not None:
        draw(ctx, outcome.snapshot)
        shown["digest"] = outcome.snapshot.digest


def _attempt(ctx: Context, state: State, load: Loader, key: tuple) -> Outcome:
    if state.fresh is None or not state.up:  # no statement while the warehouse does not answer: it would hang
        return Outcome(_last_good().get(key), state)
    try:
        snapshot = load(ctx, state.fresh, bucket())
    except q.NoTables as exc:
        return Outcome(None, state, failure=f"no tables: {exc}")
    except q.WarehouseError as exc:
        return Outcome(_last_good().get(key), state, failure=str(exc))
    _remember(key, snapshot)
    st.session_state["loaded"] = (snapshot.statements, snapshot.seconds)  # what reading it cost (the benchmark)
    return Outcome(snapshot, state)


def _status_line(ctx: Context, outcome: Outcome, watch: Watch) -> None:
    state, now = outcome.state, time.time()
    if state.no_tables or (outcome.failure or "").startswith("no tables"):
        st.info(NO_TABLES)
        return
    if state.up and outcome.failure is None:
        if state.changed_at is not None:
            every = f"checked every {watch.interval:g} s" if ctx.refresh else "live updates off"
            st.caption(f"Updated {seconds_ago(now - state.changed_at)} · {every}")
        return
    since = state.down_since or now
    shown = outcome.snapshot is not None
    silent = f"since {datetime.fromtimestamp(since, timezone.utc):%H:%M:%S} UTC ({seconds_ago(now - since)[:-4]})"
    if shown:
        assert outcome.snapshot is not None
        data = (f"The figures below are those of {window_label(outcome.snapshot.windows.latest, outcome.snapshot.windows.latest_end)}"
                if outcome.snapshot.windows.latest_end is not None else "The figures below are the last ones read")
        st.warning(f"The warehouse ({ctx.source.where}) has not answered {silent}. {data}, kept on screen. "
                   f"This page tries again every {watch.interval:g} s and updates itself when the warehouse is back.",
                   icon=":material/cloud_off:")
    else:
        st.error(f"The warehouse ({ctx.source.where}) does not answer ({silent}), so there is nothing to show yet. "
                 f"This page tries again every {watch.interval:g} s and fills in by itself when it answers.",
                 icon=":material/cloud_off:")
    st.caption(f"What the connector said: {state.problem or outcome.failure}")


# --- drawing --------------------------------------------------------------------------------


def styles() -> None:
    """The tables' and cards' CSS, once per page (a style-only `st.html` takes no space)."""
    st.html(h.CSS)


def cards(items: list[h.Card]) -> None:
    st.markdown(h.cards(items), unsafe_allow_html=True)


def table(rows: list[dict[str, Any]], columns: list[h.Column]) -> None:
    st.markdown(h.table(rows, columns), unsafe_allow_html=True)


def block(markup: str) -> None:
    """HTML of `dashboard.html` (every piece of text in it escaped there) as one element."""
    st.markdown(markup, unsafe_allow_html=True)


def chart(spec: alt.TopLevelMixin) -> None:
    st.altair_chart(spec, width="stretch")


class Search(NamedTuple):
    """A search box's words for one kind of page."""

    label: str  # "Search a game by name"
    key: str  # the box's widget key
    placeholder: str
    nothing_found: str  # "No game whose name contains {text!r} ..."
    nothing_listed: str  # without a search and without a link: why nothing is shown


def search(words: Search, s: Any, shown: Optional[str]) -> Optional[str]:
    """The search box, and what the snapshot `s` (a `loaders.Searched`) says about it: the text
    searched, or None when nothing is to be shown (a sentence says why)."""
    text = st.text_input(words.label, key=words.key, max_chars=100, placeholder=words.placeholder).strip()
    if s.warning:
        st.warning(s.warning)
    if text and s.found.empty:
        st.info(words.nothing_found.format(text=text))
    if shown is None:
        if not text:
            st.info(words.nothing_listed)
        return None
    return text


def picker(label: str, param: str, shown: str, names: dict[str, str], known: bool, searched: str) -> bool:
    """The box listing the game or channel a page shows (`shown`, named by `?param=` in the
    address) and what a search found. A box per item shown, so it always starts at that item;
    picking another names it in the address (a reload or a copied link shows it). An id the
    warehouse has never seen is said, and the address left as it is. False: nothing to show."""
    kind = label.lower()
    if names:
        ids, key = list(names), f"{param}_pick_{shown}"
        st.selectbox(label, ids, index=ids.index(shown) if shown in ids else None,
                     format_func=lambda i: names.get(i, i), key=key, on_change=_name_in_address, args=(key, param),
                     placeholder=f"pick a {kind}")
    if not known:
        st.warning(f"No {kind} with id {shown!r} is in the warehouse: the link may be mistyped, or the {kind} was last "
                   f"streamed before the oldest window kept. Search for a {kind} above.")
        return False
    if searched and shown != st.query_params.get(param):
        st.query_params[param] = shown  # the one the search led to
    return True


def _name_in_address(key: str, param: str) -> None:
    if st.session_state.get(key):
        st.query_params[param] = st.session_state[key]


def model_part(title: str, rows: Any, model: str, empty: str, caption: str) -> bool:
    """A part of a page read from a dbt model: its heading, then a sentence while dbt has not
    built the model (`rows` None) or it has nothing here yet; else the caption. True: draw it."""
    st.subheader(title)
    if rows is None:
        st.info(NOT_BUILT.format(model=model))
        return False
    if rows.empty:
        st.info(empty)
        return False
    st.caption(caption)
    return True


def link(ctx: Context, text: Any, page: str, param: str, value: Any) -> h.Link:
    """A same-tab link to another page of this app that keeps the sidebar's range."""
    return h.page_link(text, page, {param: value, **ctx.range_params()})


def loading_note(windows: Any) -> Optional[str]:
    """What the page leaves out, in one sentence: the windows still being written."""
    if windows.unverified:
        return ("The newest windows' games and channels do not add up to the same hours, so whether they are "
                f"complete cannot be told: showing {window_label(windows.latest, windows.latest_end)}, "
                "the window before the newest.")
    if not windows.loading:
        return None
    parts = [f"{w.start:%H:%M} ({w.progress()})" for w in windows.loading]
    return (f"Still being written, so left out of every figure and chart until complete: the window of "
            f"{', '.join(parts)}.")

