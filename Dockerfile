# syntax=docker/dockerfile:1
# Storefront's image: `storefront serve` by default; the same image runs `storefront worker`
# and `storefront migrate` (see docker-compose.yml and deploy/k8s/).
#
#   docker build -t storefront .
#
# Python 3.11: the version CI runs the tests on and mypy checks for (requires-python
# is >=3.11). Builder and runtime share the base: the venv's interpreter is its python.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install "uv==${UV_VERSION}"
WORKDIR /app
# The locked dependencies first: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --compile-bytecode
# Then the project, installed editable: the venv points at /app/src, and
# storefront.core.migrations finds /app/migrations next to it (parents[3] of its file).
# README.md is the package's readme, which the build reads.
COPY README.md ./
COPY src ./src
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --compile-bytecode \
    && python -m compileall -q --invalidation-mode unchecked-hash src migrations

FROM ${PYTHON_IMAGE} AS runtime
# A fixed, numeric uid/gid: Kubernetes' runAsNonRoot can verify it, and volumes can be
# given to it (fsGroup) without knowing the image's /etc/passwd.
RUN groupadd --system --gid 10001 storefront \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin storefront \
    && mkdir -p /data/files \
    && chown -R 10001:10001 /data
# PYTHONDONTWRITEBYTECODE: everything was compiled in the builder, and the root
# filesystem may be read-only. STORAGE_DIR is a volume shared by the API and the workers.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    STORAGE_DIR=/data/files \
    WEB_CONCURRENCY=2 \
    GRACEFUL_TIMEOUT=30
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /app/src /app/src
COPY --from=builder /app/migrations /app/migrations
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
# No curl in slim images: Python's urllib. An error status raises, so the check fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
# exec: the server replaces the shell as PID 1, so SIGTERM reaches it and it drains.
CMD ["sh", "-c", "exec storefront serve --host 0.0.0.0 --port 8000 --workers \"${WEB_CONCURRENCY}\" --graceful-timeout \"${GRACEFUL_TIMEOUT}\""]
