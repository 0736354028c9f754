"""The analytics models (DESIGN §10): `twitch-pulse models` runs the dbt project in `dbt/` with
the project's own settings. dbt lives in a virtualenv of its own and runs as a child process,
so its pins never meet the workers' dependencies."""
