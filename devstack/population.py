"""The simulated Twitch: channels going live and offline, viewers drifting, games switching.

Time moves in steps of `step_seconds` simulated seconds (default 60, the poll interval).
Each step's evolution draws from a `random.Random` seeded by (seed, step), so a given seed
and start step give the same population every run. A step's live set is frozen into an
immutable `Snapshot` (rows sorted by viewers, as Helix orders them) that HTTP pages are cut
from; mid-sweep changes of step are what make real pages drift.

Shape (DESIGN §8 scale): heavy-tailed viewers (log-normal body with a median in single
digits, a handful of channels above 50k), a few thousand games with a Zipf share and one
"Just Chatting" giant, languages by share, broadcasts lasting ~4 h on average and never
more than 48 h, a new stream id on every restart, occasional game switches. Scripted
spikes (a channel's or a game's viewers at a given simulated time) feed alert tests.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from typing import Iterable, Optional, Sequence

from producers.languages import LANGUAGE_SHARES

# A few real category ids/names, so filters written for real Twitch (the first seed's
# "Age of Empires II: Definitive Edition") work against the simulator too.
KNOWN_GAMES: tuple[tuple[str, str], ...] = (
    ("509658", "Just Chatting"),
    ("32982", "Grand Theft Auto V"),
    ("21779", "League of Legends"),
    ("516575", "VALORANT"),
    ("32399", "Counter-Strike"),
    ("33214", "Fortnite"),
    ("27471", "Minecraft"),
    ("29595", "Dota 2"),
    ("511224", "Apex Legends"),
    ("18122", "World of Warcraft"),
    ("512710", "Call of Duty: Warzone"),
    ("509663", "Special Events"),
    ("26936", "Music"),
    ("509660", "Art"),
    ("13389", "Age of Empires II: Definitive Edition"),
    ("491931", "Escape from Tarkov"),
    ("490100", "Lost Ark"),
    ("1469308723", "Software and Game Development"),
)
JUST_CHATTING_SHARE = 0.13
TAGS = ("English", "Chill", "Competitive", "Speedrun", "Cozy", "Vtuber", "NoBackseating",
        "Esports", "Variety", "IRL", "Music", "Retro", "Drops", "Funny", "FPS")
MAX_BROADCAST_SECONDS = 48 * 3600
MEAN_BROADCAST_SECONDS = 4 * 3600


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Game:
    id: str
    name: str

    def as_helix(self) -> dict:
        return {"id": self.id, "name": self.name,
                "box_art_url": f"https://static-cdn.jtvnw.net/ttv-boxart/{self.id}-{{width}}x{{height}}.jpg",
                "igdb_id": ""}


@dataclass(frozen=True)
class Spike:
    """From `start` to `end` (simulated epoch seconds) a channel shows `viewers`, or a game's
    streams are scaled so the game's total is `viewers`. A spiked channel is forced live."""

    viewers: int
    start: float
    end: float
    user_login: str = ""
    game_id: str = ""


class _Channel:
    __slots__ = ("user_id", "login", "name", "language", "mature", "base", "live", "stream_id",
                 "started", "started_s", "game", "title", "tags", "mult")

    def __init__(self, user_id: str, login: str, language: str, base: float, mature: bool) -> None:
        self.user_id, self.login, self.name = user_id, login, login.capitalize()
        self.language, self.base, self.mature = language, base, mature
        self.live, self.stream_id, self.started = False, "", 0.0
        self.game, self.title, self.tags, self.mult = 0, "", (), 1.0


# Row layout of a snapshot (a tuple per live stream, cheap to hold 120k of)
V, STREAM_ID, USER_ID, LOGIN, NAME, GAME_ID, GAME_NAME, TITLE, LANG, STARTED, TAGS_, MATURE = range(12)


@dataclass
class Snapshot:
    """The live streams at one step, sorted by viewers (desc), ties by stream id."""

    step: int
    time: float
    rows: list[tuple]
    _filtered: dict = field(default_factory=dict, repr=False)

    def filtered(self, game_ids: frozenset, languages: frozenset, logins: frozenset) -> list[tuple]:
        key = (game_ids, languages, logins)
        rows = self._filtered.get(key)
        if rows is None:
            rows = [r for r in self.rows
                    if (not game_ids or r[GAME_ID] in game_ids)
                    and (not languages or r[LANG] in languages)
                    and (not logins or r[LOGIN] in logins)]
            if len(self._filtered) > 256:
                self._filtered.clear()
            self._filtered[key] = rows
        return rows

    @staticmethod
    def as_helix(row: tuple) -> dict:
        """A row exactly as Helix `GET /streams` returns a stream (incl. the deprecated tag_ids)."""
        return {
            "id": row[STREAM_ID], "user_id": row[USER_ID], "user_login": row[LOGIN],
            "user_name": row[NAME], "game_id": row[GAME_ID], "game_name": row[GAME_NAME],
            "type": "live", "title": row[TITLE], "viewer_count": row[V],
            "started_at": row[STARTED], "language": row[LANG],
            "thumbnail_url": f"https://static-cdn.jtvnw.net/previews-ttv/live_user_{row[LOGIN]}-{{width}}x{{height}}.jpg",
            "tag_ids": [], "tags": list(row[TAGS_]), "is_mature": row[MATURE],
        }


class Population:
    """Channels and their broadcasts; `snapshot(t)` evolves to t's step and returns it."""

    def __init__(self, channels: int = 3000, games: int = 2000, seed: int = 1,
                 step_seconds: float = 60.0, start: float = 0.0, frozen: bool = False) -> None:
        if channels < 1 or games < 1:
            raise ValueError("channels and games must be >= 1")
        self.target = channels
        self.seed = seed
        self.step_seconds = step_seconds
        self.frozen = frozen
        self.spikes: list[Spike] = []
        self._lock = threading.Lock()
        rng = random.Random(f"{seed}:init")
        self.games = self._make_games(games)
        self._game_index = {g.id: i for i, g in enumerate(self.games)}
        weights = [JUST_CHATTING_SHARE / (1 - JUST_CHATTING_SHARE) * sum(1 / (i + 1) ** 1.1 for i in range(1, games))
                   if i == 0 else 1 / (i + 1) ** 1.1 for i in range(games)] if games > 1 else [1.0]
        self._game_cum = list(accumulate(weights))
        self._lang_codes = list(LANGUAGE_SHARES)
        self._lang_cum = list(accumulate(LANGUAGE_SHARES.values()))
        pool = int(channels * 1.25) + 10
        self.channels: list[_Channel] = []
        big = min(channels, max(3, channels // 30_000))  # "a few channels above 50k"
        for i in range(pool):
            user_id = str(10_000_000 + i * 37)
            base = 50_000 + rng.random() * 100_000 if i < big else math.exp(rng.gauss(1.4, 1.8))
            channel = _Channel(user_id, f"user{i:06d}", self._pick(rng, self._lang_codes, self._lang_cum),
                               base, rng.random() < 0.1)
            self.channels.append(channel)
        self.by_login = {c.login: c for c in self.channels}
        self._next_stream = 40_000_000_000 + rng.randrange(1_000_000_000)
        self.step = int(start // step_seconds)
        t0 = self.step * step_seconds
        first_live = self.channels[:big] + rng.sample(self.channels[big:], channels - big)
        for channel in first_live:
            self._go_live(channel, rng, t0 - rng.random() * 12 * 3600)
        self._snapshot: Optional[Snapshot] = None

    # --- set-up ------------------------------------------------------------------------
    @staticmethod
    def _make_games(count: int) -> list[Game]:
        games = [Game(*g) for g in KNOWN_GAMES[:count]]
        for i in range(len(games), count):
            games.append(Game(str(600_000 + i), f"Simulated Game {i:04d}"))
        return games

    @staticmethod
    def _pick(rng: random.Random, values: Sequence, cum: Sequence[float]):
        return values[min(bisect.bisect(cum, rng.random() * cum[-1]), len(values) - 1)]

    def _go_live(self, c: _Channel, rng: random.Random, started: float) -> None:
        c.live, c.started, c.mult = True, started, 0.6 + rng.random() * 0.8
        c.started_s = rfc3339(started)
        self._next_stream += 1 + rng.randrange(50)
        c.stream_id = str(self._next_stream)
        c.game = 0 if c.base > 40_000 and rng.random() < 0.5 else \
            (-1 if rng.random() < 0.01 else self._pick(rng, range(len(self.games)), self._game_cum))
        c.tags = tuple(rng.sample(TAGS, rng.randrange(0, 4)))
        c.title = f"{c.name} live! day {rng.randrange(1, 999)}"

    # --- evolution ---------------------------------------------------------------------
    def _evolve(self, step: int) -> None:
        rng = random.Random(f"{self.seed}:step:{step}")
        t = step * self.step_seconds
        p_end = self.step_seconds / MEAN_BROADCAST_SECONDS
        offline, live = [], 0
        for c in self.channels:
            if not c.live:
                offline.append(c)
                continue
            if rng.random() < p_end or t - c.started >= MAX_BROADCAST_SECONDS:
                c.live = False
                continue
            live += 1
            c.mult = min(3.0, max(0.3, c.mult * math.exp(rng.gauss(0.0, 0.06))))
            if rng.random() < 0.002:
                c.game = self._pick(rng, range(len(self.games)), self._game_cum)
        for c in rng.sample(offline, max(0, min(len(offline), self.target - live))):
            self._go_live(c, rng, t - rng.random() * self.step_seconds)

    def snapshot(self, t: float) -> Snapshot:
        """The population at simulated time t (evolving forward as needed; never backward)."""
        with self._lock:
            step = self.step if self.frozen else max(self.step, int(t // self.step_seconds))
            if step > self.step:
                for s in range(max(self.step + 1, step - 60), step + 1):  # a long gap is not replayed
                    self._evolve(s)
                self.step = step
                self._snapshot = None
            if self._snapshot is None:
                self._snapshot = self._build(step)
            return self._snapshot

    def _build(self, step: int) -> Snapshot:
        t, t_end = step * self.step_seconds, (step + 1) * self.step_seconds
        active = [s for s in self.spikes if s.start < t_end and s.end > t]  # overlaps this step
        channel_spike = {s.user_login: s.viewers for s in active if s.user_login}
        game_spike = {s.game_id: s.viewers for s in active if s.game_id}
        rows = []
        for c in self.channels:
            if not c.live and c.login not in channel_spike:
                continue
            if not c.live:  # a spike makes an offline channel go live
                self._go_live(c, random.Random(f"{self.seed}:spike:{c.login}:{step}"), t)
            game = self.games[c.game] if c.game >= 0 else Game("", "")
            viewers = channel_spike.get(c.login, int(c.base * c.mult))
            rows.append([viewers, c.stream_id, c.user_id, c.login, c.name, game.id, game.name,
                         c.title, c.language, c.started_s, c.tags, c.mature])
        for game_id, target in game_spike.items():
            members = [r for r in rows if r[GAME_ID] == game_id]
            total = sum(r[V] for r in members)
            if members and total < target:
                factor = target / max(total, 1)
                for r in members:
                    r[V] = int(r[V] * factor) if total else target // len(members)
        frozen_rows = [tuple(r) for r in rows]
        frozen_rows.sort(key=lambda r: (-r[V], r[STREAM_ID]))
        return Snapshot(step, t, frozen_rows)

    # --- scripted spikes and games -------------------------------------------------------
    def add_spike(self, viewers: int, start: float, duration: float, user_login: str = "",
                  game_id: str = "", game_name: str = "") -> Spike:
        if game_name and not game_id:
            game = self.game_by_name(game_name)
            if game is None:
                raise KeyError(f"unknown game {game_name!r}")
            game_id = game.id
        if user_login and user_login not in self.by_login:
            raise KeyError(f"unknown channel {user_login!r}")
        if not user_login and not game_id:
            raise KeyError("a spike needs user_login, game_id or game_name")
        spike = Spike(int(viewers), start, start + duration, user_login, game_id)
        with self._lock:
            self.spikes.append(spike)
            self._snapshot = None
        return spike

    def game_by_name(self, name: str) -> Optional[Game]:
        lowered = name.casefold()
        return next((g for g in self.games if g.name.casefold() == lowered), None)

    def find_games(self, ids: Iterable[str], names: Iterable[str]) -> list[Game]:
        found = [self.games[self._game_index[i]] for i in ids if i in self._game_index]
        found += [g for g in (self.game_by_name(n) for n in names) if g is not None]
        return found
