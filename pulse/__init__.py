"""Twitch Pulse's shared package: what every worker needs (settings, the event schema,
topic names, output records, logging, the metrics server, Kafka and warehouse connections)."""

import warnings

# quixstreams imports authlib's httpx integration, which warns on import about its own
# rename; it is not ours to act on and would otherwise open every worker's log.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
