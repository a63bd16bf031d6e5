"""docker-compose.yaml, its Dockerfile and .env.example as files: services, dependencies, mounts,
environment, wiring to the code's settings, and the image's requirements. A real compose parser checks
the file in tests/e2e/test_compose.py.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from datalake import settings
from datalake.airflow import tasks as airflow_tasks
from datalake.csvs.files import CSV_FILES
from datalake.tmdb.client import DEFAULT_BASE_URL
from tests.compose_file import VARIABLE, interpolate, load, mounts

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yaml"
AWS_OVERLAY = REPO / "docker-compose.aws.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
IMAGE_REQUIREMENTS = REPO / "requirements-image.txt"
PYPROJECT = REPO / "pyproject.toml"

AIRFLOW_HOME = PurePosixPath("/opt/airflow")
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
OPTIONAL_AIRFLOW_SERVICES = ("airflow-cli", "flower")
LONG_RUNNING = (
    "postgres",
    "redis",
    "minio",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "flower",
    "tmdb-sandbox",
)
SANDBOX_URL = "http://tmdb-sandbox:8000/3"


# ---------------------------------------------------------------- helpers


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            pairs[name.strip()] = value
    return pairs


def strings(node: Any) -> list[str]:
    """Every string of a parsed YAML document, keys included (comments are not interpolated)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [node] if isinstance(node, str) else []


def defaults_in(path: Path) -> dict[str, set[str]]:
    """Variable -> its defaults, over the values of a compose file."""
    found: dict[str, set[str]] = {}
    for text in strings(load(path)):
        for match in VARIABLE.finditer(text):
            found.setdefault(match["name"], set()).add(match["default"] or "")
    return found


def host_path(service: dict[str, Any], container_path: PurePosixPath) -> Path | None:
    """Where a container path of this service lives on the host, if a bind mount covers it."""
    for target, source in mounts(service).items():
        if container_path == target or target in container_path.parents:
            return source / container_path.relative_to(target)
    return None


def container_path(service: dict[str, Any], host: Path) -> PurePosixPath | None:
    for target, source in mounts(service).items():
        if host == source or source in host.parents:
            return target / PurePosixPath(host.relative_to(source).as_posix())
    return None


def connection(
    service: dict[str, Any], conn_id: str, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    raw = service["environment"][f"AIRFLOW_CONN_{conn_id.upper()}"]
    return json.loads(interpolate(raw, environ))


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines, names normalised."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if match:
            found[normalise(match[1])] = match[2]
    return found


def project_pins() -> dict[str, str]:
    """The direct pins of pyproject.toml: its dependencies and every extra's, names normalised."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    found = {}
    for requirement in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", requirement)
        if match:
            found[normalise(match[1])] = match[2]
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------- services and the common anchor


def test_the_official_services_and_the_projects_exist(services):
    expected = {
        "postgres",
        "redis",
        *AIRFLOW_SERVICES,
        *OPTIONAL_AIRFLOW_SERVICES,
        "minio",
        "minio-init",
        "tmdb-sandbox",
    }
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


def test_every_airflow_service_is_the_common_anchor_built_from_the_dockerfile(compose, services):
    common = compose["x-airflow-common"]
    assert common["build"] == "."
    assert "image" not in common, "the image is built from ./Dockerfile, not pulled"
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in (*AIRFLOW_SERVICES, *OPTIONAL_AIRFLOW_SERVICES):
        service = services[name]
        assert re.search(rf"^  {re.escape(name)}:\n    <<: \*airflow-common\n", raw, re.M), (
            f"{name}: not <<: *airflow-common"
        )
        assert service["build"] == "." and "image" not in service, name
        assert service["volumes"] == common["volumes"], name
        for key, value in common["environment"].items():
            assert service["environment"].get(key) == value, f"{name}: {key} differs from x-airflow-common"
    assert services["tmdb-sandbox"]["build"] == ".", "the sandbox runs from the same image"


def test_celery_executor_with_redis_postgres_and_the_execution_api(compose, services):
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@postgres/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    url = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    match = re.fullmatch(r"http://(?P<host>[\w-]+):(?P<port>\d+)/execution/", url)
    assert match, url
    assert match["host"] == "airflow-apiserver" and services[match["host"]]["command"] == "api-server"
    assert f"{match['port']}:{match['port']}" in services["airflow-apiserver"]["ports"]
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_dependencies_wait_for_healthy_stores_and_completed_init_steps(services):
    for name in (*AIRFLOW_SERVICES, *OPTIONAL_AIRFLOW_SERVICES):
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
        assert depends["minio-init"] == {"condition": "service_completed_successfully"}, name
        if name not in ("airflow-init", "airflow-cli"):
            assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on undefined {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy; it has no healthcheck"
                )
            if rule["condition"] == "service_completed_successfully":
                assert "restart" not in services[target], f"{target} is a one-shot step: it must not restart"


def test_workers_scale_out(services):
    """`docker compose up --scale airflow-worker=N` needs no fixed name or host port on the worker."""
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "${AIRFLOW_WORKER_CONCURRENCY:-" in worker["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"]


def test_a_lost_worker_is_survived_with_the_timeouts_of_make_cluster(compose):
    """The same heartbeat, queued and broker timeouts as the native cluster, whose tests kill a worker."""
    from local_stack.environment import LOST_WORKER_SETTINGS

    env = compose["x-airflow-common"]["environment"]
    assert {key: env.get(key) for key in LOST_WORKER_SETTINGS} == LOST_WORKER_SETTINGS


def test_every_worker_draws_on_one_tmdb_budget_in_the_compose_redis(compose, services):
    env = compose["x-airflow-common"]["environment"]
    url = env[settings.RATE_LIMIT_REDIS_URL_ENV]
    assert url.startswith("redis://") and "@redis:6379/" in url
    assert url != env["AIRFLOW__CELERY__BROKER_URL"], "the budget keeps out of the broker's database"
    # Each replica records its own container hostname as task_instance.hostname: no fixed one.
    assert "hostname" not in services["airflow-worker"]
    assert "AIRFLOW__CORE__HOSTNAME_CALLABLE" not in env


def test_long_running_services_have_healthchecks(services):
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name


def test_init_steps_run_once_as_in_the_official_file(services):
    init = services["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert init["user"] == "0:0"
    assert "include" in init["command"][1], "airflow-init creates and hands over include/ too"


# ---------------------------------------------------------------- mounts and the project's files


def test_dags_plugins_include_logs_and_config_are_mounted_where_airflow_looks(compose):
    table = mounts(compose["x-airflow-common"])
    for folder in ("dags", "plugins", "include", "logs", "config"):
        assert table.get(AIRFLOW_HOME / folder) == REPO / folder, (
            f"./{folder} is not mounted at {AIRFLOW_HOME / folder}"
        )
    assert AIRFLOW_HOME / "sandbox" not in table, "product containers must not see sandbox/"


def test_the_mounted_dag_and_plugin_files_exist(compose):
    common = compose["x-airflow-common"]
    assert (host_path(common, AIRFLOW_HOME / "dags" / "datalake_raw_ingest.py")).is_file()
    assert (host_path(common, AIRFLOW_HOME / "plugins" / "datalake" / "airflow" / "tasks.py")).is_file()
    for csv_file in CSV_FILES:
        assert host_path(common, AIRFLOW_HOME / "include" / "data" / csv_file.filename).is_file()


def test_csv_defaults_are_where_the_dag_looks_in_the_container(compose):
    """The DAG falls back to include/data next to plugins/; with plugins at /opt/airflow/plugins that is
    /opt/airflow/include/data, which must be mounted from ./include/data and be the compose default."""
    common = compose["x-airflow-common"]
    tasks_file = Path(airflow_tasks.__file__).resolve()
    tasks_in_container = container_path(common, tasks_file)
    assert tasks_in_container is not None, "plugins/ is not mounted"
    root = tasks_file.parents[3]
    data_in_container = tasks_in_container.parents[3] / PurePosixPath(
        airflow_tasks.INCLUDE_DATA.relative_to(root).as_posix()
    )
    assert data_in_container == AIRFLOW_HOME / "include" / "data"
    assert host_path(common, data_in_container) == airflow_tasks.INCLUDE_DATA
    for csv_file in CSV_FILES:
        variable = f"AIRFLOW_VAR_{csv_file.variable.upper()}"
        assert interpolate(common["environment"][variable]) == str(data_in_container / csv_file.filename), (
            variable
        )
        assert f"${{{csv_file.variable.upper()}:-" in common["environment"][variable], (
            f"{variable}: no override"
        )


# ---------------------------------------------------------------- connections and Variables


def test_aws_connection_is_minio_scoped_to_s3(services):
    minio_env = services["minio"]["environment"]
    for name in (*AIRFLOW_SERVICES, *OPTIONAL_AIRFLOW_SERVICES):
        aws = connection(services[name], settings.AWS_CONN_ID)
        assert aws["conn_type"] == "aws"
        assert aws["login"] == interpolate(minio_env["MINIO_ROOT_USER"])
        assert aws["password"] == interpolate(minio_env["MINIO_ROOT_PASSWORD"])
        extra = aws["extra"]
        assert "endpoint_url" not in extra, (
            "a connection-level endpoint would send every AWS service to MinIO"
        )
        assert extra["service_config"] == {"s3": {"endpoint_url": "http://minio:9000"}}
        assert extra["config_kwargs"] == {"s3": {"addressing_style": "path"}}
        assert extra["region_name"]
    assert "minio" in services and any(":9000" in port for port in services["minio"]["ports"])


def test_connections_follow_the_environment(services):
    environ = {
        "MINIO_ROOT_USER": "lake-user",
        "MINIO_ROOT_PASSWORD": "lake-password",
        "AWS_REGION": "sa-east-1",
        "TMDB_BASE_URL": SANDBOX_URL,
        "TMDB_API_TOKEN": "0123456789abcdef" * 2,
    }
    worker = services["airflow-worker"]
    aws = connection(worker, settings.AWS_CONN_ID, environ)
    assert (aws["login"], aws["password"], aws["extra"]["region_name"]) == (
        "lake-user",
        "lake-password",
        "sa-east-1",
    )
    tmdb = connection(worker, settings.TMDB_CONN_ID, environ)
    assert tmdb == {"conn_type": "http", "host": SANDBOX_URL, "password": environ["TMDB_API_TOKEN"]}


def test_tmdb_connection_defaults_to_the_real_tmdb(services):
    tmdb = connection(services["airflow-worker"], settings.TMDB_CONN_ID)
    assert tmdb == {"conn_type": "http", "host": DEFAULT_BASE_URL, "password": ""}
    assert "${TMDB_API_TOKEN:-}" in services["airflow-worker"]["environment"]["AIRFLOW_CONN_TMDB_DEFAULT"]


def test_bucket_variable_and_minio_bucket_agree_with_the_code(services, compose):
    env = compose["x-airflow-common"]["environment"]
    bucket_variable = f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}"
    assert env[bucket_variable] == f"${{DATALAKE_BUCKET:-{settings.DEFAULT_BUCKET}}}"
    init = services["minio-init"]
    assert init["environment"]["DATALAKE_BUCKET"] == env[bucket_variable]
    script = init["command"][1]
    assert 'mc mb --ignore-existing "lake/$${DATALAKE_BUCKET}"' in script
    assert "mc alias set lake http://minio:9000" in script
    assert script.lstrip().startswith("set -e"), (
        "a failed step must fail minio-init, or Airflow starts without its bucket"
    )


# ---------------------------------------------------------------- the TMDB sandbox


def test_the_sandbox_is_optional_and_serves_the_catalog(services):
    sandbox = services["tmdb-sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert sandbox["entrypoint"] == ["python", "-m", "sandbox.tmdb_app"]
    arguments = dict(zip(sandbox["command"][::2], sandbox["command"][1::2], strict=True))
    assert arguments == {
        "--host": "0.0.0.0",
        "--port": "8000",
        "--catalog": "/opt/airflow/include/data/tmdb_catalog.json",
    }
    assert (
        host_path(sandbox, PurePosixPath(arguments["--catalog"]))
        == REPO / "include" / "data" / "tmdb_catalog.json"
    )
    assert host_path(sandbox, AIRFLOW_HOME / "sandbox" / "tmdb_app.py").is_file()
    assert sandbox["working_dir"] == str(AIRFLOW_HOME) and sandbox["environment"]["PYTHONPATH"] == str(
        AIRFLOW_HOME
    )
    assert SANDBOX_URL == f"http://tmdb-sandbox:{arguments['--port']}/3"


def test_the_sandbox_accepts_the_credential_airflow_sends(services):
    sandbox_env = services["tmdb-sandbox"]["environment"]
    assert sandbox_env["TMDB_SANDBOX_CREDENTIALS"] == "${TMDB_API_TOKEN:-}"
    assert not any(key.startswith("AIRFLOW") for key in sandbox_env), (
        "the sandbox is not an Airflow component"
    )
    for name, service in services.items():
        assert "tmdb-sandbox" not in service.get("depends_on", {}), (
            f"{name} must run without the optional sandbox"
        )


def test_dockerfile_extends_the_pinned_airflow_image():
    lines = [
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    match = re.fullmatch(r"FROM apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>\d+\.\d+)", lines[0])
    assert match, f"first instruction: {lines[0]!r}"
    assert match["airflow"] == project_pins()["apache-airflow"], "the image's Airflow is the pinned one"
    assert match["python"] == f"{sys.version_info.major}.{sys.version_info.minor}", (
        "constraints.txt is resolved (make lock) for this interpreter; the image's Python must match"
    )


def test_dockerfile_installs_image_requirements_with_the_constraints():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^COPY requirements-image\.txt constraints\.txt /requirements/$", text, re.M)
    assert re.search(
        r"^RUN pip install --no-cache-dir -r /requirements/requirements-image\.txt -c /requirements/constraints\.txt$",  # noqa: E501 (verbatim data)
        text,
        re.M,
    )
    assert not re.search(r"==\d", text), "no version in the Dockerfile: they come from constraints.txt"


def test_image_requirements_are_names_whose_versions_come_from_the_constraints():
    direct = project_pins()
    constraints = pins(REPO / "constraints.txt")
    text = IMAGE_REQUIREMENTS.read_text(encoding="utf-8")
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            match = re.fullmatch(r"(?P<name>[A-Za-z0-9._-]+)(\[[a-z0-9,-]+\])?", line)
            assert match, f"requirements-image.txt: only names (and extras), no versions: {line!r}"
            names.append(normalise(match["name"]))
    excluded = [normalise(name) for name in re.search(r"^# not-in-image: (.*)$", text, re.M)[1].split()]
    assert "apache-airflow" in names, "pip must keep the base image's Airflow"
    for name in names:
        assert name in direct, f"{name}: in the image but not pinned in pyproject.toml"
        assert constraints.get(name) == direct[name], f"{name}: pyproject.toml and constraints.txt disagree"
    assert not set(names) & set(excluded)
    unplaced = sorted(set(direct) - set(names) - set(excluded))
    assert not unplaced, (
        f"{unplaced}: pinned in pyproject.toml but neither in requirements-image.txt nor on its "
        "'# not-in-image:' line; decide whether the compose image needs it"
    )


def image_requirements() -> list[tuple[str, set[str]]]:
    """(name, extras) of each line of requirements-image.txt."""
    found = []
    for line in IMAGE_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(?P<name>[A-Za-z0-9._-]+)(\[(?P<extras>[a-z0-9,-]+)\])?", line.strip())
        if match:
            found.append((normalise(match["name"]), set(filter(None, (match["extras"] or "").split(",")))))
    return found


def test_the_image_provides_every_module_the_dag_and_plugins_import():
    """What dags/ and plugins/ import comes from the image's requirements or what they pull in
    (as installed in this venv), so a new third-party import cannot be missing from the image."""
    import ast
    from importlib import metadata

    from packaging.requirements import Requirement

    closure: set[str] = set()
    pending = image_requirements()
    while pending:
        name, extras = pending.pop()
        if name in closure and not extras:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # in the base image only (the extras' providers)
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker and not any(
                requirement.marker.evaluate({"extra": e}) for e in extras | {""}
            ):
                continue
            pending.append((normalise(requirement.name), set(requirement.extras)))

    modules = set()
    for path in [*(REPO / "dags").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    local = {path.name for path in (REPO / "plugins").iterdir() if path.is_dir()} | {"__future__"}
    third_party = modules - set(sys.stdlib_module_names) - local
    providers = metadata.packages_distributions()
    for module in sorted(third_party):
        assert module in providers, f"{module}: imported by dags/ or plugins/ but not installed"
        assert {normalise(dist) for dist in providers[module]} & closure, (
            f"{module} ({providers[module]}): not installed by requirements-image.txt"
        )


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    for entry in (
        ".venv",
        ".lake",
        ".local",
        "dist",
        ".env",
        ".git",
        ".pytest_cache",
        "**/__pycache__",
        "logs",
    ):
        assert entry in ignored, entry
    for needed in ("requirements-image.txt", "constraints.txt"):
        assert needed not in ignored


# ---------------------------------------------------------------- .env.example


def test_every_variable_the_compose_files_read_is_documented():
    documented = env_example()
    for path in (COMPOSE_FILE, AWS_OVERLAY):
        for name, defaults in defaults_in(path).items():
            assert name in documented, f"{path.name} reads ${{{name}}}; document it in .env.example"
            # ${NAME:-} is how a script tells "unset"; any other default must be the same everywhere.
            values = defaults - {""}
            assert len(values) <= 1, f"{name}: different defaults {values} in {path.name}"
            example = documented[name]
            if example:
                assert {example} == values, f"{name}: .env.example shows {example!r}, the default is {values}"


def test_env_example_documents_nothing_unused_and_holds_no_secret():
    used = {name for path in (COMPOSE_FILE, AWS_OVERLAY) for name in defaults_in(path)}
    documented = env_example()
    assert set(documented) <= used, f"documented but unused: {sorted(set(documented) - used)}"
    for secret in (
        "TMDB_API_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "FERNET_KEY",
    ):
        assert documented[secret] == "", f"{secret} must be empty in .env.example"
    assert SANDBOX_URL in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_no_token_shaped_strings_in_the_compose_files():
    for path in (COMPOSE_FILE, AWS_OVERLAY, ENV_EXAMPLE, DOCKERFILE, IMAGE_REQUIREMENTS):
        text = path.read_text(encoding="utf-8")
        assert "eyJ" not in text, f"{path.name}: JWT-shaped string"
        assert not re.search(r"\b[0-9a-f]{32}\b", text), f"{path.name}: 32-hex (TMDB v3 key shaped) string"


# ---------------------------------------------------------------- a real compose parser
