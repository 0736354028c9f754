"""Channel: one channel's history (watch hours, peak viewers, global rank) and the games it
played. Found by login or display name; `?channel=<user id>` links straight to one."""

import streamlit as st

from dashboard import queries as q
from dashboard import ui
from dashboard.format import human

st.title("Channel")

GAME_COLUMNS = {"GAME": "Game", "WATCH_HOURS": "Watch hours", "PEAK_VIEWERS": "Peak viewers",
                "WINDOWS": "Windows live", "FIRST_SEEN": "First seen (UTC)", "LAST_SEEN": "Last seen (UTC)"}


def body(ctx: ui.Context) -> None:
    span = ui.time_range(ctx)
    if span is None:
        return
    windows = q.latest_windows(ctx.source)
    text = st.text_input("Search a channel by login or name", key="channel_search", max_chars=100,
                         placeholder="leave empty for the latest window's top channels").strip()
    found = q.search_channels(ctx.source, text, windows.latest, span)
    wanted = st.query_params.get("channel")
    if found.empty and not wanted:
        st.info(f"No channel whose login or name contains {text!r} was live in this time range." if text else
                "No channel rows in the latest window yet: CHANNEL_WINDOWS fills as windows close.")
        return
    names = {uid: f"{name} ({login})" for uid, login, name in
             zip(found["USER_ID"], found["USER_LOGIN"].fillna("?"), found["USER_NAME"].fillna("?"))}
    if wanted and wanted not in names and not text:
        names = {wanted: wanted, **names}  # a link to a channel outside the top list
    ids = list(names)
    if not ids:
        st.info(f"No channel whose login or name contains {text!r} was live in this time range.")
        return
    index = ids.index(wanted) if wanted in names else 0
    user_id = st.selectbox("Channel", ids, index=index, format_func=lambda u: names.get(u, u), key="channel_pick")
    if user_id is None:
        return
    st.query_params["channel"] = user_id
    show_channel(ctx, user_id, span)


def show_channel(ctx: ui.Context, user_id: str, span) -> None:
    history = q.channel_history(ctx.source, user_id, span)
    if history.empty:
        st.info("This channel was not live in this time range: pick a longer range.")
        return
    last = history.iloc[-1]
    login = last["USER_LOGIN"]
    st.subheader(f"{last['USER_NAME']}")
    st.caption(f"[twitch.tv/{login}](https://www.twitch.tv/{login}) · {span.label()}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Watch hours", human(history["WATCH_HOURS"].sum()))
    c2.metric("Peak viewers", human(history["PEAK_VIEWERS"].max()))
    c3.metric("Best global rank", f"#{int(history['RANK'].min())}")
    c4.metric("Windows live", f"{len(history):,}")
    left, right = st.columns(2)
    with left:
        ui.line(history, "WINDOW_START", {"WATCH_HOURS": "watch hours"}, "Watch hours per window")
        ui.line(history, "WINDOW_START", {"RANK": "global rank"}, "Global rank per window (1 = top)", reverse=True)
    with right:
        ui.line(history, "WINDOW_START", {"AVG_VIEWERS": "average", "PEAK_VIEWERS": "peak"}, "Viewers per window")
        st.markdown("**Games played**")
        games = q.channel_games(ctx.source, user_id, span)
        games = games.assign(GAME=[ui.link(n, "game", "game", g) for n, g in zip(games["GAME_NAME"], games["GAME_ID"])])
        ui.table(ui.humanized(games, GAME_COLUMNS))


ui.page(body)
