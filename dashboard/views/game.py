"""Game: one game's watch hours and viewers over time, and its top channels per window. Found
by name; `?game=<id>` links straight to any game the warehouse has seen, top 50 or not."""

from typing import Optional

import streamlit as st

from dashboard import charts, loaders, ui
from dashboard.format import duration, human, name_or, viewers, when
from dashboard.html import Card, Column

st.title("Game")

SEARCH = ui.Search("Search a game by name", "game_search", "e.g. chatting",
                   "No game whose name contains {text!r} has a window in this time range.",
                   "No game has a window in this time range: pick a longer range.")
TOP_COLUMNS = [Column("RANK", "#", numeric=True), Column("CHANNEL", "Channel", name=True),
               Column("USER_LOGIN", "Login", phone=False), Column("WATCH_HOURS", "Watch hours", numeric=True),
               Column("AIR_HOURS", "Streamed", numeric=True), Column("PEAK_VIEWERS", "Peak viewers", numeric=True)]


def search_text() -> str:
    return str(st.session_state.get("game_search") or "").strip()


def wanted() -> Optional[str]:
    return st.query_params.get("game") or None


def load(ctx: ui.Context, fresh, reload: int) -> loaders.Game:
    return loaders.game(ctx.source, fresh, reload, ctx.choice, ctx.dates, search_text(), wanted(),
                        st.session_state.get("game_window"))


def draw(ctx: ui.Context, s: loaders.Game) -> None:
    if s.windows.latest is None:
        st.info(ui.NO_WINDOW)
        return
    text = ui.search(SEARCH, s, s.game_id)
    if text is None or s.game_id is None:
        return
    names = {str(g): name_or(n, "(no category)") for g, n in zip(s.found["GAME_ID"], s.found["GAME_NAME"])}
    if s.name is not None:
        names = {s.game_id: s.name, **names}
    if not ui.picker("Game", "game", s.game_id, names, known=s.name is not None, searched=text):
        return
    show_game(ctx, s)


def show_game(ctx: ui.Context, s: loaders.Game) -> None:
    assert s.span is not None
    history = s.history
    st.subheader(s.name or s.game_id or "")
    st.caption(s.span.label())
    if history.empty:
        st.info(f"{s.name} has no window in this time range: pick a longer range.")
        return
    step = s.windows.latest_end - s.windows.latest if s.windows.latest_end and s.windows.latest else None
    ui.cards([
        Card("Watch hours", human(history["WATCH_HOURS"].sum())),
        Card("Average viewers", viewers(history["AVG_VIEWERS"].mean()), note="over the windows it was streamed in"),
        Card("Peak viewers", viewers(history["PEAK_VIEWERS"].max())),
        Card("Hours streamed", duration(float(history["AIR_HOURS"].sum())), note="all its channels added up"),
        Card("Best rank", f"#{int(history['RANK'].min())}"),
    ])
    gapped = charts.with_gaps(history, "WINDOW_START", step) if step else history
    left, right = st.columns(2)
    with left:
        ui.chart(charts.lines(gapped, "WINDOW_START", {"WATCH_HOURS": "watch hours"}, "Watch hours per window",
                              span=s.span.length))
    with right:
        ui.chart(charts.lines(gapped, "WINDOW_START", {"AVG_VIEWERS": "average", "PEAK_VIEWERS": "peak"},
                              "Viewers per window", span=s.span.length))

    st.markdown("**Top channels per window**")
    starts = [t.to_pydatetime() for t in history["WINDOW_START"].iloc[::-1]]
    st.selectbox("Window", starts, index=starts.index(s.window) if s.window in starts else 0, format_func=when,
                 key="game_window")
    if s.top.empty:
        st.info("No top channels were written for this window yet (GAME_TOP_CHANNELS).")
        return
    ui.table([{"RANK": int(r.RANK), "CHANNEL": ui.link(ctx, name_or(r.USER_NAME, r.USER_LOGIN), "channel", "channel",
                                                         r.USER_ID),
               "USER_LOGIN": r.USER_LOGIN, "WATCH_HOURS": human(r.WATCH_HOURS), "AIR_HOURS": duration(r.AIR_HOURS),
               "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS)} for r in s.top.itertuples(index=False)], TOP_COLUMNS)


ui.page("game", load, draw, params=(search_text(), wanted(), st.session_state.get("game_window")))
