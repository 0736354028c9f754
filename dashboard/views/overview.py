"""Overview: the latest complete window's top games and channels, the top five games over the
picked time range, and the platform's hourly or daily totals."""

import streamlit as st

from dashboard import charts, loaders, ui
from dashboard import html as h
from dashboard.format import duration, human, name_or, rank_change, viewers, window_label
from dashboard.html import Card, Column

st.title("Twitch Pulse: viewership")

GRAINS = ("hourly", "daily")
NO_CATEGORY = "(no category)"
GAME_COLUMNS = [Column("RANK", "#", numeric=True), Column("CHANGE", "Change", phone=False),
                Column("GAME", "Game", name=True), Column("WATCH_HOURS", "Watch hours", numeric=True),
                Column("AVG_VIEWERS", "Avg viewers", numeric=True),
                Column("PEAK_VIEWERS", "Peak viewers", numeric=True, phone=False),
                Column("UNIQUE_CHANNELS", "Channels", numeric=True, phone=False)]
CHANNEL_COLUMNS = [Column("RANK", "#", numeric=True), Column("CHANGE", "Change", phone=False),
                   Column("CHANNEL", "Channel", name=True), Column("GAME", "Game", name=True, phone=False),
                   Column("WATCH_HOURS", "Watch hours", numeric=True),
                   Column("AVG_VIEWERS", "Avg viewers", numeric=True),
                   Column("PEAK_VIEWERS", "Peak viewers", numeric=True, phone=False)]
STEP_WORDS = {"window": "window", "hourly": "hour", "daily": "day"}


def grain() -> str:
    """The picked grain, read before its radio is drawn (the snapshot is loaded first)."""
    picked = st.session_state.get("grain") or st.query_params.get("grain")
    return picked if picked in GRAINS else GRAINS[0]


def load(ctx: ui.Context, fresh, reload: int) -> loaders.Overview:
    return loaders.overview(ctx.source, fresh, reload, ctx.choice, ctx.dates, grain())


def draw(ctx: ui.Context, s: loaders.Overview) -> None:
    if s.windows.latest is None:
        st.info(ui.NO_WINDOW)
        return
    latest_window(ctx, s)
    games_over_time(s)
    languages(s)
    platform(s)


def latest_window(ctx: ui.Context, s: loaders.Overview) -> None:
    """The window's header, figures and both tables are one element, so a new window replaces
    them all at once; the bars follow from the same snapshot."""
    games, channels, totals = s.games, s.channels, s.totals
    top = games.iloc[0] if len(games) else None
    parts = [h.heading(f"Latest complete window: {window_label(s.windows.latest, s.windows.latest_end)}")]
    note = ui.loading_note(s.windows)
    if note:
        parts.append(h.paragraph(note, note=True))
    parts.append(h.cards([
        Card("Top game", ui.link(ctx, name_or(top["GAME_NAME"], NO_CATEGORY), "game", "game", top["GAME_ID"])
             if top is not None else None),
        Card("Top game's watch hours", human(top["WATCH_HOURS"]) if top is not None else None,
             note=f"{top['WATCH_HOURS']:,.1f} hours in this window" if top is not None else None),
        Card("All games' watch hours", human(totals.get("WATCH_HOURS"))),
        Card("Viewers (all games)", viewers(totals.get("AVG_VIEWERS")), note="average over the window"),
    ]))
    game_table = h.paragraph("by watch hours (rank change since the window before)", bold=f"Top {loaders.TOP} games") + h.table(
        [{"RANK": int(r.RANK), "CHANGE": rank_change(r.RANK, r.PREVIOUS_RANK),
          "GAME": ui.link(ctx, name_or(r.GAME_NAME, NO_CATEGORY), "game", "game", r.GAME_ID),
          "WATCH_HOURS": human(r.WATCH_HOURS), "AVG_VIEWERS": viewers(r.AVG_VIEWERS),
          "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS), "UNIQUE_CHANNELS": human(r.UNIQUE_CHANNELS)}
         for r in games.itertuples(index=False)], GAME_COLUMNS)
    channel_table = h.paragraph("by watch hours", bold=f"Top {loaders.TOP} channels") + (h.table(
        [{"RANK": int(r.RANK), "CHANGE": rank_change(r.RANK, r.PREVIOUS_RANK),
          "CHANNEL": ui.link(ctx, name_or(r.USER_NAME, r.USER_LOGIN), "channel", "channel", r.USER_ID),
          "GAME": ui.link(ctx, name_or(r.GAME_NAME, NO_CATEGORY), "game", "game", r.GAME_ID),
          "WATCH_HOURS": human(r.WATCH_HOURS), "AVG_VIEWERS": viewers(r.AVG_VIEWERS),
          "PEAK_VIEWERS": viewers(r.PEAK_VIEWERS)}
         for r in channels.itertuples(index=False)], CHANNEL_COLUMNS) if len(channels) else
        h.paragraph("No channel rows for this window yet: CHANNEL_WINDOWS is written by the same sink as the games."))
    parts.append(h.side_by_side(game_table, channel_table))
    ui.block("".join(parts))
    left, right = st.columns(2)
    with left:
        ui.chart(charts.ranked_bars([f"{r.RANK}. {name_or(r.GAME_NAME, NO_CATEGORY)}" for r in games.itertuples()],
                                    list(games["WATCH_HOURS"]), "Watch hours by game"))
    with right:
        if len(channels):
            ui.chart(charts.ranked_bars([f"{r.RANK}. {name_or(r.USER_NAME, r.USER_LOGIN)}" for r in channels.itertuples()],
                                        list(channels["WATCH_HOURS"]), "Watch hours by channel"))


def games_over_time(s: loaders.Overview) -> None:
    st.subheader(f"Top {loaders.TOP_GAMES_OVER_TIME} games over time")
    assert s.span is not None
    if s.warning:
        st.warning(s.warning)
    st.caption(f"{s.span.label()} · average viewers per {STEP_WORDS[s.step]}, the five games with the most "
               f"watch hours in the range (the tooltip gives each one's share of all viewers)")
    if s.top_games.empty:
        st.info("No window in this time range: pick a longer range, or wait for the next window to close.")
        return
    ui.chart(charts.games_over_time(s.top_games, "Average viewers", s.span.length))


def languages(s: loaders.Overview) -> None:
    if not ui.model_part("Languages", s.languages, "language_daily",
                         "No day of this range is in the language_daily model yet: dbt adds it at its next build.",
                         "Each UTC day touching the range: the languages' shares of its watch hours (the range's six "
                         "most watched languages, the rest as other), from the language_daily model."):
        return
    ui.chart(charts.shares(s.languages, "Share of watch hours by language"))
    partial = sorted({f"{day:%Y-%m-%d} ({why})" for day, why in zip(s.languages["PERIOD_START"], s.languages["PARTIAL"])
                      if isinstance(why, str)})
    if partial:
        st.caption("Partial days, drawn faded: " + "; ".join(partial) + ".")


def platform(s: loaders.Overview) -> None:
    st.subheader("Platform totals")
    picked = st.radio("Per", GRAINS, index=GRAINS.index(s.grain), horizontal=True, key="grain",
                      bind="query-params", format_func=str.capitalize)
    assert s.span is not None and picked == s.grain
    totals = s.platform
    if totals.empty:
        st.info("No window in this time range: pick a longer range, or wait for the next window to close.")
        return
    per = "an hour" if s.grain == "hourly" else "a day"
    ui.cards([
        Card("Watch hours in range", human(s.range_watch_hours), note=s.span.label()),
        Card("Hours streamed in range", duration(float(totals["AIR_HOURS"].sum()))),
        Card("Most concurrent viewers", viewers(s.viewers["AVG_VIEWERS"].max() if len(s.viewers) else None),
             note="the highest window average, all games added up"),
        Card(f"Most channels live in {per}", human(totals["DISTINCT_CHANNELS"].max())),
    ])
    left, right = st.columns(2)
    with left:
        ui.chart(charts.period_bars(totals, "WATCH_HOURS", f"Watch hours, {s.grain}", s.span.length))
    with right:
        ui.chart(charts.lines(s.viewers, "WINDOW_START", {"AVG_VIEWERS": "viewers"}, "Concurrent viewers per window",
                              span=s.span.length))
    partial = [f"{r.PERIOD_START:%Y-%m-%d %H:%M} {r.PARTIAL}" for r in totals.itertuples() if isinstance(r.PARTIAL, str)]
    if partial:
        st.caption("Partial periods, drawn faded (each counts only the windows inside the range): " + "; ".join(partial) + ".")
    if s.rollup_missing:
        st.caption(f"The {s.grain} rollup is not in the warehouse yet (dbt builds it: `twitch-pulse models build`): "
                   "every period was added up from the window rows.")


ui.page("overview", load, draw, params=(grain(),))
