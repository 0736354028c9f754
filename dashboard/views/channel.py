"""Channel: one channel's history (watch hours, hours streamed, viewers, global rank) and the
games it played. Found by login or display name; `?channel=<user id>` links straight to any
channel the warehouse has seen."""

from typing import Optional

import streamlit as st

from dashboard import charts, loaders, ui
from dashboard.format import duration, human, name_or, viewers, when
from dashboard.html import Card, Column

st.title("Channel")

SEARCH = ui.Search("Search a channel by login or name", "channel_search",
                   "leave empty for the latest window's top channels",
                   "No channel whose login or name contains {text!r} was live in this time range.",
                   "No channel rows in the latest window yet: CHANNEL_WINDOWS fills as windows close.")
BROADCAST_COLUMNS = [Column("STARTED", "Started (UTC)", nowrap=True), Column("ENDED", "Ended", nowrap=True),
                     Column("DURATION", "Length", numeric=True), Column("WATCH_HOURS", "Watch hours", numeric=True),
                     Column("AVG_VIEWERS", "Avg viewers", numeric=True),
                     Column("PEAK_VIEWERS", "Peak viewers", numeric=True, phone=False),
                     Column("GAME", "Main game", name=True, phone=False), Column("LANGUAGE", "Language", phone=False),
                     Column("TITLE", "Title", name=True, phone=False)]
GAME_COLUMNS = [Column("GAME", "Game", name=True), Column("WATCH_HOURS", "Watch hours", numeric=True),
                Column("AIR_HOURS", "Streamed", numeric=True), Column("PEAK_VIEWERS", "Peak viewers", numeric=True),
                Column("FIRST_SEEN", "First seen (UTC)", phone=False, nowrap=True),
                Column("LAST_SEEN", "Last seen (UTC)", phone=False, nowrap=True)]


def search_text() -> str:
    return str(st.session_state.get("channel_search") or "").strip()


def wanted() -> Optional[str]:
    return st.query_params.get("channel") or None


def load(ctx: ui.Context, fresh, reload: int) -> loaders.Channel:
    return loaders.channel(ctx.source, fresh, reload, ctx.choice, ctx.dates, search_text(), wanted())


def label(login: object, name: object) -> str:
    return f"{name_or(name, '?')} ({name_or(login, '?')})"


def draw(ctx: ui.Context, s: loaders.Channel) -> None:
    if s.windows.latest is None:
        st.info(ui.NO_WINDOW)
        return
    text = ui.search(SEARCH, s, s.user_id)
    if text is None or s.user_id is None:
        return
    names = {str(u): label(lg, nm) for u, lg, nm in zip(s.found["USER_ID"], s.found["USER_LOGIN"], s.found["USER_NAME"])}
    if s.identity is not None:
        names = {s.user_id: label(*s.identity), **names}
    if not ui.picker("Channel", "channel", s.user_id, names, known=s.identity is not None, searched=text):
        return
    show_channel(ctx, s)


def show_channel(ctx: ui.Context, s: loaders.Channel) -> None:
    assert s.span is not None and s.identity is not None
    login, name = s.identity
    history = s.history
    st.subheader(name_or(name, login))
    st.caption(f"[twitch.tv/{login}](https://www.twitch.tv/{login}) · {s.span.label()}")
    if history.empty:
        st.info("This channel was not live in this time range: pick a longer range.")
        return
    watch, air = float(history["WATCH_HOURS"].sum()), float(history["AIR_HOURS"].sum())
    ui.cards([
        Card("Watch hours", human(watch)),
        Card("Hours streamed", duration(air)),
        Card("Average viewers", viewers(watch / air if air else None), note="while live: watch hours ÷ hours streamed"),
        Card("Peak viewers", viewers(history["PEAK_VIEWERS"].max())),
        Card("Best global rank", f"#{int(history['RANK'].min())}"),
    ])
    step = s.windows.latest_end - s.windows.latest
    gapped = charts.with_gaps(history, "WINDOW_START", step)  # offline between windows: the lines break
    left, right = st.columns(2)
    with left:
        ui.chart(charts.lines(gapped, "WINDOW_START", {"WATCH_HOURS": "watch hours"}, "Watch hours per window",
                              span=s.span.length))
        ui.chart(charts.lines(gapped, "WINDOW_START", {"RANK": "global rank"}, "Global rank per window (1 = top)",
                              reverse=True, integer=True, value_format=",d", span=s.span.length))
    with right:
        ui.chart(charts.lines(gapped, "WINDOW_START", {"AVG_VIEWERS": "average", "PEAK_VIEWERS": "peak"},
                              "Viewers per window", span=s.span.length))
        st.markdown("**Games played** (each window counts for the game it streamed most)")
        ui.table([{"GAME": ui.link(ctx, name_or(r.GAME_NAME, "(no category)"), "game", "game", r.GAME_ID),
                   "WATCH_HOURS": human(r.WATCH_HOURS), "AIR_HOURS": duration(r.AIR_HOURS),
                   "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS), "FIRST_SEEN": when(r.FIRST_SEEN), "LAST_SEEN": when(r.LAST_SEEN)}
                  for r in s.games.itertuples(index=False)], GAME_COLUMNS)
    broadcasts(ctx, s)


def broadcasts(ctx: ui.Context, s: loaders.Channel) -> None:
    if not ui.model_part("Broadcasts", s.broadcasts, "broadcasts",
                         "No broadcast of this range is in the broadcasts model yet: dbt adds it at its next build.",
                         "Each stream seen in the range, newest first, whole (from its start, also before the range), "
                         "from the broadcasts model; a live one's figures are those of dbt's last build."):
        return
    ui.table([{"STARTED": when(r.STARTED_AT), "ENDED": when(r.ENDED_AT) if r.ENDED else "live",
               "DURATION": duration(r.DURATION_HOURS), "WATCH_HOURS": human(r.WATCH_HOURS),
               "AVG_VIEWERS": viewers(r.AVG_VIEWERS), "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS),
               "GAME": ui.link(ctx, name_or(r.GAME_NAME, "(no category)") + (f" (+{int(r.GAMES) - 1} more)"
                                                                               if r.GAMES and r.GAMES > 1 else ""),
                               "game", "game", r.GAME_ID),
               "LANGUAGE": r.LANGUAGE, "TITLE": r.TITLE} for r in s.broadcasts.itertuples(index=False)],
             BROADCAST_COLUMNS)


ui.page("channel", load, draw, params=(search_text(), wanted()))
