"""Prometheus metrics of the processor (no channel or game ids as labels)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("twitch_pulse_processor_events_total", "Stream events accepted into the windows")
DROPPED = Counter(
    "twitch_pulse_processor_dropped_total",
    "Stream samples or messages dropped, by reason (invalid, duplicate, late, reordered)",
    ["reason"],
)
CHUNKS = Counter("twitch_pulse_processor_chunks_total", "Snapshot chunks (twitch.streams messages) processed")
WINDOWS = Counter(
    "twitch_pulse_processor_window_rows_total",
    "Window rows emitted, by output (games, channels, top_channels, streams, languages)",
    ["output"],
)
INPUT_PAUSES = Counter(
    "twitch_pulse_processor_input_pauses_total",
    "Times the input was paused so that committed partials and game totals were read first (catching up)",
)
WINDOWS_CLOSED = Counter("twitch_pulse_processor_windows_closed_total", "Windows assembled and emitted")
ALERTS = Counter("twitch_pulse_processor_alerts_total", "Spike alerts emitted, by kind", ["kind"])
ASSEMBLY = Histogram(
    "twitch_pulse_processor_window_assembly_seconds",
    "Time to compute and emit one closed window",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENT_AGE = Histogram(
    "twitch_pulse_processor_event_age_seconds",
    "Wall-clock age of an event (now - captured_at) when the processor reads it",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
CONSUMER_LAG = Gauge(
    "twitch_pulse_processor_consumer_lag_messages",
    "Consumer lag in messages per topic partition (librdkafka statistics)",
    ["topic", "partition"],
)
LAST_WINDOW_END = Gauge(
    "twitch_pulse_processor_last_window_end_timestamp_seconds",
    "Event-time end of the newest window emitted (for 'no window emitted' alerts)",
)
