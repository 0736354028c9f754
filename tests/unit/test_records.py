"""Each output record is declared once (`pulse.outputs`); its topic, table spec and DDL derive
from or must agree with that declaration (issue 22)."""

from __future__ import annotations

import re

import msgspec
import pytest

from pulse import outputs, topics
from sinks import tables
from sinks.snowflake.schema import migrations
from sinks.writers import table_row

# Snowflake's names of the column kinds (both INTEGER and BIGINT are NUMBER(38,0) there)
DDL_KINDS = {"TIMESTAMP_NTZ": tables.Kind.TIMESTAMP, "VARCHAR": tables.Kind.STRING, "DOUBLE": tables.Kind.FLOAT,
             "BIGINT": tables.Kind.INT, "INTEGER": tables.Kind.INT, "BOOLEAN": tables.Kind.BOOL}
POSITION = ["KAFKA_PARTITION", "KAFKA_OFFSET", "INGESTED_AT"]


def ddl_columns() -> dict[str, list[tuple[str, str]]]:
    """Every table's columns after all migrations: CREATE TABLE, then ALTER TABLE ... ADD COLUMN."""
    found: dict[str, list[tuple[str, str]]] = {}
    for migration in migrations():
        for statement in migration.statements:
            created = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", statement, re.S)
            if created:
                found[created.group(1)] = [tuple(line.split()[:2]) for line in created.group(2).split(",\n")
                                           if line.strip()]
            added = re.match(r"ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+) (\w+)", statement)
            if added:
                found[added.group(1)].append((added.group(2), added.group(3)))
    return found


@pytest.mark.parametrize("spec", tables.SPECS, ids=lambda spec: spec.table)
def test_the_ddl_of_every_table_is_its_record_upper_cased(spec: tables.TableSpec) -> None:
    columns = ddl_columns()[spec.table]
    assert [name for name, _ in columns] == [c.name for c in spec.columns] + POSITION
    assert [DDL_KINDS[kind] for _, kind in columns[:len(spec.columns)]] == [c.kind for c in spec.columns]


def test_every_window_topic_has_a_record_and_a_table() -> None:
    assert {record.TOPIC for record in outputs.WINDOW_RECORDS} == set(topics.WINDOW_TOPICS)
    assert set(tables.BY_TOPIC) == {*topics.WINDOW_TOPICS, topics.ALERTS}
    for record in outputs.RECORDS:
        assert set(record.KEY) <= set(record.__struct_fields__), record.TABLE


def test_a_record_goes_through_its_topic_and_back_unchanged() -> None:
    row = outputs.StreamWindow(
        window_start="2026-01-01T00:00:00.000Z", window_end="2026-01-01T00:10:00.000Z", stream_id="s1",
        user_id="1", user_login="a", user_name="A", started_at="2025-12-31T23:00:00.000Z", game_id="g",
        game_name="G", games=1, title="t", language="en", is_mature=True, watch_hours=1.5, air_hours=0.25,
        peak_viewers=9, peak_at="2026-01-01T00:01:00.000Z", first_seen="2026-01-01T00:00:00.000Z",
        last_seen="2026-01-01T00:09:00.000Z", samples=10)
    assert outputs.decoder(outputs.StreamWindow).decode(outputs.encode(row)) == row
    assert outputs.key_of(row) == "2026-01-01T00:00:00.000Z|s1"
    assert tables.STREAM_WINDOWS.columns[tables.STREAM_WINDOWS.fields.index("is_mature")].kind is tables.Kind.BOOL
    with pytest.raises(msgspec.ValidationError):
        outputs.decoder(outputs.StreamWindow).decode(b'{"window_start": 1}')


def test_a_topic_value_becomes_its_row_in_column_order_with_timestamps_as_utc_text() -> None:
    value = outputs.encode(outputs.GameWindow(
        window_start="2026-01-01T00:00:00.000Z", window_end="2026-01-01T00:10:00.000Z", game_id="g",
        game_name="G", watch_hours=1.5, air_hours=0.25, avg_viewers=9.0, avg_channels=1.0, peak_viewers=9,
        peak_at="2026-01-01T01:01:00.5+01:00", peak_channels=1, unique_channels=1, new_streams=0, rank=1))
    spec = tables.GAME_WINDOWS
    row = table_row(spec, outputs.decoder(spec.record), value)
    assert row == ["2026-01-01 00:00:00.000", "2026-01-01 00:10:00.000", "g", "G", 1.5, 0.25, 9.0, 1.0, 9,
                   "2026-01-01 00:01:00.500", 1, 1, 0, 1]
    assert len(row) == len(spec.fields)


@pytest.mark.parametrize("value", [b'{"window_start": 1}', b"not json", {"a": 1},
                                   outputs.encode(outputs.GameWindow(
                                       window_start="yesterday", window_end="2026-01-01T00:10:00.000Z",
                                       game_id="g", game_name="G", watch_hours=1.5, air_hours=0.25, avg_viewers=9.0,
                                       avg_channels=1.0, peak_viewers=9, peak_at="2026-01-01T00:01:00.000Z",
                                       peak_channels=1, unique_channels=1, new_streams=0, rank=1))],
                         ids=["wrong type", "not JSON", "not bytes", "not a timestamp"])
def test_a_value_that_is_not_a_record_has_no_row(value: object) -> None:
    spec = tables.GAME_WINDOWS
    assert table_row(spec, outputs.decoder(spec.record), value) is None
