"""The producer's Prometheus metrics (prefix `twitch_pulse_producer_`).

Labels are small closed sets (HTTP endpoint and status, credential index, outcome): never a
channel, game or client id, so cardinality stays flat whatever Twitch does.
"""

from prometheus_client import Counter, Gauge, Histogram

P = "twitch_pulse_producer_"

POLLS = Counter(P + "polls_total", "Polls finished, by outcome (complete, incomplete)", ["outcome"])
POLLS_SKIPPED = Counter(P + "polls_skipped_total", "Grid instants skipped because a poll overran by more than an interval")
POLL_OVERRUNS = Counter(P + "poll_overruns_total", "Polls that started late because the previous one overran its interval")
POLL_DURATION = Histogram(P + "poll_duration_seconds", "Real seconds from the start of a poll's sweep to its last delivery",
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300))
PAGES = Counter(P + "pages_total", "Helix stream pages read")
STREAMS_EMITTED = Counter(P + "streams_emitted_total", "Stream objects delivered to Kafka (after de-duplication)")
DUPLICATES = Counter(P + "duplicates_dropped_total", "Streams seen twice within one poll (page drift), dropped")
MALFORMED_PAGES = Counter(P + "malformed_pages_total", "Helix pages whose body was not valid JSON of the expected shape")
MALFORMED_STREAMS = Counter(P + "malformed_streams_total", "Stream objects dropped: not normalisable to the schema, invalid, or too large for a chunk")
INVALID_CURSORS = Counter(P + "invalid_cursor_total", "Helix 400 invalid cursor answers (retried)")
LOOP_BACKS = Counter(P + "loop_backs_total", "Pagination that looped back to page 1 and was stopped")
HTTP_REQUESTS = Counter(P + "http_requests_total", "HTTP requests to Twitch by endpoint and status "
                        "(status 'error' = timeout or connection error)", ["endpoint", "status"])
RATELIMIT_REMAINING = Gauge(P + "ratelimit_remaining", "Last Ratelimit-Remaining seen, per credential", ["credential"])
RATELIMIT_WAITS = Counter(P + "ratelimit_waits_total", "Times a request waited for rate-limit points (pacing or 429)")
TOKENS = Counter(P + "token_requests_total", "App access tokens requested (start, expiry, 401)")
PRODUCE_ERRORS = Counter(P + "produce_errors_total", "Kafka delivery failures (each failed attempt of a record)")
RECORDS_LOST = Counter(P + "records_undelivered_total", "Stream records the broker never acknowledged: failed chunks given up at a stop, and chunks still in the queue after the last flush at a stop")
CHUNKS = Counter(P + "chunks_total", "Chunk messages delivered (at least one per chunk key per poll)")
LAST_POLL = Gauge(P + "last_poll_captured_at_timestamp_seconds", "captured_at of the last poll whose chunks were all delivered")
REPLAYED_POLLS = Counter(P + "replayed_polls_total", "Polls read from a recording and replayed")
