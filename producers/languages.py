"""Twitch broadcaster languages (the values `GET /helix/streams?language=` accepts) and their
rough share of live channels.

The producer splits an "all live streams" sweep into one cursor chain per language (and
shards deal languages out), so the list must cover every language Helix reports; "other"
is Helix's own catch-all. The shares only order the split (big languages first, dealt
round-robin so shards get similar loads) and shape the simulator's population.
"""

from __future__ import annotations

LANGUAGE_SHARES: dict[str, float] = {
    "en": 0.33, "es": 0.09, "ru": 0.07, "pt": 0.07, "de": 0.06, "ja": 0.06, "fr": 0.05,
    "ko": 0.04, "zh": 0.03, "it": 0.025, "pl": 0.02, "tr": 0.02, "th": 0.012, "uk": 0.01,
    "ar": 0.01, "zh-hk": 0.008, "nl": 0.008, "sv": 0.006, "cs": 0.006, "id": 0.006,
    "vi": 0.005, "hu": 0.004, "fi": 0.004, "no": 0.003, "da": 0.003, "ro": 0.003,
    "el": 0.003, "tl": 0.003, "hi": 0.003, "bg": 0.002, "sk": 0.002, "ca": 0.002,
    "ms": 0.002, "asl": 0.001, "other": 0.02,
}

LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGE_SHARES, key=lambda code: -LANGUAGE_SHARES[code]))
