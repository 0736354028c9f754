"""The Helix client and paginator against the simulator over real HTTP: every DESIGN §8 behaviour.

Each test freezes the simulator's population, switches one behaviour on, sweeps, and
asserts the exact stream set after de-duplication (the live set minus the streams the
simulator deliberately skipped by drift), plus that the behaviour really happened.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from devstack.simulator import Faults, SimulatorConfig, SimulatorServer
from producers.helix import AuthError, HelixClient
from producers.sweep import Query, dedupe, sweep
from pulse.clock import Clock
from tests.helix_support import metric

P = "twitch_pulse_producer_"


@pytest.fixture
def clock() -> Clock:
    # fast enough that a rate-limit wait lasts milliseconds; the population is frozen anyway
    return Clock(speed=600.0)


def start(clock: Clock, channels: int = 3000, **config) -> SimulatorServer:
    faults = config.pop("faults", Faults())
    return SimulatorServer(SimulatorConfig(channels=channels, frozen=True, seed=7, faults=faults, **config),
                           clock).start()


def client_for(sim: SimulatorServer, clock: Clock, client_id: str = "cid", secret: str = "csecret") -> HelixClient:
    return HelixClient(client_id, SecretStr(secret), sim.api_url, sim.auth_url, clock, backoff=0.01)


def run_sweep(sim, clock, queries=(Query(),), clients=None):
    clients = clients or [client_for(sim, clock)]
    result = sweep(clients, list(queries))
    events = dedupe(result.streams)
    return result, events, {e["stream_id"] for e in events.streams}


def truth(sim: SimulatorServer) -> set[str]:
    return {s["id"] for s in sim.helix.live_streams()} - sim.helix.missed


def test_plain_sweep_gets_every_live_stream_in_viewer_order(clock):
    sim = start(clock)
    try:
        result, events, ids = run_sweep(sim, clock)
        assert ids == truth(sim) and len(ids) == 3000
        assert result.complete and result.pages == 30 and events.duplicates == 0
        viewers = [e["viewer_count"] for e in events.streams]
        assert viewers == sorted(viewers, reverse=True)
    finally:
        sim.stop()


def test_page_drift_duplicates_are_dropped_and_misses_are_the_only_gap(clock):
    sim = start(clock, faults=Faults(drift=0.6))
    try:
        result, events, ids = run_sweep(sim, clock)
        assert sim.helix.stats["drift_duplicates"] > 0 and sim.helix.missed  # both kinds happened
        assert ids == truth(sim)
        assert events.duplicates == sim.helix.stats["drift_duplicates"]
        assert len(events.streams) == len(ids)  # each stream id once
        # the first occurrence (earlier page) is kept: positions follow the raw order
        raw_ids = [s["id"] for s in result.streams]
        assert [e["stream_id"] for e in events.streams] == list(dict.fromkeys(raw_ids))
    finally:
        sim.stop()


def test_loop_back_to_page_one_is_detected(clock):
    sim = start(clock, faults=Faults(loop_back=True))
    before = metric(P + "loop_backs_total")
    try:
        result, events, ids = run_sweep(sim, clock)
        assert ids == truth(sim) and events.duplicates == 0
        assert result.loop_backs == 1 and result.pages == 30 and result.complete
        assert metric(P + "loop_backs_total") == before + 1
    finally:
        sim.stop()


def test_ia_cursor_on_a_single_page_ends_the_chain(clock):
    sim = start(clock, faults=Faults(ia_cursor=True))
    try:
        logins = [s["user_login"] for s in sim.helix.live_streams()[:5]]
        requests_before = sim.helix.helix_requests
        result, events, ids = run_sweep(sim, clock, [Query(user_logins=tuple(logins))])
        assert {e["user_login"] for e in events.streams} == set(logins)
        assert result.pages == 1 and sim.helix.helix_requests == requests_before + 1
    finally:
        sim.stop()


def test_invalid_cursor_is_retried(clock):
    sim = start(clock, faults=Faults(invalid_cursor=0.4))
    before = metric(P + "invalid_cursor_total")
    try:
        result, _, ids = run_sweep(sim, clock)
        refused = sim.helix.stats["http_400"]
        assert refused > 0
        assert ids == truth(sim) and result.complete
        assert metric(P + "invalid_cursor_total") == before + refused
    finally:
        sim.stop()


def test_short_pages_and_an_empty_last_page(clock):
    sim = start(clock, faults=Faults(short_pages=0.4))
    try:
        result, events, ids = run_sweep(sim, clock)
        assert result.pages > 31  # cut pages plus the empty one behind the last cursor
        assert ids == truth(sim) and events.duplicates == 0 and result.complete
    finally:
        sim.stop()


def test_malformed_page_is_counted_and_the_rest_of_the_poll_kept(clock):
    sim = start(clock, faults=Faults(malformed=0.15))
    before = metric(P + "malformed_pages_total")
    try:
        result, _, ids = run_sweep(sim, clock)
        broken = sim.helix.stats["malformed"]
        assert broken > 0
        assert result.malformed_pages == broken and metric(P + "malformed_pages_total") == before + broken
        assert ids == truth(sim) and result.complete
    finally:
        sim.stop()


def test_malformed_stream_objects_are_counted_and_skipped():
    good = {"id": "1", "user_id": "10", "viewer_count": 5, "started_at": "2024-01-01T00:00:00Z"}
    events = dedupe([good, {"id": "2"}, "junk", {**good, "id": "3", "viewer_count": -1}, good])
    assert [e["stream_id"] for e in events.streams] == ["1"]
    assert events.malformed == 3 and events.duplicates == 1


def test_server_errors_are_retried_with_backoff(clock):
    sim = start(clock, faults=Faults(server_errors=0.2))
    try:
        result, _, ids = run_sweep(sim, clock)
        assert sim.helix.stats["http_503"] > 0
        assert ids == truth(sim) and result.complete
    finally:
        sim.stop()


def test_401_gets_a_new_token_and_the_sweep_completes(clock):
    sim = start(clock, faults=Faults(revoke_every=9))
    before = metric(P + "token_requests_total")
    try:
        result, _, ids = run_sweep(sim, clock)
        assert sim.helix.stats["http_401"] >= 3
        assert sim.helix.stats["token"] == 1 + sim.helix.stats["http_401"]
        assert metric(P + "token_requests_total") == before + sim.helix.stats["token"]
        assert ids == truth(sim) and result.complete
    finally:
        sim.stop()


def test_validate_with_an_expired_token_gets_a_new_one(clock):
    sim = start(clock)
    try:
        client = client_for(sim, clock)
        assert client.validate()["client_id"] == "cid"
        sim.helix.admin("POST", "/admin/revoke", {})
        client.validate()
        assert sim.helix.stats["token"] == 2
        assert client.validate()["client_id"] == "cid"
    finally:
        sim.stop()


def test_429_waits_until_the_reset_then_succeeds():
    # a slower clock than the other tests': at x600 the drained bucket earned a point back
    # (one per 2 simulated seconds, 3 ms) before the request arrived on a loaded machine
    clock = Clock(speed=10.0)
    sim = start(clock, rate_limit=30)
    before_429 = metric(P + "http_requests_total", endpoint="streams", status="429")
    try:
        client = client_for(sim, clock)
        client.validate()
        sim.helix.drain("cid")  # someone else spent the bucket
        result, _, ids = run_sweep(sim, clock, clients=[client])
        assert metric(P + "http_requests_total", endpoint="streams", status="429") == before_429 + 1
        assert ids == truth(sim) and result.complete
    finally:
        sim.stop()


def test_steady_polling_paces_itself_and_never_provokes_a_429(clock):
    sim = start(clock, rate_limit=12)  # 31 requests per sweep through a bucket of 12
    try:
        client = client_for(sim, clock)
        for _ in range(2):
            result, _, ids = run_sweep(sim, clock, clients=[client])
            assert ids == truth(sim) and result.complete
        assert sim.helix.stats["http_429"] == 0
        assert client.last_remaining is not None
    finally:
        sim.stop()


def test_filters_game_names_languages_and_logins(clock):
    sim = start(clock)
    try:
        client = client_for(sim, clock)
        games = client.games(names=["Age of Empires II: Definitive Edition", "Just Chatting", "No Such Game"])
        assert {g["name"]: g["id"] for g in games} == {"Age of Empires II: Definitive Edition": "13389",
                                                       "Just Chatting": "509658"}
        live = sim.helix.live_streams()
        _, _, ids = run_sweep(sim, clock, [Query(game_ids=("509658",))], [client])
        assert ids == {s["id"] for s in live if s["game_id"] == "509658"} and ids
        _, _, ids = run_sweep(sim, clock, [Query(languages=("de", "fr"))], [client])
        assert ids == {s["id"] for s in live if s["language"] in ("de", "fr")} and ids
        _, _, ids = run_sweep(sim, clock, [Query(game_ids=("509658",), languages=("en",))], [client])
        assert ids == {s["id"] for s in live if s["language"] == "en" and s["game_id"] == "509658"}
    finally:
        sim.stop()


def test_bad_credentials_raise_auth_error_without_the_secret(clock):
    sim = start(clock, clients={"cid": "right-secret"})
    try:
        with pytest.raises(AuthError) as err:
            client_for(sim, clock, secret="wrong-secret-xyz").validate()
        assert "wrong-secret-xyz" not in str(err.value) and "cid" in str(err.value)
        assert "wrong-secret-xyz" not in repr(client_for(sim, clock, secret="wrong-secret-xyz"))
    finally:
        sim.stop()
