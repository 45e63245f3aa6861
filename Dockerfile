# The envmon image: the official Airflow image at the version pinned in pyproject.toml, with
# envmon installed and its DAGs in Airflow's DAG folder. docker-compose.yml builds and runs it; its
# init job runs /opt/envmon-src/deploy/airflow-init.sh from the copy of the tree made here.
FROM apache/airflow:3.3.2-python3.11

# the monthly bulletin's PDF (WeasyPrint): Pango, and fonts for Chinese (Noto Sans CJK) and the class numerals;
# `envmon backup`: pg_dump and pg_restore of the postgres service's major version (16), from the PGDG
# repository the Airflow image already lists (Debian's own stops at 15, which cannot dump a 16 server)
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk fonts-dejavu-core \
    postgresql-client-16 \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root . /opt/envmon-src
RUN pip install --no-cache-dir -c /opt/envmon-src/requirements.lock /opt/envmon-src \
 && cp /opt/envmon-src/dags/*.py /opt/airflow/dags/
