# One image for every Twitch Pulse worker: `docker run IMAGE producer|processor|sink raw|...`.
# Multi-stage: dependencies are installed into a virtualenv in the build stage; the runtime
# stage is python slim with that virtualenv only (no compiler, no pip cache), as a non-root user.
# The build stage has a C compiler, so setup.py compiles the processor's hot path with mypyc.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (cached until pyproject.toml changes), then the code.
COPY pyproject.toml setup.py README.md ./
RUN mkdir -p pulse producers processors sinks devstack dashboard analytics \
 && for p in pulse producers processors sinks devstack dashboard analytics; do touch $p/__init__.py; done \
 && PULSE_PURE_PYTHON=1 pip install . && pip uninstall -y twitch-pulse
COPY pulse ./pulse
COPY producers ./producers
COPY processors ./processors
COPY sinks ./sinks
COPY devstack ./devstack
COPY dashboard ./dashboard
COPY analytics ./analytics
RUN pip install --no-deps . && python -c "import pulse.cli, producers.cli, processors.cli, sinks.cli, dashboard.cli, analytics.cli" \
 && python -c "import processors.chunk_stage as m; assert m.__file__.endswith('.so'), 'hot path not compiled'"

# dbt for `twitch-pulse models build` (the analytics models, dbt/) in a virtualenv of its own, so
# its pins never meet the workers'; the CLI runs it as a child process (DBT_EXECUTABLE below).
FROM ${PYTHON_IMAGE} AS dbt
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY dbt/requirements.txt /tmp/dbt-requirements.txt
RUN python -m venv /opt/dbt && /opt/dbt/bin/pip install -r /tmp/dbt-requirements.txt \
 && /opt/dbt/bin/dbt --version

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 pulse \
 && useradd --system --uid 10001 --gid pulse --home-dir /app --shell /usr/sbin/nologin pulse \
 && mkdir -p /app/state && chown -R pulse:pulse /app
COPY --from=build /opt/venv /opt/venv
COPY --from=dbt /opt/dbt /opt/dbt
COPY dbt /app/dbt
ENV PATH=/opt/venv/bin:$PATH \
    DBT_EXECUTABLE=/opt/dbt/bin/dbt \
    DBT_PROJECT_DIR=/app/dbt \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATE_DIR=/app/state \
    METRICS_PORT=9108
WORKDIR /app
USER 10001:10001
EXPOSE 9108
# /healthz answers 200 while the worker is healthy, 503 with the reason otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '9108'), timeout=4)"
# SIGTERM goes straight to the worker (exec form, no shell): it finishes its batch and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["twitch-pulse"]
CMD ["--help"]
