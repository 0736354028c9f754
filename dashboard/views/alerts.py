"""Alerts: the latest spike alerts in the time range, each linking to the channel's or game's
page here (same tab) and to Twitch (a new tab)."""

import streamlit as st

from dashboard import loaders, ui
from dashboard.format import human, name_or, viewers, when
from dashboard.html import Card, Column, Link

st.title("Spike alerts")

KINDS = {"threshold": "crossed the viewer threshold", "surge": "channel surge", "game_surge": "game surge"}
COLUMNS = [Column("WHEN", "Captured (UTC)", nowrap=True), Column("KIND", "Kind", phone=False), Column("WHO", "Who", name=True),
           Column("GAME", "Game", name=True, phone=False), Column("VIEWERS", "Viewers", numeric=True),
           Column("BASELINE", "Baseline", numeric=True, phone=False), Column("TWITCH", "On Twitch", name=True)]


def load(ctx: ui.Context, fresh, reload: int) -> loaders.Alerts:
    return loaders.alerts(ctx.source, fresh, reload, ctx.choice, ctx.dates)


def draw(ctx: ui.Context, s: loaders.Alerts) -> None:
    if s.span is None:
        st.info(ui.NO_WINDOW)
        return
    if s.warning:
        st.warning(s.warning)
    found = s.alerts
    st.caption(s.span.label())
    if found.empty:
        st.info("No spike alert in this time range. An alert fires when a channel reaches the viewer threshold, "
                "or a channel or game surges above its last 15 minutes' mean (DESIGN §5); it appears here "
                "as soon as the alerts sink writes it.")
        return
    kinds = sorted(found["KIND"].dropna().unique())
    picked = st.multiselect("Kinds", kinds, default=kinds, key="alert_kinds", format_func=lambda k: KINDS.get(k, k))
    shown = found[found["KIND"].isin(picked)]
    ui.cards([
        Card("Alerts", f"{len(shown):,}", note=f"the latest {len(found)} at most"),
        Card("Biggest spike", human(shown["VIEWERS"].max(), "viewers") if len(shown) else None),
        Card("Latest", when(shown["CAPTURED_AT"].max()) if len(shown) else None),
    ])
    if shown.empty:
        st.info("No alert of the kinds picked: pick more kinds.")
        return
    rows = []
    for r in shown.itertuples(index=False):
        page, param = ("channel", "channel") if r.SUBJECT_TYPE == "channel" else ("game", "game")
        rows.append({
            "WHEN": when(r.CAPTURED_AT), "KIND": KINDS.get(r.KIND, r.KIND),
            "WHO": ui.link(ctx, name_or(r.SUBJECT_NAME, r.SUBJECT_ID), page, param, r.SUBJECT_ID),
            "GAME": ui.link(ctx, name_or(r.GAME_NAME, "(no category)"), "game", "game", r.GAME_ID),
            "VIEWERS": viewers(r.VIEWERS), "BASELINE": viewers(r.BASELINE),
            "TWITCH": Link(str(r.URL).split("://", 1)[-1].removeprefix("www."), str(r.URL), external=True),
        })
    ui.table(rows, COLUMNS)


ui.page("alerts", load, draw)
