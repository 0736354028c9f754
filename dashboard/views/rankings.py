"""Rankings: a UTC day's or month's top games and channels with the change in rank against the
day or month before, read from the dbt marts (game_daily, channel_daily, game_monthly,
channel_monthly). A day or month its windows do not cover whole is marked as such."""

from datetime import datetime
from typing import Optional

import streamlit as st

from dashboard import html as h
from dashboard import loaders, ui
from dashboard.format import duration, human, name_or, rank_change, viewers
from dashboard.html import Column

st.title("Rankings")

PERS = ("daily", "monthly")
GAME_COLUMNS = [Column("RANK", "#", numeric=True), Column("CHANGE", "Change"), Column("GAME", "Game", name=True),
                Column("WATCH_HOURS", "Watch hours", numeric=True), Column("AVG_VIEWERS", "Avg viewers", numeric=True),
                Column("PEAK_VIEWERS", "Peak viewers", numeric=True, phone=False),
                Column("AIR_HOURS", "Streamed", numeric=True, phone=False),
                Column("CHANNELS", "Channels", numeric=True, phone=False)]
CHANNEL_COLUMNS = [Column("RANK", "#", numeric=True), Column("CHANGE", "Change"),
                   Column("CHANNEL", "Channel", name=True), Column("GAME", "Main game", name=True, phone=False),
                   Column("WATCH_HOURS", "Watch hours", numeric=True),
                   Column("AVG_VIEWERS", "Avg viewers", numeric=True, phone=False),
                   Column("PEAK_VIEWERS", "Peak viewers", numeric=True, phone=False),
                   Column("AIR_HOURS", "Streamed", numeric=True, phone=False)]


def per() -> str:
    picked = st.session_state.get("per") or st.query_params.get("per")
    return picked if picked in PERS else PERS[0]


def period() -> Optional[datetime]:
    return st.session_state.get(f"period_{per()}")


def load(ctx: ui.Context, fresh, reload: int) -> loaders.Rankings:
    return loaders.rankings(ctx.source, fresh, reload, per(), period())


def label(per_: str, start: datetime) -> str:
    return f"{start:%Y-%m-%d}" if per_ == "daily" else f"{start:%B %Y}"


def draw(ctx: ui.Context, s: loaders.Rankings) -> None:
    st.radio("Per", PERS, index=PERS.index(s.per), horizontal=True, key="per", bind="query-params",
             format_func=lambda p: "Day" if p == "daily" else "Month")
    word = "day" if s.per == "daily" else "month"
    if not s.built:
        st.info(ui.NOT_BUILT.format(model="game_daily" if s.per == "daily" else "game_monthly"))
        return
    if s.period is None:
        st.info(f"No {word} in the rankings yet: dbt adds each {word} at its next build.")
        return
    starts = [loaders.to_datetime(t) for t in s.periods["PERIOD_START"]]
    st.selectbox(word.capitalize(), starts, index=starts.index(s.period), key=f"period_{s.per}",
                 format_func=lambda t: label(s.per, t))
    notes = [f"The UTC {word} of {label(s.per, s.period)}, ranked by watch hours; the change is against the {word} "
             f"before (▲ climbed, ▼ fell, new: not ranked then). From dbt's {s.per} models, rebuilt every few minutes."]
    if s.partial:
        notes.append(f"Partial {word}: {s.partial}, so far; its ranks can still change.")
    games = h.paragraph(f"by watch hours in the {word}", bold="Games") + h.table(
        [{"RANK": int(r.RANK), "CHANGE": rank_change(r.RANK, r.PREVIOUS_RANK),
          "GAME": ui.link(ctx, name_or(r.GAME_NAME, "(no category)"), "game", "game", r.GAME_ID),
          "WATCH_HOURS": human(r.WATCH_HOURS), "AVG_VIEWERS": viewers(r.AVG_VIEWERS),
          "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS), "AIR_HOURS": duration(r.AIR_HOURS),
          "CHANNELS": human(r.DISTINCT_CHANNELS)} for r in s.games.itertuples(index=False)], GAME_COLUMNS)
    channels = h.paragraph(f"by watch hours in the {word}", bold="Channels") + h.table(
        [{"RANK": int(r.RANK), "CHANGE": rank_change(r.RANK, r.PREVIOUS_RANK),
          "CHANNEL": ui.link(ctx, name_or(r.USER_NAME, r.USER_LOGIN), "channel", "channel", r.USER_ID),
          "GAME": ui.link(ctx, name_or(r.GAME_NAME, "(no category)"), "game", "game", r.GAME_ID),
          "WATCH_HOURS": human(r.WATCH_HOURS), "AVG_VIEWERS": viewers(r.AVG_VIEWERS),
          "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS), "AIR_HOURS": duration(r.AIR_HOURS)}
         for r in s.channels.itertuples(index=False)], CHANNEL_COLUMNS)
    ui.block(h.heading(f"Top of {label(s.per, s.period)}") + "".join(h.paragraph(n, note=True) for n in notes)
             + h.side_by_side(games, channels))


ui.page("rankings", load, draw, params=(per(), period()))
