"""The viewership dashboard (DESIGN §9): a Streamlit app over the warehouse's window tables."""

# Seconds between automatic refreshes of a page's data, passed from `twitch-pulse dashboard
# --refresh` to the app (here, so the command needs no Streamlit import to know the name).
REFRESH_ENV = "DASHBOARD_REFRESH"
