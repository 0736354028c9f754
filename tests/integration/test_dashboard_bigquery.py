"""The dashboard on BigQuery (issue 23): the same pages, rendered by Streamlit's AppTest against
the real bqemulator server over HTTP, show the same numbers as on Snowflake
(tests/integration/test_dashboard.py) for the same rows, seeded through the BigQuery DB-API with
the statements transpiled by `sinks.dialect`. dbt runs on Snowflake only, so the dbt model parts
say they are not built yet; the platform rollups are the BigQuery schema's own views."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from dashboard import queries as q
from dashboard import ui
from dashboard.format import duration, human, viewers
from pulse.settings import Settings, load_settings
from sinks.bigquery import BIGQUERY
from tests import dashboard_support as data
from tests.conftest import RUN_DIR, RUN_ID, _clean_env
from tests.dashboard_support import cards, charts, link, named_to_the_app, open_page, tables, texts
from tests.warehouse_template import ensure_template


class Transpiling:
    """A cursor that runs the seed's Snowflake statements on BigQuery: each row is one
    statement, transpiled and typed as the dashboard does it (`queries.statement`)."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self.cur.execute(*q.statement(sql, row, "bigquery"))

    def close(self) -> None:
        self.cur.close()


class Seeding:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def cursor(self) -> Transpiling:
        return Transpiling(self.conn.cursor())


def seed_dataset(settings: Settings) -> None:
    """The dashboard's seed in a new dataset, bootstrapped as the sinks do."""
    conn = BIGQUERY.connect(settings)
    BIGQUERY.bootstrap(conn)
    data.seed(Seeding(conn))
    conn.close()


@pytest.fixture(scope="session")
def seeded_once(bigquery_server, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One seeded dataset for the whole run (these tests only read it): the seed goes through
    the emulator statement by statement, 17-23 s a time, and each pytest-xdist worker seeded
    its own copy. Dropped at the run's end (`tests.warehouse_template.drop_templates`)."""
    run, tmp = os.environ[RUN_ID][:10], tmp_path_factory.mktemp("bq")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_env(monkeypatch, tmp)
        settings = load_settings(warehouse="bigquery", bigquery_port=bigquery_server.port,
                                 bigquery_dataset=f"tpl_dashboard_{run}", state_dir=tmp / "state", metrics_port=0)
    return ensure_template(RUN_DIR, "bq-dashboard", settings, seed_dataset)


@pytest.fixture
def seeded(seeded_once: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield from named_to_the_app(seeded_once, monkeypatch)


@pytest.fixture
def no_tables(bq_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield from named_to_the_app(bq_settings, monkeypatch)


def complete(rows: list[tuple]) -> list[tuple]:
    return [r for r in rows if r[0] != data.W2]


def test_overview_on_bigquery(seeded: Settings) -> None:
    at = open_page("views/overview.py")
    data.check_latest_window_cards(at)
    w1 = sorted((g for g in data.GAMES if g[0] == data.W1), key=lambda g: g[-1])
    games, channels = tables(at)[:2]
    assert [(r["#"].text, r["Game"].text, r["Watch hours"].text) for r in games] == [
        (str(g[-1]), g[2], human(g[3])) for g in w1]
    assert [r["Change"].text for r in games] == ["▲1", "▼1", "new"]  # ranks in W0: 2, 1, absent
    assert [r["Change"].text for r in channels] == ["▲1", "▼1", "new", "new"]
    # the window still being written stays out, as on Snowflake
    assert "the window of 12:20 (1 channel row and 2 game rows so far)" in texts(at.markdown) + texts(at.caption) \
        + texts(at.info) + texts(at.warning)
    drawn = charts(at)
    assert sorted(drawn["Concurrent viewers per window"].data["T"].dt.strftime("%H:%M")) == ["12:00", "12:10"]
    # platform totals from BigQuery's PLATFORM_HOURLY/DAILY views
    total = human(sum(c[6] for c in complete(data.CHANNELS)))
    assert cards(at)["Watch hours in range"] == total
    assert cards(at)["Most channels live in an hour"] == "5"
    assert cards(at)["Hours streamed in range"] == duration(7 / 6)
    at.radio(key="grain").set_value("daily").run()
    assert not at.exception
    assert cards(at)["Watch hours in range"] == total
    assert cards(at)["Most channels live in a day"] == "5"
    # dbt builds its models on Snowflake only: the language split says it is not built
    assert ui.NOT_BUILT.format(model="language_daily") in texts(at.info)
    assert f"({q.current_source().where})" in texts(at.sidebar.caption)
    assert "BigQuery emulator at 127.0.0.1:" in texts(at.sidebar.caption)


def test_top_five_games_over_time_on_bigquery(seeded: Settings) -> None:
    top = charts(open_page("views/overview.py"))["Average viewers"].data
    assert data.games_over_time(top) == data.expected_games_over_time()


def test_game_page_on_bigquery(seeded: Settings) -> None:
    at = open_page("views/game.py", game="509658")
    rows_ = [g for g in complete(data.GAMES) if g[1] == "509658"]
    shown = cards(at)
    assert shown["Watch hours"] == human(sum(g[3] for g in rows_))
    assert shown["Peak viewers"] == viewers(max(g[5] for g in rows_))
    assert shown["Hours streamed"] == duration(sum(g[6] for g in rows_) / 6)
    assert shown["Best rank"] == "#1"
    assert at.selectbox(key="game_window").value == data.W1  # the latest complete window
    expected = [t for t in data.TOP_CHANNELS if t[0] == data.W1]
    assert [(r["#"].text, r["Channel"], r["Watch hours"].text) for r in tables(at)[0]] == [
        (str(t[3]), link(t[6], "channel", "channel", t[4]), human(t[7])) for t in expected]
    at.selectbox(key="game_window").set_value(data.W0).run()
    assert [r["Channel"].text for r in tables(at)[0]] == ["KaiCenat", "xQc"]
    searched = open_page("views/game.py")
    searched.text_input(key="game_search").set_value("LEAGUE").run()
    assert not searched.exception
    assert searched.selectbox(key="game_pick_21779").value == "21779"


def test_channel_page_on_bigquery(seeded: Settings) -> None:
    at = open_page("views/channel.py", channel="u1")
    history = [c for c in complete(data.CHANNELS) if c[1] == "u1"]
    watch = sum(c[6] for c in history)
    shown = cards(at)
    assert shown["Watch hours"] == human(watch)
    assert shown["Hours streamed"] == "20 min"
    assert shown["Best global rank"] == "#1"
    assert [(r["Game"], r["Watch hours"].text) for r in tables(at)[0]] == [
        (link("Just Chatting", "game", "game", "509658"), human(watch))]
    assert ui.NOT_BUILT.format(model="broadcasts") in texts(at.info)


def test_alerts_page_on_bigquery(seeded: Settings) -> None:
    at = open_page("views/alerts.py")
    assert cards(at)["Alerts"] == "2"
    rows = tables(at)[0]
    assert [r["Who"] for r in rows] == [link("Fortnite", "game", "game", "33214"),
                                        link("KaiCenat", "channel", "channel", "u1")]
    assert [r["Viewers"].text for r in rows] == [viewers(310000), viewers(52000)]


def test_rankings_say_dbt_has_not_built_them_on_bigquery(seeded: Settings) -> None:
    at = open_page("views/rankings.py")
    assert ui.NOT_BUILT.format(model="game_daily") in texts(at.info)
    assert not at.error


def test_missing_tables_on_bigquery(no_tables: Settings) -> None:
    """A dataset that does not exist yet (the dashboard creates nothing): the sinks will."""
    at = open_page("views/overview.py")
    assert ui.NO_TABLES in texts(at.info)


def test_unreachable_bigquery_is_a_sentence(no_tables: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.service import free_port

    port = free_port()
    monkeypatch.setenv("BIGQUERY_PORT", str(port))
    at = open_page("views/alerts.py")
    assert f"The warehouse (BigQuery emulator at 127.0.0.1:{port}) does not answer" in texts(at.error)


def test_local_pipeline_serves_the_dashboard_on_bigquery(bq_settings: Settings, tmp_path: Path) -> None:
    """`twitch-pulse run --warehouse bigquery`'s wiring: the dashboard worker starts, names the
    dataset it reads, and its script runs whole against the emulator (Streamlit's script health
    check runs the app once, as the warm-up does)."""
    import urllib.request

    from devstack.pipeline import LocalPipeline
    from devstack.service import free_port
    from tests.dashboard_support import healthy

    conn = BIGQUERY.connect(bq_settings)
    BIGQUERY.bootstrap(conn)
    data.seed(Seeding(conn))
    conn.close()
    pipeline = LocalPipeline(bq_settings, tmp_path, dashboard_port=free_port())
    try:
        pipeline.start(only=["dashboard"])
        assert pipeline.dashboard_url is not None and healthy(pipeline.dashboard_url)
        with urllib.request.urlopen(f"{pipeline.dashboard_url}/_stcore/script-health-check", timeout=60) as answer:
            assert answer.status == 200 and b"ok" in answer.read()
    finally:
        codes = pipeline.stop()
    assert codes == {"dashboard": 0}
    log = (pipeline.log_dir / "dashboard.log").read_text()
    assert f"reading BigQuery dataset {bq_settings.bigquery.dataset} (local bqemulator 127.0.0.1:" in log
