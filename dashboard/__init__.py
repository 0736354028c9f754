"""The viewership dashboard (DESIGN §9): a Streamlit app over the warehouse's window tables."""
