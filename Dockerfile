# syntax=docker/dockerfile:1
#
# dailyfetch job image: `docker build -t dailyfetch .` (BuildKit; the default
# since Docker 23). The builder stage turns the project and its dependencies
# into wheels; the final stage installs those wheels only, offline, and runs as
# a non-root user. See docs/deploy.md.
#
# Build arguments:
#   CONFIG     path (in the build context) of the config file to ship; it is
#              copied to /app/dailyfetch.toml. Default: dailyfetch.toml.
#   APP_FILES  optional paths (space-separated) of your own Python job modules,
#              copied into /app, which is on PYTHONPATH. Missing ones are skipped.

ARG PYTHON_VERSION=3.12

################################################################################
# Builder: wheels for dailyfetch and every dependency
################################################################################

FROM python:${PYTHON_VERSION}-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY . /src

# The same two pip steps are exercised by tests/infra/test_image_install.py.
RUN pip wheel --wheel-dir /wheels /src

ARG CONFIG=dailyfetch.toml
ARG APP_FILES="jobs"
RUN set -eu; \
    mkdir -p /app; \
    if [ ! -f "/src/${CONFIG}" ]; then \
      echo "Config file '${CONFIG}' is not in the build context: create dailyfetch.toml or pass --build-arg CONFIG=path/to/file.toml" >&2; \
      exit 1; \
    fi; \
    cp "/src/${CONFIG}" /app/dailyfetch.toml; \
    for path in ${APP_FILES}; do \
      if [ -e "/src/${path}" ]; then cp -R "/src/${path}" /app/; fi; \
    done

################################################################################
# Runtime: the installed wheel, the config, a non-root user
################################################################################

FROM python:${PYTHON_VERSION}-slim AS runtime

LABEL org.opencontainers.image.title="dailyfetch" \
      org.opencontainers.image.description="Runs one HTTP API fetch into PostgreSQL per run" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app \
    DAILYFETCH_CONFIG=/app/dailyfetch.toml \
    DAILYFETCH_HEALTH_FILE=/tmp/dailyfetch-schedule.health

RUN groupadd --system --gid 10001 dailyfetch \
 && useradd --system --uid 10001 --gid dailyfetch --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin dailyfetch

# Install from the builder's wheels only (no index, no compiler), without
# copying the wheels into a layer; then drop pip, which the job does not need.
# DL3013 (pin versions) does not apply: --no-index installs exactly the wheels
# the builder stage just built from this checkout.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels dailyfetch \
 && pip uninstall --yes pip

COPY --from=builder /app /app
WORKDIR /app

# On ECS the root filesystem is read-only and /tmp is a task volume; declaring
# it here makes Fargate give that volume the image's /tmp permissions (1777).
VOLUME ["/tmp"]

USER 10001:10001

# Used by the self-hosted compose setup (`dailyfetch schedule`); ECS ignores it.
HEALTHCHECK --interval=5m --timeout=30s --start-period=30s \
  CMD ["dailyfetch", "schedule", "--health"]

# The job handles SIGTERM and finishes its batch within 25 s.
STOPSIGNAL SIGTERM

ENTRYPOINT ["dailyfetch"]
CMD ["run"]
