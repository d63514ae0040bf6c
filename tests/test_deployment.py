"""The deployment files agree with the code: Dockerfile, docker-compose.yml and deploy/k8s/
are read and checked against the settings, the commands, the port, the health routes and
the drain timeouts. No Docker daemon or cluster is needed."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the lock; parsed data is Any

from storefront.core.config import Settings
from storefront.main import create_app
from tests.fixtures.backends import unreachable
from tests.fixtures.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
SETTINGS_NAMES = frozenset(name.upper() for name in Settings.model_fields)
SECRET_NAMES = frozenset(
    {"SECRET_KEY", "PREVIOUS_SECRET_KEY", "FIRST_ADMIN_PASSWORD", "SMTP_PASSWORD"}
)
REQUIRED_SECRETS = frozenset({"SECRET_KEY", "DATABASE_URL", "REDIS_URL"})
# Read by the image's command, not by Settings.
IMAGE_VARIABLES = frozenset({"WEB_CONCURRENCY", "GRACEFUL_TIMEOUT"})
URL_PASSWORD = re.compile(r"://[^:/@]+:([^@]+)@")
REQUIRED_INTERPOLATION = re.compile(r"^\$\{\w+:\?[^}]*\}$")

Document = dict[str, Any]


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_stages() -> list[list[Instruction]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line.removesuffix(chr(92)).strip()}".strip()
        if not line.endswith("\\"):
            lines.append(pending)
            pending = ""
    stages: list[list[Instruction]] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(Instruction(keyword.upper(), arguments.strip()))
    return stages


def arguments_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [instruction.arguments for instruction in stage if instruction.keyword == keyword]


def environment_of(stage: list[Instruction]) -> dict[str, str]:
    pairs = (item.partition("=") for env in arguments_of(stage, "ENV") for item in env.split())
    return {name: value for name, _, value in pairs}


def exec_form(arguments: str) -> list[str]:
    command = json.loads(arguments)
    assert isinstance(command, list), arguments
    return [str(part) for part in command]


def test_the_image_is_built_in_two_stages_from_the_lock() -> None:
    builder, *_, runtime = dockerfile_stages()
    assert len(dockerfile_stages()) >= 2
    assert arguments_of(builder, "FROM")[0].endswith("AS builder")
    copies = arguments_of(builder, "COPY")
    syncs = [index for index, run in enumerate(arguments_of(builder, "RUN")) if "uv sync" in run]
    assert syncs, "the builder installs with uv sync"
    for run in arguments_of(builder, "RUN"):
        if "uv sync" in run:
            assert {"--frozen", "--no-dev", "--compile-bytecode"} <= set(run.split()), run
    # The dependencies' layer comes from pyproject.toml + uv.lock alone, before the source.
    order = [instruction for instruction in builder if instruction.keyword in {"COPY", "RUN"}]
    first_sync = next(i for i, ins in enumerate(order) if "uv sync" in ins.arguments)
    first_source = next(i for i, ins in enumerate(order) if ins.arguments.startswith("src"))
    assert copies[0].split() == ["pyproject.toml", "uv.lock", "./"]
    assert first_sync < first_source
    assert not any(ins.keyword == "COPY" and "--from" not in ins.arguments for ins in runtime)


def test_the_runtime_holds_the_venv_source_and_migrations_side_by_side() -> None:
    """`uv sync` installs the project editable (a .pth naming <workdir>/src), and
    storefront.core.migrations finds <workdir>/migrations next to src/: the runtime stage
    must keep the builder's paths."""
    builder, *_, runtime = dockerfile_stages()
    workdir = arguments_of(builder, "WORKDIR")[-1]
    assert arguments_of(runtime, "WORKDIR")[-1] == workdir
    assert not any("--no-editable" in run for run in arguments_of(builder, "RUN"))
    copied = {tuple(copy.split()[1:]) for copy in arguments_of(runtime, "COPY")}
    assert copied == {
        (f"{workdir}/{name}", f"{workdir}/{name}") for name in (".venv", "src", "migrations")
    }
    assert all(copy.startswith("--from=builder") for copy in arguments_of(runtime, "COPY"))


def test_the_runtime_runs_as_a_numeric_non_root_user() -> None:
    runtime = dockerfile_stages()[-1]
    user = arguments_of(runtime, "USER")[-1]
    assert re.fullmatch(r"\d+:\d+", user), user
    assert all(int(part) != 0 for part in user.split(":"))
    assert user.split(":")[0] == str(pod_user_id(k8s_deployment("storefront-api")))


def test_the_runtime_environment_and_command() -> None:
    runtime = dockerfile_stages()[-1]
    environment = environment_of(runtime)
    assert environment["PYTHONDONTWRITEBYTECODE"] == "1"
    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["ENVIRONMENT"] == "production"
    unknown = (
        set(environment)
        - SETTINGS_NAMES
        - IMAGE_VARIABLES
        - {"PATH"}
        - {name for name in environment if name.startswith("PYTHON")}
    )
    assert not unknown
    assert arguments_of(runtime, "EXPOSE") == ["8000"]
    assert arguments_of(runtime, "STOPSIGNAL") == ["SIGTERM"]
    shell, flag, script = exec_form(arguments_of(runtime, "CMD")[-1])
    assert (shell, flag) == ("sh", "-c")
    # exec: the server replaces the shell, so SIGTERM reaches it.
    assert script.startswith("exec storefront serve ")
    options = cli_options(script.replace('"', "").split()[3:])
    assert options["--host"] == "0.0.0.0"
    assert options["--port"] == "8000"
    assert options["--workers"] == "${WEB_CONCURRENCY}"
    assert options["--graceful-timeout"] == "${GRACEFUL_TIMEOUT}"
    assert set(IMAGE_VARIABLES) <= set(environment)


class HealthHandler(BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_check_fails_unless_live_answers_ok(health_server: int) -> None:
    healthcheck = arguments_of(dockerfile_stages()[-1], "HEALTHCHECK")[-1]
    _, _, command = healthcheck.partition(" CMD ")
    python, flag, code = exec_form(command)
    assert (python, flag) == ("python", "-c")
    assert "http://127.0.0.1:8000/health/live" in code

    def check(port: int) -> int:
        local = code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        return subprocess.run([sys.executable, "-c", local], capture_output=True).returncode

    HealthHandler.status = 200
    assert check(health_server) == 0
    assert HealthHandler.paths[-1] == "/health/live"
    HealthHandler.status = 503
    assert check(health_server) != 0
    assert check(free_port()) != 0


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is ignored unless listed (.env, .venv, var/, .git…)"
    included = {pattern[1:].strip("/") for pattern in patterns if pattern.startswith("!")}
    builder = dockerfile_stages()[0]
    sources = {
        source.removeprefix("./").strip("/")
        for copy in arguments_of(builder, "COPY")
        for source in copy.split()[:-1]
    }
    assert included == sources
    assert all((ROOT / source).exists() for source in sources)


def test_migrate_finds_its_migrations_in_the_image_layout(tmp_path: Path) -> None:
    """The image's layout, rebuilt: src/ and migrations/ side by side in a directory of
    their own, the package imported from there, run from another directory."""
    app = tmp_path / "app"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src", app / "src", ignore=skip)
    shutil.copytree(ROOT / "migrations", app / "migrations", ignore=skip)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    database = tmp_path / "image.db"
    environment = {
        **os.environ,
        "PYTHONPATH": str(app / "src"),
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }

    def run(*arguments: str) -> str:
        result = subprocess.run(
            [sys.executable, *arguments], cwd=elsewhere, env=environment, capture_output=True
        )
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode()

    located = run("-c", "from storefront.core import migrations; print(migrations.MIGRATIONS_DIR)")
    assert Path(located.strip()) == app / "migrations"
    assert "database at head" in run("-m", "storefront.cli", "migrate")
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "user", "item", "order", "job"} <= tables


# --- command lines and YAML --------------------------------------------------------------


def cli_options(arguments: list[str]) -> dict[str, str]:
    """`--name value` and `--name=value` alike; a flag alone maps to ""."""
    options: dict[str, str] = {}
    index = 0
    while index < len(arguments):
        name, equals, value = arguments[index].partition("=")
        following = arguments[index + 1] if index + 1 < len(arguments) else "--"
        if not equals and not following.startswith("--"):
            value = following
            index += 1
        options[name] = value
        index += 1
    return options


def seconds(duration: str | int) -> float:
    if isinstance(duration, int):
        return duration
    parts = re.findall(r"(\d+)(h|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(int(number) * {"h": 3600, "m": 60, "s": 1}[unit] for number, unit in parts)


def load_documents(path: Path) -> list[Document]:
    with path.open() as stream:
        documents = [document for document in yaml.safe_load_all(stream) if document]
    assert all(isinstance(document, dict) for document in documents), path
    return documents


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def secret_free(name: str, value: object) -> bool:
    """A secret's value, or a URL's password, is never written down, only interpolated."""
    text = str(value)
    if name in SECRET_NAMES or name.endswith("PASSWORD"):
        return bool(REQUIRED_INTERPOLATION.match(text))
    password = URL_PASSWORD.search(text)
    return password is None or bool(REQUIRED_INTERPOLATION.match(password.group(1)))


# --- docker-compose.yml ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Document:
    (document,) = load_documents(ROOT / "docker-compose.yml")
    return document


def app_services(compose: Document) -> dict[str, Document]:
    services: dict[str, Document] = compose["services"]
    return {name: service for name, service in services.items() if "build" in service}


def test_compose_runs_migrations_then_the_api_and_the_worker(compose: Document) -> None:
    services = compose["services"]
    assert {"migrate", "api", "worker", "postgres", "redis", "mailpit"} <= set(services)
    assert set(app_services(compose)) == {"migrate", "api", "worker"}
    assert services["migrate"]["command"] == ["storefront", "migrate"]
    assert services["api"]["command"][:2] == ["storefront", "serve"]
    assert services["worker"]["command"][:2] == ["storefront", "worker"]
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["postgres"] == {"condition": "service_healthy"}
        assert depends_on["redis"] == {"condition": "service_healthy"}
    assert services["api"]["ports"] == ["8000:8000"]
    api = cli_options(services["api"]["command"][2:])
    assert (api["--host"], api["--port"]) == ("0.0.0.0", "8000")


def test_compose_backing_services_are_checked_and_durable(compose: Document) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    for service in app_services(compose).values():
        assert service["environment"]["SMTP_HOST"] == "mailpit"
        assert service["environment"]["SMTP_PORT"] == "1025"


def test_compose_grace_periods_cover_the_drains(compose: Document) -> None:
    services = compose["services"]
    api = cli_options(services["api"]["command"][2:])
    worker = cli_options(services["worker"]["command"][2:])
    assert seconds(services["api"]["stop_grace_period"]) > float(api["--graceful-timeout"])
    assert seconds(services["worker"]["stop_grace_period"]) > float(worker["--drain-timeout"])
    # The worker serves no HTTP: the image's health check would mark it unhealthy.
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_compose_environment_names_settings_and_hides_secrets(compose: Document) -> None:
    for service in app_services(compose).values():
        environment = service["environment"]
        assert set(environment) <= SETTINGS_NAMES, set(environment) - SETTINGS_NAMES
        assert set(environment) >= REQUIRED_SECRETS
    for name, service in compose["services"].items():
        for variable, value in dict(service.get("environment", {})).items():
            assert secret_free(variable, value), f"{name}: {variable} is written down"


def test_compose_shares_the_file_storage_between_api_and_worker(compose: Document) -> None:
    services = compose["services"]
    storage = Path(services["api"]["environment"]["STORAGE_DIR"])
    for name in ("api", "worker"):
        mounts = [volume.split(":") for volume in services[name]["volumes"]]
        named = [source for source, target in mounts if storage.is_relative_to(target)]
        assert named and named[0] in compose["volumes"], name


# --- deploy/k8s ---------------------------------------------------------------------------


def kustomization() -> Document:
    (document,) = load_documents(K8S / "kustomization.yaml")
    return document


def k8s_resources() -> dict[tuple[str, str], Document]:
    resources: dict[tuple[str, str], Document] = {}
    for name in kustomization()["resources"]:
        for document in load_documents(K8S / name):
            resources[document["kind"], document["metadata"]["name"]] = document
    return resources


def k8s_deployment(name: str) -> Document:
    return k8s_resources()["Deployment", name]


def pod_spec(deployment: Document) -> Document:
    spec: Document = deployment["spec"]["template"]["spec"]
    return spec


def pod_labels(deployment: Document) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def pod_user_id(deployment: Document) -> int:
    user: int = pod_spec(deployment)["securityContext"]["runAsUser"]
    return user


def containers(deployment: Document) -> list[Document]:
    spec = pod_spec(deployment)
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(deployment: Document) -> Document:
    container: Document
    (container,) = pod_spec(deployment)["containers"]
    return container


def configmap() -> dict[str, str]:
    data: dict[str, str] = k8s_resources()["ConfigMap", "storefront-config"]["data"]
    return data


def example_secret() -> dict[str, str]:
    (secret,) = load_documents(K8S / "secret.example.yaml")
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "storefront-secrets")
    data: dict[str, str] = secret["stringData"]
    return data


def test_every_manifest_parses_and_the_example_secret_is_not_applied() -> None:
    files = {path.name for path in K8S.glob("*.yaml")}
    listed = set(kustomization()["resources"])
    assert listed == files - {"kustomization.yaml", "secret.example.yaml"}
    for path in K8S.glob("*.yaml"):
        for document in load_documents(path):
            assert "namespace" not in document.get("metadata", {}), path.name
    assert not any(kind == "Secret" for kind, _ in k8s_resources())


def test_k8s_settings_are_real_and_secrets_come_from_the_secret() -> None:
    assert set(configmap()) <= SETTINGS_NAMES, set(configmap()) - SETTINGS_NAMES
    assert not set(configmap()) & (SECRET_NAMES | REQUIRED_SECRETS)
    assert set(example_secret()) <= SETTINGS_NAMES
    assert REQUIRED_SECRETS | {"FIRST_ADMIN_PASSWORD"} <= set(example_secret())
    for name in ("storefront-api", "storefront-worker"):
        for container in containers(k8s_deployment(name)):
            sources = {
                (kind, ref["name"])
                for source in container["envFrom"]
                for kind, ref in source.items()
            }
            assert sources == {
                ("configMapRef", "storefront-config"),
                ("secretRef", "storefront-secrets"),
            }
            for variable in container.get("env", []):
                assert variable["name"] in SETTINGS_NAMES, variable["name"]
                assert variable["name"] not in SECRET_NAMES | REQUIRED_SECRETS


def test_the_configmap_and_the_example_make_valid_production_settings() -> None:
    values = {name.lower(): value for name, value in configmap().items()}
    secrets = {name.lower(): value for name, value in example_secret().items()}
    with pytest.raises(ValueError, match="SECRET_KEY must be a random value"):
        Settings(_env_file=None, **{**values, **secrets})  # type: ignore[arg-type]
    real_key = {"secret_key": "k" * 48}
    settings = Settings(_env_file=None, **{**values, **secrets, **real_key})  # type: ignore[arg-type]
    assert settings.is_production
    assert not settings.serve_docs


def test_the_api_pods_serve_and_probe_the_health_routes() -> None:
    api = main_container(k8s_deployment("storefront-api"))
    assert api["command"] == ["storefront", "serve"]
    options = cli_options(api["args"])
    (port,) = api["ports"]
    assert options["--host"] == "0.0.0.0"
    assert int(options["--port"]) == port["containerPort"] == 8000
    routes = {getattr(route, "path", "") for route in create_app(Settings(_env_file=None)).routes}
    for probe, path in (
        ("startupProbe", "/health/live"),
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
    ):
        check = api[probe]["httpGet"]
        assert check["path"] == path and path in routes
        assert check["port"] in (port["name"], port["containerPort"])
    annotations = k8s_deployment("storefront-api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics" and "/metrics" in routes


def test_the_worker_pods_run_jobs_without_http_probes() -> None:
    worker = main_container(k8s_deployment("storefront-worker"))
    assert worker["command"] == ["storefront", "worker"]
    assert "ports" not in worker
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(worker)


def test_every_pod_migrates_first_with_its_own_image() -> None:
    for name in ("storefront-api", "storefront-worker"):
        deployment = k8s_deployment(name)
        (init,) = pod_spec(deployment)["initContainers"]
        assert init["command"] == ["storefront", "migrate"]
        assert init["image"] == main_container(deployment)["image"]


def test_pods_run_as_non_root_on_a_read_only_root() -> None:
    user = arguments_of(dockerfile_stages()[-1], "USER")[-1].split(":")[0]
    for name in ("storefront-api", "storefront-worker"):
        deployment = k8s_deployment(name)
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert str(pod_user_id(deployment)) == user
        empty_dirs = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
        for container in containers(deployment):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, container["name"]
            for variable in container.get("env", []):
                if variable["name"] == "PROMETHEUS_MULTIPROC_DIR":
                    assert mounts.get(variable["value"]) in empty_dirs


def test_the_api_processes_share_metrics_through_an_empty_dir() -> None:
    api = main_container(k8s_deployment("storefront-api"))
    assert int(cli_options(api["args"])["--workers"]) > 1
    assert "PROMETHEUS_MULTIPROC_DIR" in {variable["name"] for variable in api["env"]}


def test_grace_periods_cover_the_drains() -> None:
    api_deployment = k8s_deployment("storefront-api")
    api = main_container(api_deployment)
    pre_stop = api["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(pre_stop[1]) + float(cli_options(api["args"])["--graceful-timeout"])
    assert pod_spec(api_deployment)["terminationGracePeriodSeconds"] > drain
    worker_deployment = k8s_deployment("storefront-worker")
    worker = main_container(worker_deployment)
    drain_timeout = float(cli_options(worker["args"])["--drain-timeout"])
    assert pod_spec(worker_deployment)["terminationGracePeriodSeconds"] > drain_timeout


def test_the_service_the_budgets_and_the_autoscaler_target_the_right_pods() -> None:
    resources = k8s_resources()
    api_deployment, worker_deployment = (
        resources["Deployment", "storefront-api"],
        resources["Deployment", "storefront-worker"],
    )
    api_labels, worker_labels = pod_labels(api_deployment), pod_labels(worker_deployment)
    for deployment in (api_deployment, worker_deployment):
        assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels(deployment))

    service = resources["Service", "storefront-api"]["spec"]
    assert service["type"] == "ClusterIP"
    assert selects(service["selector"], api_labels)
    assert not selects(service["selector"], worker_labels)
    (port,) = service["ports"]
    (container_port,) = main_container(api_deployment)["ports"]
    assert port["port"] == 80
    assert port["targetPort"] in (container_port["name"], container_port["containerPort"])

    for name, labels, others in (
        ("storefront-api", api_labels, worker_labels),
        ("storefront-worker", worker_labels, api_labels),
    ):
        budget = resources["PodDisruptionBudget", name]["spec"]
        assert budget["minAvailable"] == 1
        assert selects(budget["selector"]["matchLabels"], labels)
        assert not selects(budget["selector"]["matchLabels"], others)
    # One worker under minAvailable 1 could never be evicted: a node would never drain.
    assert worker_deployment["spec"]["replicas"] > 1

    autoscaler = resources["HorizontalPodAutoscaler", "storefront-api"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    spec = autoscaler["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "storefront-api",
    }
    assert spec["minReplicas"] >= 2
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    # The autoscaler owns the count: a `replicas` here would reset it on every apply.
    assert "replicas" not in api_deployment["spec"]
    assert main_container(api_deployment)["resources"]["requests"]["cpu"]


def test_api_and_worker_share_the_file_storage() -> None:
    storage = Path(configmap()["STORAGE_DIR"])
    claims = set()
    for name in ("storefront-api", "storefront-worker"):
        deployment = k8s_deployment(name)
        volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
        (mount,) = [
            mount
            for mount in main_container(deployment)["volumeMounts"]
            if storage.is_relative_to(mount["mountPath"])
        ]
        claims.add(volumes[mount["name"]]["persistentVolumeClaim"]["claimName"])
    (claim,) = claims
    volume = k8s_resources()["PersistentVolumeClaim", claim]
    assert volume["spec"]["accessModes"] == ["ReadWriteMany"]


def test_kustomize_renders_the_manifests() -> None:
    if shutil.which("kubectl") is None:
        unreachable("kubectl is needed to render deploy/k8s with kustomize")
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = {
        (document["kind"], document["metadata"]["name"])
        for document in yaml.safe_load_all(result.stdout)
        if document
    }
    assert rendered == set(k8s_resources())
