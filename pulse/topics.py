"""Topic names of DESIGN §1; `Settings.topic()` adds the optional TOPIC_PREFIX."""

STREAMS = "twitch.streams"
STREAMS_DLQ = "twitch.streams.dlq"
WINDOWS_GAMES = "twitch.windows.games"
WINDOWS_CHANNELS = "twitch.windows.channels"
WINDOWS_TOP_CHANNELS = "twitch.windows.top_channels"
WINDOWS_STREAMS = "twitch.windows.streams"
WINDOWS_LANGUAGES = "twitch.windows.languages"
ALERTS = "twitch.alerts"

WINDOW_TOPICS = (WINDOWS_GAMES, WINDOWS_CHANNELS, WINDOWS_TOP_CHANNELS, WINDOWS_STREAMS, WINDOWS_LANGUAGES)
ALL = (STREAMS, STREAMS_DLQ, *WINDOW_TOPICS, ALERTS)

# The processor's internal topics (between its stages; see processors/app.py)
PROCESSOR_PARTIALS = "twitch.processor.partials"
PROCESSOR_GAME_POLLS = "twitch.processor.game_polls"
PROCESSOR_INTERNAL = (PROCESSOR_PARTIALS, PROCESSOR_GAME_POLLS)
