"""State written by the processor before state format 2 is read once and carried on exactly
(issue 22): `tests/fixtures/state_v1/` holds the three stages' RocksDB store partitions as the
processor of main@a4c51c1 left them mid-scenario (`tests/fixtures/make_state_v1.py`), with the
rows it had emitted. Today's stage code opens those directories and plays the rest of the
scenario: GAME_WINDOWS, CHANNEL_WINDOWS and GAME_TOP_CHANNELS, before and after, equal the
DuckDB reference; STREAM_WINDOWS and LANGUAGE_WINDOWS equal it for every window that opened
after the upgrade, and the window open during it has none; the old state keys are gone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import msgspec
from quixstreams.state.rocksdb import RocksDBStorePartition

from processors.chunk_handler import handle_chunk, key_state_cache
from processors.game_surge import count_key, game_key, on_game_poll, report_key
from processors.merge_stage import on_partial
from processors.records import GameAtPoll, GamePoll, encode
from processors.routing import DLQ, GAME_POLLS, PARTIALS
from pulse.events import format_ts
from tests import reference
from tests.reference import assert_rows_equal
from tests.rocksdb_driver import RocksDBDriver
from tests.scenario import CFG, I_S, TOP_N, W_S, build, messages
from tests.stage_driver import DictState

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "state_v1"


def state_names(store: RocksDBStorePartition) -> set[str]:
    """The state keys (without the message-key prefix) a store partition holds."""
    names = set()
    for key, _ in store.iter_items(lower_bound=b""):
        _, _, name = key.partition(b"|")
        try:
            names.add(json.loads(name))
        except ValueError:
            continue  # Quix's own bookkeeping
    return names


def test_format_1_state_on_disk_is_read_once_and_the_windows_stay_exact(tmp_path: Path) -> None:
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    root = tmp_path / "state"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("manifest.json"))
    driver = RocksDBDriver(root, handle_chunk, on_partial, on_game_poll,
                           {"partials": PARTIALS, "game_polls": GAME_POLLS, "dlq": DLQ},
                           key_state_cache(CFG, journal_limit=4), CFG, msgspec.to_builtins)
    keys, chunk_streams = manifest["keys"], manifest["chunk_streams"]
    sc = build()
    for m in messages(sc.actions[manifest["cut"]:], keys, chunk_streams):
        driver.send(m.value, m.key, m.timestamp)
    stage1 = state_names(driver.stores["stage1"])
    driver.close()

    expected = reference.compute(sc.events, W_S, I_S, TOP_N, late=sc.late)
    for name in ("games", "channels", "top_channels"):
        before, after = manifest["rows"].get(name, {}), driver.rows.get(name, {})
        assert not set(before) & set(after), f"{name}: a row emitted twice across the upgrade"
        assert_rows_equal(expected[name], {**before, **after}, name)
    upgraded_at = sc.actions[manifest["cut"] - 1][1]  # the last poll the format 1 processor saw
    open_window = format_ts(upgraded_at - upgraded_at % (W_S * 1000))
    for name in ("streams", "languages"):
        later = {key: row for key, row in expected[name].items() if row["window_start"] > open_window}
        assert later and driver.rows[name] and set(driver.rows[name]) == set(later)
        assert_rows_equal(later, driver.rows[name], name)
    assert "version" in stage1 and not {name for name in stage1 if re.fullmatch(r"v|s\d+|j\d+", str(name))}


def test_game_surge_progress_in_one_record_is_read_once_and_the_poll_completes() -> None:
    """Stage 3 kept every pending poll's keys in one `progress` record before issue 25: a poll
    half reported under it completes under today's keys, with every key's totals counted once."""
    t = 1_700_000_400_000
    first = encode(GamePoll(t, 0, 2, [GameAtPoll("g9", "Spiky", 400)]))
    state = DictState()
    state.set("progress", {"through": None, "pending": {str(t): [0]}})
    state.set_bytes(report_key(t, 0), first)
    again = on_game_poll(CFG, first, state)  # key 0's report delivered twice counts once
    assert again == [] and state.get("progress") is None and state.get(count_key(t)) == 1
    on_game_poll(CFG, encode(GamePoll(t, 1, 2, [GameAtPoll("g9", "Spiky", 600)])), state)
    assert state.get("through") == t and state.get("polls") == []
    assert state.get(game_key("g9"))["history"] == [t, 1_000]
    assert not [name for name in state.data if name.startswith(("report/", "count/"))]
