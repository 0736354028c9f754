"""Alerts: the latest spike alerts in the time range, with links to the channel on Twitch and
to its page here."""

import streamlit as st

from dashboard import queries as q
from dashboard import ui
from dashboard.format import human

st.title("Spike alerts")

KINDS = {"threshold": "crossed the viewer threshold", "surge": "channel surge", "game_surge": "game surge"}


def body(ctx: ui.Context) -> None:
    span = ui.time_range(ctx)
    if span is None:
        return
    found = q.alerts(ctx.source, span)
    st.caption(span.label())
    if found.empty:
        st.info("No spike alert in this time range. An alert fires when a channel reaches the viewer threshold, "
                "or a channel or game surges above its last 15 minutes' mean (DESIGN §5); it appears here "
                "as soon as the alerts sink writes it.")
        return
    kinds = sorted(found["KIND"].dropna().unique())
    picked = st.multiselect("Kinds", kinds, default=kinds, key="alert_kinds",
                            format_func=lambda k: KINDS.get(k, k))
    shown = found[found["KIND"].isin(picked)]
    c1, c2, c3 = st.columns(3)
    c1.metric("Alerts", f"{len(shown):,}", help=f"the latest {len(found)} at most")
    c2.metric("Biggest spike", human(shown["VIEWERS"].max() if len(shown) else None, "viewers"))
    c3.metric("Latest", ui.when(shown["CAPTURED_AT"].max() if len(shown) else None))
    if shown.empty:
        st.info("No alert of the kinds picked: pick more kinds.")
        return
    view = shown.assign(
        WHEN=[ui.when(v) for v in shown["CAPTURED_AT"]],
        WHAT=[KINDS.get(k, k) for k in shown["KIND"]],
        VIEWERS_H=[human(v) for v in shown["VIEWERS"]],
        BASELINE_H=[human(v) for v in shown["BASELINE"]],
        PAGE=[f"{'channel?channel' if t == 'channel' else 'game?game'}={sid if t == 'channel' else gid}"
              for t, sid, gid in zip(shown["SUBJECT_TYPE"], shown["SUBJECT_ID"], shown["GAME_ID"])],
    )[["WHEN", "WHAT", "SUBJECT_NAME", "GAME_NAME", "VIEWERS_H", "BASELINE_H", "URL", "PAGE"]]
    st.dataframe(view, hide_index=True, width="stretch", column_config={
        "WHEN": st.column_config.TextColumn("Captured (UTC)"),
        "WHAT": st.column_config.TextColumn("Kind"),
        "SUBJECT_NAME": st.column_config.TextColumn("Who"),
        "GAME_NAME": st.column_config.TextColumn("Game"),
        "VIEWERS_H": st.column_config.TextColumn("Viewers"),
        "BASELINE_H": st.column_config.TextColumn("Baseline"),
        "URL": st.column_config.LinkColumn("On Twitch", display_text=r"https://(?:www\.)?(.*)"),
        "PAGE": st.column_config.LinkColumn("Here", display_text="history"),
    })


ui.page(body)
