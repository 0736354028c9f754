"""One `connect()` for BigQuery, chosen from settings alone: real BigQuery with a
service-account key (a file or its JSON content) or Application Default Credentials, or the
local bqemulator server (anonymous credentials, REST at BIGQUERY_HOST:BIGQUERY_PORT).

The connection is google-cloud-bigquery's DB-API connection whose cursors also carry the
client and the dataset, for what DB-API cannot do (load jobs, scripts). Every query runs with
the dataset as its default dataset, so SQL names tables unqualified, as on Snowflake.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.cloud.bigquery import dbapi
from google.cloud.bigquery.dbapi import _helpers as dbapi_helpers
from google.cloud.exceptions import GoogleCloudError
from google.oauth2 import service_account

from pulse.settings import ConfigError, Settings

LOCAL_PROJECT = "twitch-pulse-local"  # the emulator's project id when BIGQUERY_PROJECT is empty
SCOPES = ("https://www.googleapis.com/auth/bigquery",)


def project(settings: Settings) -> str:
    return settings.bigquery.project or LOCAL_PROJECT


def dataset_id(settings: Settings) -> str:
    """`project.dataset`, the default dataset of every query."""
    return f"{project(settings)}.{settings.bigquery.dataset}"


def credentials(settings: Settings) -> Optional[Credentials]:
    """The key's credentials, anonymous ones for the emulator, or None for ADC (the client finds them)."""
    if settings.bigquery.uses_local:
        return AnonymousCredentials()
    raw = settings.bigquery.credentials_json.get_secret_value()
    if raw:
        try:
            info = json.loads(raw)
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError):
            # the message names the variable, never the content
            raise ConfigError("BIGQUERY_CREDENTIALS_JSON: not a service-account key (JSON with "
                              "client_email, private_key, token_uri)") from None
    path = settings.bigquery.credentials_file
    if path is not None:
        try:
            return service_account.Credentials.from_service_account_file(str(path), scopes=SCOPES)
        except OSError as exc:
            raise ConfigError(f"BIGQUERY_CREDENTIALS_FILE: cannot read {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"BIGQUERY_CREDENTIALS_FILE: {path} is not a service-account key file") from None
    return None


def client(settings: Settings) -> bigquery.Client:
    """A client whose queries default to the dataset (no network call yet)."""
    options = None
    if settings.bigquery.uses_local:
        options = ClientOptions(api_endpoint=f"http://{settings.bigquery.host}:{settings.bigquery.port}")
    try:
        made = bigquery.Client(
            project=project(settings), credentials=credentials(settings), location=settings.bigquery.location,
            client_options=options,
            default_query_job_config=bigquery.QueryJobConfig(default_dataset=dataset_id(settings)),
        )
    except ConfigError:
        raise
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError: no ADC on this machine
        if type(exc).__name__ == "DefaultCredentialsError":
            raise ConfigError("BigQuery credentials: set BIGQUERY_CREDENTIALS_FILE (or GOOGLE_APPLICATION_CREDENTIALS), "
                              "BIGQUERY_CREDENTIALS_JSON, or log in with `gcloud auth application-default login`") from None
        raise
    return made


class Cursor(dbapi.Cursor):
    """A DB-API cursor that also hands out the client, the dataset and the timeout.

    Queries go through `jobs.insert` (`Client.query`), never the stateless `jobs.query` the
    DB-API uses by default: bqemulator 1.4.0 answers a failing `jobs.query` (a missing table,
    a syntax error) with an empty result instead of the error.
    """

    def close(self) -> None:
        """Idempotent, as the sinks expect: closing the connection has closed it already."""
        if not self._closed:
            super().close()

    def _execute(self, formatted_operation: str, parameters: Any, job_id: Any, job_config: Any,
                 parameter_types: Any) -> None:
        self._query_data = None
        self._query_results = None
        config = job_config or bigquery.QueryJobConfig()
        config.query_parameters = dbapi_helpers.to_query_parameters(parameters, parameter_types)
        try:
            rows = self.client.query(formatted_operation, job_config=config, job_id=job_id, timeout=self.timeout,
                                     retry=self.retry, job_retry=None).result(
                page_size=self.arraysize, timeout=self.timeout, retry=self.retry)
        except GoogleCloudError as exc:
            raise dbapi.DatabaseError(exc) from exc
        self._query_rows = rows
        self._set_description(rows.schema)
        self._set_rowcount(rows)

    @property
    def client(self) -> bigquery.Client:
        return self.connection._client

    @property
    def dataset(self) -> str:
        return self.connection.dataset

    @property
    def timeout(self) -> float:
        return self.connection.timeout

    @property
    def retry(self) -> Any:
        return self.connection.retry


class Connection(dbapi.Connection):
    def __init__(self, made: bigquery.Client, dataset: str, timeout: float) -> None:
        # small result sets only: rows come back over REST, not the Storage Read API
        super().__init__(made, prefer_bqstorage_client=False)
        self.dataset = dataset
        self.timeout = timeout
        # the client's own retries give up within the timeout (its default keeps at it for 10
        # minutes); the sink then backs off and Quix replays the batch
        self.retry = bigquery.DEFAULT_RETRY.with_deadline(timeout)

    def cursor(self) -> Cursor:  # type: ignore[override]
        cur = Cursor(self)
        self._cursors_created.add(cur)
        return cur


def connect(settings: Settings, with_schema: bool = True) -> Connection:
    """Open a connection; with the schema, its dataset is created first when missing
    (the local emulator always; real BigQuery when the credentials may create datasets)."""
    made = client(settings)
    conn = Connection(made, dataset_id(settings), float(settings.bigquery.timeout))
    if with_schema:
        try:  # a role with rights on the dataset alone may read it but not create datasets
            made.get_dataset(dataset_id(settings), timeout=conn.timeout, retry=conn.retry)
        except NotFound:
            dataset = bigquery.Dataset(dataset_id(settings))
            dataset.location = settings.bigquery.location
            made.create_dataset(dataset, exists_ok=True, timeout=conn.timeout, retry=conn.retry)
    return conn
