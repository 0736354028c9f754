"""The Helix simulator itself: a realistic, seeded population behind real Twitch HTTP semantics."""

from __future__ import annotations

import statistics
from collections import Counter

import httpx
import pytest

from devstack.population import Population
from devstack.simulator import SimulatorConfig, SimulatorServer
from pulse.clock import CLOCK_HEADER, Clock, ManualClock

T0 = 1_700_000_000.0


def test_population_shape_is_heavy_tailed_and_seeded():
    pop = Population(channels=6000, games=2500, seed=4, start=T0)
    snap = pop.snapshot(T0)
    viewers = [r[0] for r in snap.rows]
    assert len(snap.rows) == 6000
    assert viewers == sorted(viewers, reverse=True)  # Helix order
    assert statistics.median(viewers) < 10 and sum(v > 50_000 for v in viewers) >= 3
    games = Counter(r[6] for r in snap.rows)
    top, runner_up = games.most_common(2)
    assert top[0] == "Just Chatting" and top[1] > 1.5 * runner_up[1] and len(games) > 500
    assert len({r[8] for r in snap.rows}) > 20  # languages
    again = Population(channels=6000, games=2500, seed=4, start=T0).snapshot(T0)
    assert again.rows == snap.rows


def test_streams_end_start_with_new_ids_and_viewers_drift():
    pop = Population(channels=3000, seed=2, start=T0)
    first = {r[2]: r for r in pop.snapshot(T0).rows}  # by user id
    later = {r[2]: r for r in pop.snapshot(T0 + 6 * 3600).rows}
    assert 2500 < len(later) <= 3000
    ended = set(first) - set(later)
    started = set(later) - set(first)
    assert ended and started
    restarted = [u for u in set(first) & set(later) if first[u][1] != later[u][1]]
    stayed = [u for u in set(first) & set(later) if first[u][1] == later[u][1]]
    assert restarted  # offline and back: a new stream id
    assert any(first[u][0] != later[u][0] for u in stayed)  # viewers drift
    assert any(first[u][5] != later[u][5] for u in stayed)  # game switches


def test_http_api_speaks_twitch_with_rate_limit_headers_and_clock():
    clock = ManualClock(T0)
    with SimulatorServer(SimulatorConfig(channels=300, rate_limit=3, speed=1.0), clock) as sim:
        token = httpx.post(f"{sim.auth_url}/token", data={"client_id": "a", "client_secret": "b",
                                                           "grant_type": "client_credentials"}).json()
        assert token["token_type"] == "bearer" and token["expires_in"] > 0
        auth = {"Authorization": f"Bearer {token['access_token']}", "Client-Id": "a"}
        valid = httpx.get(f"{sim.auth_url}/validate", headers={"Authorization": f"OAuth {token['access_token']}"})
        assert valid.json()["client_id"] == "a"
        seen = []
        for _ in range(4):
            resp = httpx.get(f"{sim.api_url}/streams", params={"first": 100}, headers=auth)
            seen.append((resp.status_code, resp.headers["Ratelimit-Remaining"]))
        assert seen == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]
        assert int(resp.headers["Ratelimit-Reset"]) > T0 and resp.json()["message"] == "Too Many Requests"
        clock.advance(60)  # the bucket refills
        ok = httpx.get(f"{sim.api_url}/streams", params={"first": 5}, headers=auth)
        assert ok.status_code == 200 and len(ok.json()["data"]) == 5 and ok.json()["pagination"]["cursor"]
        assert CLOCK_HEADER in ok.headers
        assert httpx.get(f"{sim.api_url}/streams", headers={"Client-Id": "a"}).status_code == 401
        bad = httpx.get(f"{sim.api_url}/streams", params={"after": "garbage"}, headers=auth)
        assert bad.status_code in (400, 429)


def test_scripted_spike_via_admin_endpoint():
    clock = ManualClock(T0)
    with SimulatorServer(SimulatorConfig(channels=500, seed=9), clock) as sim:
        quiet = sim.helix.live_streams()[-1]
        resp = httpx.post(f"{sim.url}/admin/spike", json={"user_login": quiet["user_login"], "viewers": 75_000,
                                                          "at": T0 + 120, "duration_seconds": 300})
        assert resp.status_code == 200
        def viewers_of(login):
            streams = sim.helix.live_streams()
            return next(s["viewer_count"] for s in streams if s["user_login"] == login), streams

        assert viewers_of(quiet["user_login"])[0] < 75_000  # not yet
        clock.advance(150)
        viewers, streams = viewers_of(quiet["user_login"])
        assert viewers == 75_000 and [s["viewer_count"] for s in streams] == sorted(
            (s["viewer_count"] for s in streams), reverse=True)
        resp = httpx.post(f"{sim.url}/admin/spike", json={"game_name": "Minecraft", "viewers": 500_000})
        assert resp.status_code == 200
        total = sum(s["viewer_count"] for s in sim.helix.live_streams() if s["game_name"] == "Minecraft")
        assert total >= 499_000
        clock.advance(600)
        assert viewers_of(quiet["user_login"])[0] < 75_000  # the spike is over
        assert httpx.post(f"{sim.url}/admin/spike", json={"user_login": "nobody", "viewers": 1}).status_code == 400


def test_clock_adoption_and_grid():
    sim_clock = Clock(speed=60.0)
    producer_clock = Clock(speed=60.0)
    assert producer_clock.adopt(sim_clock.header())
    assert abs(producer_clock.now() - sim_clock.now()) < 1.0
    assert not Clock(speed=1.0).adopt(sim_clock.header())  # real time never adopts
    assert not Clock(speed=60.0, anchor=T0).adopt(sim_clock.header())  # an explicit anchor wins
    with pytest.raises(ValueError):
        Clock(speed=0)
