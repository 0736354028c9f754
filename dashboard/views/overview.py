"""Overview: the latest complete window's top games and channels, and the platform's hourly
and daily totals over the picked time range."""

import streamlit as st

from dashboard import queries as q
from dashboard import ui
from dashboard.format import human

st.title("Twitch Pulse: viewership")

TOP = 10  # rows of the top lists

GAME_COLUMNS = {"RANK": "#", "CHANGE": "Change", "GAME": "Game", "WATCH_HOURS": "Watch hours",
                "AVG_VIEWERS": "Avg viewers", "PEAK_VIEWERS": "Peak viewers", "UNIQUE_CHANNELS": "Channels"}
CHANNEL_COLUMNS = {"RANK": "#", "CHANGE": "Change", "CHANNEL": "Channel", "GAME_NAME": "Game",
                   "WATCH_HOURS": "Watch hours", "AVG_VIEWERS": "Avg viewers", "PEAK_VIEWERS": "Peak viewers"}


def body(ctx: ui.Context) -> None:
    windows = q.latest_windows(ctx.source)
    if windows.latest is None:
        st.info(ui.NO_WINDOW)
        return
    latest_window(ctx, windows)
    platform(ctx)


def latest_window(ctx: ui.Context, windows: q.LatestWindows) -> None:
    st.subheader(f"Latest complete window: {ui.when(windows.latest)} – {windows.latest_end:%H:%M} UTC")
    if windows.newest != windows.latest:
        st.caption(f"The window of {ui.when(windows.newest)} is still being written; rank changes compare "
                   f"with the window before ({ui.when(windows.previous)}).")
    games = q.top_games(ctx.source, windows.latest, windows.previous, TOP)
    totals = q.window_totals(ctx.source, windows.latest).iloc[0]
    top = games.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Top game", top["GAME_NAME"] or "(no category)")
    c2.metric("Top game's watch hours", human(top["WATCH_HOURS"]),
              help=f"{top['WATCH_HOURS']:,.1f} hours in this window")
    c3.metric("All games' watch hours", human(totals["WATCH_HOURS"]))
    c4.metric("Viewers (all games)", human(totals["AVG_VIEWERS"]), help="all games' average viewers added up")

    channels = q.top_channels(ctx.source, windows.latest, windows.previous, TOP)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Top {TOP} games** by watch hours (rank change since the window before)")
        games = games.assign(CHANGE=ui.rank_moves(games),
                             GAME=[ui.link(n, "game", "game", g) for n, g in zip(games["GAME_NAME"], games["GAME_ID"])])
        ui.table(ui.humanized(games, GAME_COLUMNS))
        ui.bars(games.fillna({"GAME_NAME": "(no category)"}), "GAME_NAME", "WATCH_HOURS", "Watch hours by game")
    with right:
        st.markdown(f"**Top {TOP} channels** by watch hours")
        if channels.empty:
            st.info("No channel rows for this window yet: CHANNEL_WINDOWS is written by the same sink as the games.")
            return
        channels = channels.assign(
            CHANGE=ui.rank_moves(channels),
            CHANNEL=[ui.link(n, "channel", "channel", u) for n, u in zip(channels["USER_NAME"], channels["USER_ID"])])
        ui.table(ui.humanized(channels, CHANNEL_COLUMNS))
        ui.bars(channels.fillna({"USER_NAME": "?"}), "USER_NAME", "WATCH_HOURS", "Watch hours by channel")


def platform(ctx: ui.Context) -> None:
    st.subheader("Platform totals")
    span = ui.time_range(ctx)
    if span is None:
        return
    grain = st.radio("Per", ("hourly", "daily"), horizontal=True, key="platform_grain", format_func=str.capitalize)
    totals = q.platform_totals(ctx.source, grain, span)
    st.caption(span.label())
    if totals.empty:
        st.info("No window in this time range: pick a longer range, or wait for the next window to close.")
        return
    viewers = q.viewers_per_window(ctx.source, span)
    c1, c2, c3 = st.columns(3)
    c1.metric("Watch hours in range", human(totals["WATCH_HOURS"].sum()))
    c2.metric("Most concurrent viewers", human(viewers["AVG_VIEWERS"].max() if len(viewers) else None),
              help="the highest window average in the range, all games added up")
    c3.metric(f"Most channels live in {'an hour' if grain == 'hourly' else 'a day'}",
              human(totals["DISTINCT_CHANNELS"].max()))
    left, right = st.columns(2)
    with left:
        ui.line(totals, "PERIOD_START", {"WATCH_HOURS": "watch hours"}, f"Watch hours, {grain}")
    with right:
        ui.line(viewers, "WINDOW_START", {"AVG_VIEWERS": "viewers"}, "Concurrent viewers per window")


ui.page(body)
