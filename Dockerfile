# The envmon image: the official Airflow image at the version pinned in pyproject.toml, with
# envmon installed and its DAGs in Airflow's DAG folder. docker-compose.yml builds and runs it; its
# init job runs /opt/envmon-src/deploy/airflow-init.sh from the copy of the tree made here.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root . /opt/envmon-src
RUN pip install --no-cache-dir -c /opt/envmon-src/requirements.lock /opt/envmon-src \
 && cp /opt/envmon-src/dags/*.py /opt/airflow/dags/
