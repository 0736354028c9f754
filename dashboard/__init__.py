"""The viewership dashboard (DESIGN §9): a Streamlit app over the warehouse's window tables."""

# Settings passed from `twitch-pulse dashboard` to the app (here, so the command needs no
# Streamlit import to know the names): seconds between looks for new data (0 = off), and the
# seconds a warehouse may take to answer before the page says it does not.
REFRESH_ENV = "DASHBOARD_REFRESH"
TIMEOUT_ENV = "DASHBOARD_TIMEOUT"
