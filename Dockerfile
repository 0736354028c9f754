# Two images from one file, each a slim runtime with one virtualenv, as a non-root user:
#   docker build -t twitch-pulse .                                   every worker: `twitch-pulse producer|processor|sink raw|...`
#   docker build --target dashboard -t twitch-pulse-dashboard .      the viewership dashboard (Streamlit)
# A worker's virtualenv is `pip install .`: no Streamlit, pandas, pyarrow or Altair (~370 MB),
# which only the dashboard's (`.[dashboard]`) carries. The worker build stage has a C compiler,
# so setup.py compiles the processor's hot path with mypyc; the dashboard runs no hot path.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The sources, once: both builds copy from here (pyproject first, so dependencies stay cached
# until it changes).
FROM scratch AS source
COPY pyproject.toml setup.py README.md /src/
COPY pulse /src/pulse
COPY producers /src/producers
COPY processors /src/processors
COPY sinks /src/sinks
COPY devstack /src/devstack
COPY dashboard /src/dashboard
COPY analytics /src/analytics

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY --from=source /src/pyproject.toml /src/setup.py /src/README.md ./
RUN mkdir -p pulse producers processors sinks devstack dashboard analytics \
 && for p in pulse producers processors sinks devstack dashboard analytics; do touch $p/__init__.py; done \
 && PULSE_PURE_PYTHON=1 pip install . && pip uninstall -y twitch-pulse
COPY --from=source /src ./
RUN pip install --no-deps . && python -c "import pulse.cli, producers.cli, processors.cli, sinks.cli, dashboard.cli, analytics.cli" \
 && python -c "import processors.chunk_stage as m; assert m.__file__.endswith('.so'), 'hot path not compiled'" \
 && ! python -c "import streamlit" 2>/dev/null

FROM ${PYTHON_IMAGE} AS build-dashboard
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PULSE_PURE_PYTHON=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY --from=source /src/pyproject.toml /src/setup.py /src/README.md ./
RUN mkdir -p pulse producers processors sinks devstack dashboard analytics \
 && for p in pulse producers processors sinks devstack dashboard analytics; do touch $p/__init__.py; done \
 && pip install ".[dashboard]" && pip uninstall -y twitch-pulse
COPY --from=source /src ./
RUN pip install --no-deps . && python -c "import dashboard.cli, streamlit"

# dbt for `twitch-pulse models build` (the analytics models, dbt/) in a virtualenv of its own, so
# its pins never meet the workers'; the CLI runs it as a child process (DBT_EXECUTABLE below).
FROM ${PYTHON_IMAGE} AS dbt
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY dbt/requirements.txt /tmp/dbt-requirements.txt
RUN python -m venv /opt/dbt && /opt/dbt/bin/pip install -r /tmp/dbt-requirements.txt \
 && /opt/dbt/bin/dbt --version

# What both runtimes share: the user, the state directory, the environment.
FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 pulse \
 && useradd --system --uid 10001 --gid pulse --home-dir /app --shell /usr/sbin/nologin pulse \
 && mkdir -p /app/state && chown -R pulse:pulse /app
ENV PATH=/opt/venv/bin:$PATH \
    DBT_EXECUTABLE=/opt/dbt/bin/dbt \
    DBT_PROJECT_DIR=/app/dbt \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATE_DIR=/app/state \
    METRICS_PORT=9108
WORKDIR /app
# SIGTERM goes straight to the process (exec form, no shell).
STOPSIGNAL SIGTERM

FROM base AS dashboard
COPY --from=build-dashboard /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8501
# Streamlit's own health endpoint
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
ENTRYPOINT ["twitch-pulse", "dashboard"]
CMD ["--address", "0.0.0.0", "--port", "8501"]

# The workers' image: the default target (last stage).
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=dbt /opt/dbt /opt/dbt
COPY dbt /app/dbt
USER 10001:10001
EXPOSE 9108
# /healthz answers 200 while the worker is healthy, 503 with the reason otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '9108'), timeout=4)"
# A worker finishes its batch on SIGTERM and exits.
ENTRYPOINT ["twitch-pulse"]
CMD ["--help"]
