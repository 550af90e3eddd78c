# Kyso — the service image. `docker compose up` (docker-compose.yml) runs it beside PostgreSQL;
# docs/operator.md ("Deploying with Docker Compose") is the guide.
#
#   docker build -t kyso .
#   docker run --rm kyso --help                    any kyso command: `docker run --rm kyso ca --help`
#
# Production settings come from the environment (KYSO_…, see docs/operator.md); the master key and the
# database password come from Docker secrets. The image refuses to start in production without them.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment in /opt/kyso holding Kyso and its dependencies ------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/kyso && /opt/kyso/bin/pip install --upgrade pip

# Dependencies first, from pyproject.toml alone, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/kyso/bin/pip install -r /tmp/requirements.txt

# The packages listed in pyproject.toml ([tool.setuptools] packages); a new top-level package goes here too.
COPY core ./core
COPY store ./store
COPY keystore ./keystore
COPY identity ./identity
COPY ca ./ca
COPY signing ./signing
COPY verification ./verification
COPY invitations ./invitations
COPY api ./api
COPY cli ./cli
RUN /opt/kyso/bin/pip install --no-deps . \
    && /opt/kyso/bin/kyso --help > /dev/null

# --- runtime ------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="Kyso" \
      org.opencontainers.image.description="Digital signatures and e-authentication for a city government: test CA, PAdES signing, verification, QR e-invitations" \
      org.opencontainers.image.licenses="Apache-2.0"

# /usr/local/bin/kyso is the entrypoint script (it builds KYSO_DATABASE_URL from the secret, then runs
# the real /opt/kyso/bin/kyso), so it comes first on PATH.
ENV PATH="/usr/local/bin:/opt/kyso/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KYSO_VENV=/opt/kyso \
    KYSO_ENV=production \
    KYSO_DATA_DIR=/var/lib/kyso \
    KYSO_MASTER_KEY_FILE=/run/secrets/kyso_master_key \
    KYSO_HOST=0.0.0.0 \
    KYSO_PORT=8000

COPY --from=build /opt/kyso /opt/kyso
COPY docker/entrypoint.sh /usr/local/bin/kyso-entrypoint

# A fixed uid/gid, so secret files and volumes can be made readable by it on the host (10001:10001).
RUN groupadd --system --gid 10001 kyso \
    && useradd --system --uid 10001 --gid kyso --home-dir /var/lib/kyso --no-create-home \
        --shell /usr/sbin/nologin kyso \
    && mkdir -p /var/lib/kyso \
    && chown kyso:kyso /var/lib/kyso \
    && chmod 0700 /var/lib/kyso \
    && chmod 0755 /usr/local/bin/kyso-entrypoint \
    && ln -s kyso-entrypoint /usr/local/bin/kyso

USER kyso:kyso
WORKDIR /var/lib/kyso
VOLUME ["/var/lib/kyso"]
EXPOSE 8000

# /healthz answers 200 when the database is reachable and migrated, 503 otherwise (urlopen raises).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KYSO_PORT', '8000'), timeout=4)" || exit 1

ENTRYPOINT ["kyso-entrypoint"]
CMD ["serve"]
