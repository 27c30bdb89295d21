# seckb on Apache Airflow: the official image, extended with the seckb package.
#
# Follows "Extending the image" (https://airflow.apache.org/docs/docker-stack/build.html):
# system packages as root, Python packages as the airflow user, apache-airflow pinned to the
# image's own version so pip never up- or downgrades Airflow, and the image's constraints file.
#
# Build:   docker compose build        (docker-compose.yml builds this file as seckb-airflow:latest)
# Upgrade: change the tag on the FROM line, rebuild, `docker compose up -d` (airflow-init migrates).
FROM apache/airflow:3.3.2-python3.11

# The advisory-db source is read with git (GitPython shells out to the git binary). Recent
# official images list git among their runtime packages; install it only if this base lacks it.
USER root
RUN if ! command -v git >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends git \
        && apt-get autoremove -yqq --purge \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && git --version \
    && mkdir -p /opt/seckb/data \
    && chown -R airflow:0 /opt/seckb \
    && chmod -R g+rwX /opt/seckb

USER airflow
WORKDIR /opt/seckb

# Only what the package build needs (never warehouse/data, .env, .venv or .git: see .dockerignore).
COPY --chown=airflow:0 pyproject.toml README.md /opt/seckb/
COPY --chown=airflow:0 aggregators/ /opt/seckb/aggregators/
COPY --chown=airflow:0 schemas/ /opt/seckb/schemas/
COPY --chown=airflow:0 warehouse/__init__.py warehouse/*.sql /opt/seckb/warehouse/

RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/seckb[report]" \
        --constraint "${HOME}/constraints.txt" \
    && python -c "import aggregators, duckdb, pyarrow, git, matplotlib; print('seckb installed')"

# DAG files are baked in as a fallback; docker-compose.yml mounts ./dags over this directory.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/

WORKDIR /opt/airflow
ENV SECKB_HOME=/opt/seckb/data
