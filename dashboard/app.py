"""The dashboard's entry point (`streamlit run dashboard/app.py`, or `twitch-pulse dashboard`):
the page router and the sidebar shared by every page."""

import sys
from pathlib import Path

import streamlit as st

try:
    import dashboard  # noqa: F401  (installed with the project)
except ImportError:  # Streamlit in Snowflake: the files sit on a stage, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import ui  # noqa: E402

# A favicon of our own: a Material icon would be fetched from Google's font servers, which
# fails offline (and tells Google who looks).
st.set_page_config(page_title="Twitch Pulse", page_icon=str(Path(__file__).with_name("favicon.png")),
                   layout="wide")

navigation = st.navigation([
    st.Page("views/overview.py", title="Overview", icon=":material/leaderboard:", default=True),
    st.Page("views/rankings.py", title="Rankings", icon=":material/format_list_numbered:"),
    st.Page("views/game.py", title="Game", icon=":material/sports_esports:"),
    st.Page("views/channel.py", title="Channel", icon=":material/live_tv:"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications_active:"),
])
ui.sidebar()
ui.styles()
navigation.run()
