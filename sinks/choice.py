"""Which warehouse the sinks, `bootstrap`, `prune`, `status` and the probe use: the setting
WAREHOUSE (snowflake, the default, or bigquery). Each warehouse package is imported only when
chosen, so a Snowflake deployment never loads Google's client libraries."""

from __future__ import annotations

from pulse.settings import Settings

from .warehouse import Warehouse


def chosen(settings: Settings) -> Warehouse:
    if settings.warehouse == "bigquery":
        from .bigquery import BIGQUERY

        return BIGQUERY
    from .snowflake import SNOWFLAKE

    return SNOWFLAKE


def where(settings: Settings) -> str:
    """The schema the sinks write to, for log lines and messages."""
    if settings.warehouse == "bigquery":
        from .bigquery.connection import dataset_id

        return f"BigQuery {dataset_id(settings)}"
    return f"{settings.snowflake.database}.{settings.snowflake.schema_name}"
