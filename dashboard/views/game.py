"""Game: one game's watch hours and average and peak viewers over time, and its top channels
per window. Found by name; `?game=<id>` links straight to one."""

import streamlit as st

from dashboard import queries as q
from dashboard import ui
from dashboard.format import human

st.title("Game")

TOP_COLUMNS = {"RANK": "#", "CHANNEL": "Channel", "USER_LOGIN": "Login", "WATCH_HOURS": "Watch hours",
               "AIR_HOURS": "Air hours", "PEAK_VIEWERS": "Peak viewers"}


def body(ctx: ui.Context) -> None:
    span = ui.time_range(ctx)
    if span is None:
        return
    text = st.text_input("Search a game by name", key="game_search", max_chars=100,
                         placeholder="e.g. chatting").strip()
    found = q.search_games(ctx.source, text, span)
    if found.empty:
        st.info(f"No game whose name contains {text!r} has a window in this time range." if text else
                "No game has a window in this time range: pick a longer range.")
        return
    names = dict(zip(found["GAME_ID"], found["GAME_NAME"].fillna("(no category)")))
    wanted = st.query_params.get("game")
    ids = list(names)
    index = ids.index(wanted) if wanted in names else 0
    game_id = st.selectbox("Game", ids, index=index, format_func=lambda g: names.get(g, g), key="game_pick")
    if game_id is None:
        return
    st.query_params["game"] = game_id
    show_game(ctx, game_id, names.get(game_id, game_id), span)


def show_game(ctx: ui.Context, game_id: str, name: str, span) -> None:
    history = q.game_history(ctx.source, game_id, span)
    st.subheader(name)
    st.caption(span.label())
    if history.empty:
        st.info("This game has no window in this time range.")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Watch hours", human(history["WATCH_HOURS"].sum()))
    c2.metric("Average viewers", human(history["AVG_VIEWERS"].mean()), help="mean of the windows' averages")
    c3.metric("Peak viewers", human(history["PEAK_VIEWERS"].max()))
    c4.metric("Best rank", f"#{int(history['RANK'].min())}")
    left, right = st.columns(2)
    with left:
        ui.line(history, "WINDOW_START", {"WATCH_HOURS": "watch hours"}, "Watch hours per window")
    with right:
        ui.line(history, "WINDOW_START", {"AVG_VIEWERS": "average", "PEAK_VIEWERS": "peak"}, "Viewers per window")

    st.markdown("**Top channels per window**")
    starts = [ts.to_pydatetime() for ts in history["WINDOW_START"].iloc[::-1]]
    latest = q.latest_windows(ctx.source).latest
    window = st.selectbox("Window", starts, index=starts.index(latest) if latest in starts else 0,
                          format_func=ui.when, key="game_window")
    if window is None:
        return
    top = q.game_top_channels(ctx.source, game_id, window)
    if top.empty:
        st.info("No top channels were written for this window yet (GAME_TOP_CHANNELS).")
    else:
        top = top.assign(CHANNEL=[ui.link(n, "channel", "channel", u) for n, u in zip(top["USER_NAME"], top["USER_ID"])])
        ui.table(ui.humanized(top, TOP_COLUMNS))


ui.page(body)
