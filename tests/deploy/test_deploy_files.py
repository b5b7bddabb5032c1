"""deploy/ is checked against the code: files parse, HAProxy accepts its config, and every image,
command, port and environment variable named there is one the apps really have or read."""

from __future__ import annotations

import ast
import configparser
import inspect
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from fairgate.config import Settings
from fairgate.gunicorn import settings_for
from fairgate.redisconn import parse_redis_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_PACKAGES = ("waitingroom", "ticketing")
# Read by the Python interpreter and pip while the image is built, not by the apps.
BUILD_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
             "PIP_DISABLE_PIP_VERSION_CHECK"}
APP_PORTS = {"waitingroom": 8080, "ticketing": 8081}


# --- what the code really reads and serves -------------------------------------------------

def _env_names_in_calls(path: Path) -> set[str]:
    """Upper-case string constants passed to calls (env.get("X"), _int(env, "X", ...))."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if (isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                        and re.fullmatch(r"[A-Z][A-Z0-9_]*[A-Z0-9]", arg.value)):
                    names.add(arg.value)
    return names


@cache
def known_env() -> frozenset[str]:
    names = _env_names_in_calls(ROOT / "fairgate" / "config.py")
    names |= _env_names_in_calls(DEPLOY / "gunicorn.conf.py")
    for package in ("fairgate", *APP_PACKAGES):
        for source in (ROOT / package).rglob("*.py"):
            text = source.read_text()
            names |= set(re.findall(r"[\"']((?:WR|TK)_[A-Z0-9_]+)[\"']", text))
            # Names built from an app's prefix (fairgate/guard.py: prefix + "TRUSTED_PROXIES").
            for suffix in re.findall(r"\bprefix \+ \"([A-Z0-9_]+)\"", text):
                names |= {f"WR_{suffix}", f"TK_{suffix}"}
    return frozenset(names)


def test_known_env_is_what_settings_read() -> None:
    """The scan finds DESIGN section 9's variables (guards the scan itself)."""
    assert {"REDIS_URL", "DATABASE_URL", "DATA_DIR", "SECRET_KEYS", "ADMIN_TOKEN", "HOST",
            "WAITINGROOM_PORT", "TICKETING_PORT", "PG_STATEMENT_CACHE_SIZE",
            "REDIS_POOL_SIZE", "WEB_CONCURRENCY", "WR_TRUSTED_PROXIES",
            "TK_LIMIT_EXEMPT"} <= known_env()
    assert "MADE_UP_SETTING" not in known_env()


@cache
def served_paths(package: str) -> frozenset[str]:
    """GET paths an app serves: its own route table plus the shared ones from fairgate.web."""
    text = (ROOT / "fairgate" / "web.py").read_text()
    for source in (ROOT / package).glob("*.py"):
        text += source.read_text()
    return frozenset(re.findall(r"(?:add_get|web\.get)\(\s*\"(/[^\"{]*)\"", text))


def health_path(package: str) -> str:
    return "/readyz" if "/readyz" in served_paths(package) else "/healthz"


@cache
def console_scripts() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in lines)}


@cache
def module_help(package: str) -> str:
    done = subprocess.run([sys.executable, "-m", package, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_real_entry_point(cmd: list[str]) -> str:
    """The command starts one of the apps through an entry point that exists; returns which."""
    if cmd[0] == "gunicorn":
        module, _, attr = cmd[1].partition(":")
        assert module == "fairgate.gunicorn", cmd
        import fairgate.gunicorn as factories

        factory = getattr(factories, attr)
        assert inspect.iscoroutinefunction(factory), f"{attr} is not an async app factory"
        config = cmd[cmd.index("-c") + 1]
        assert (ROOT / config).is_file(), f"gunicorn config {config} does not exist"
        return attr.removesuffix("_app")
    if cmd[:2] == ["python", "-m"]:
        package = cmd[2]
        assert package in APP_PACKAGES, cmd
        if len(cmd) > 3 and not cmd[3].startswith("-"):
            assert re.search(rf"\b{cmd[3]}\b", module_help(package)), f"no {cmd[3]} in {package}"
        return package
    target = console_scripts().get(cmd[0])
    assert target is not None, f"{cmd[0]} is not a console script of setup.cfg"
    return target.split(".")[0]


def resolve(value: str) -> str:
    """Compose-style ${VAR:-default} / ${VAR:?message} with the defaults (or a stand-in)."""
    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if op == ":-":
            return arg
        return f"{name.lower()}-stand-in-value-0123456789"

    return re.sub(r"\$\{([A-Z0-9_]+)(:[-?])?([^}]*)\}", sub, value)


def assert_settings_load(env: dict[str, str], app: str) -> Settings:
    assert set(env) <= known_env(), f"{app}: not read by the apps: {set(env) - known_env()}"
    settings, url = settings_for(app, env)
    if app == "waitingroom":
        parse_redis_url(url)
    return settings


# --- docker-compose.yml ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if svc.get("image", "").startswith("fairgate:")}


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"


def test_compose_has_the_whole_product(compose: dict[str, Any]) -> None:
    assert {"waitingroom", "ticketing", "haproxy", "redis", "postgres", "pgbouncer",
            "prometheus", "grafana"} <= set(compose["services"])
    assert set(app_services(compose)) == {"waitingroom", "ticketing"}


def test_compose_apps_run_real_entry_points_with_real_settings(compose: dict[str, Any]) -> None:
    for name, svc in app_services(compose).items():
        assert assert_real_entry_point(svc["command"]) == name
        assert f"0.0.0.0:{APP_PORTS[name]}" in svc["command"]
        build = svc["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve().is_file()
        env = {k: resolve(str(v)) for k, v in svc["environment"].items()}
        settings = assert_settings_load(env, name)
        assert settings.production
        health = svc["healthcheck"]["test"][-1]
        assert f":{APP_PORTS[name]}{health_path(name)}" in health


def test_compose_urls_point_at_the_right_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    bouncer = services["pgbouncer"]["environment"]
    assert bouncer["POOL_MODE"] == "transaction"
    for svc in app_services(compose).values():
        env = {k: resolve(str(v)) for k, v in svc["environment"].items()}
        db = urlsplit(env["DATABASE_URL"])
        assert (db.hostname, db.port) == ("pgbouncer", int(bouncer["LISTEN_PORT"]))
        assert env["PG_STATEMENT_CACHE_SIZE"] == "0", "PgBouncer transaction mode needs 0"
        # LISTEN keeps a session, which transaction pooling does not: PostgreSQL itself.
        listen = urlsplit(env["TK_LISTEN_DATABASE_URL"])
        assert (listen.hostname, listen.port) == ("postgres", 5432)
        assert listen.path == db.path and listen.username == db.username
        target = parse_redis_url(env["REDIS_URL"])
        host = urlsplit(target.url).hostname if target.mode == "single" else target.nodes[0][0]
        assert host in services
        deps = svc.get("depends_on", {})
        assert "redis" in deps or "pgbouncer" in deps


def test_compose_mounts_files_that_exist(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{source} is mounted but missing"


# --- HAProxy ------------------------------------------------------------------------------------

def haproxy_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in (DEPLOY / "haproxy.cfg").read_text().splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        if not line[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(line.strip())
    return sections


def test_haproxy_config_is_valid_without_warnings() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("Debian haproxy is not installed (apt-get install haproxy)")
    done = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                          capture_output=True, text=True, timeout=30, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output and "ALERT" not in output, output


def test_haproxy_checks_and_routes_what_the_apps_serve(compose: dict[str, Any]) -> None:
    sections = haproxy_sections()
    published = {p.split(":")[0] for p in compose["services"]["haproxy"]["ports"]}
    for app, port in APP_PORTS.items():
        frontend = sections[f"frontend fe_{app}"]
        assert f"bind :{port}" in frontend and str(port) in published
        assert f"default_backend be_{app}" in frontend
        assert any("X-Forwarded-Proto" in line for line in frontend)
        backend = sections[f"backend be_{app}"]
        assert f"http-check send meth GET uri {health_path(app)}" in backend
        assert any(line.startswith("balance ") for line in backend)
        template = next(line for line in backend if line.startswith("server-template"))
        assert f" {app}:{port} " in template, "servers must be the compose service and port"
    defaults = sections["defaults"]
    assert "option forwardfor" in defaults
    assert any(line.startswith("http-error status 503") and "Retry-After" in line
               for line in defaults)


# --- Prometheus and Grafana -------------------------------------------------------------------

def test_prometheus_scrapes_metrics_of_both_apps(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for app, port in APP_PORTS.items():
        job = jobs[app]
        assert job["metrics_path"] == "/metrics" and "/metrics" in served_paths(app)
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [app] and sd["port"] == port
    haproxy_target = jobs["haproxy"]["static_configs"][0]["targets"][0]
    assert haproxy_target == "haproxy:8404"
    assert any("bind :8404" in s for s in haproxy_sections()["frontend fe_stats"])


def test_grafana_dashboard_queries_metrics_the_apps_export() -> None:
    import json

    exported = set()
    for source in [*(ROOT / "waitingroom").glob("*.py"), *(ROOT / "ticketing").glob("*.py"),
                   *(ROOT / "fairgate").glob("*.py")]:
        exported |= set(re.findall(r"\"((?:waitingroom|ticketing|fairgate)_[a-z_]+)\"",
                                   source.read_text()))
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fairgate.json").read_text())
    used = {m for panel in dashboard["panels"] for t in panel["targets"]
            for m in re.findall(r"\b((?:waitingroom|ticketing|fairgate)_[a-z_]+)", t["expr"])}
    assert used
    unknown = {m for m in used
               if re.sub(r"_(bucket|count|sum)$", "", m) not in exported}
    assert not unknown, f"dashboard queries metrics nobody exports: {unknown}"


# --- Kubernetes -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_k8s_has_deployments_services_hpa_pdb_config(k8s: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(by_kind(k8s, kind)) == set(APP_PACKAGES), kind
    assert set(by_kind(k8s, "ConfigMap")) == {"fairgate-config"}
    assert set(by_kind(k8s, "Secret")) == {"fairgate-secrets"}


def test_k8s_env_is_what_the_apps_read(k8s: list[dict[str, Any]]) -> None:
    config = by_kind(k8s, "ConfigMap")["fairgate-config"]["data"]
    secret = by_kind(k8s, "Secret")["fairgate-secrets"]["stringData"]
    env = {**config, **secret}
    for app in APP_PACKAGES:
        assert_settings_load(env, app)
    assert env["PG_STATEMENT_CACHE_SIZE"] == "0"
    # DATABASE_URL goes through PgBouncer (transaction mode); LISTEN needs PostgreSQL itself.
    assert urlsplit(env["DATABASE_URL"]).hostname == "pgbouncer"
    assert urlsplit(env["TK_LISTEN_DATABASE_URL"]).hostname == "postgres"


def test_k8s_deployments_probe_serve_and_scale(k8s: list[dict[str, Any]]) -> None:
    services = by_kind(k8s, "Service")
    hpas = by_kind(k8s, "HorizontalPodAutoscaler")
    pdbs = by_kind(k8s, "PodDisruptionBudget")
    config_names = set(by_kind(k8s, "ConfigMap")) | set(by_kind(k8s, "Secret"))
    for name, deployment in by_kind(k8s, "Deployment").items():
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        (container,) = pod["spec"]["containers"]
        assert assert_real_entry_point(container["command"]) == name
        (port,) = container["ports"]
        assert port["containerPort"] == APP_PORTS[name]
        assert f"0.0.0.0:{port['containerPort']}" in container["command"]
        ready = container["readinessProbe"]["httpGet"]
        alive = container["livenessProbe"]["httpGet"]
        assert ready["path"] == health_path(name) and ready["port"] == port["name"]
        # Liveness must not depend on the backend: a Redis outage must not restart every pod.
        assert alive["path"] == "/healthz" and alive["port"] == port["name"]
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs <= config_names
        assert "cpu" in container["resources"]["requests"], "the CPU autoscaler needs requests"

        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == port["name"]
        hpa = hpas[name]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": name}
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
        assert hpa["minReplicas"] >= 2
        pdb = pdbs[name]["spec"]
        assert pdb["selector"]["matchLabels"].items() <= labels.items()


# --- Dockerfile and gunicorn.conf.py ------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_copies_real_files_and_runs_a_real_app() -> None:
    import json

    instructions = dockerfile()
    for op, args in instructions:
        if op == "COPY":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
        if op == "ENV":
            names = set(re.findall(r"([A-Z][A-Z0-9_]*)=", args))
            assert names <= known_env() | BUILD_ENV, names - known_env() - BUILD_ENV
    (cmd,) = [json.loads(args) for op, args in instructions if op == "CMD"]
    assert_real_entry_point(cmd)
    exposed = {int(p) for op, args in instructions if op == "EXPOSE" for p in args.split()}
    assert exposed == set(APP_PORTS.values())


def test_gunicorn_config_uses_aiohttp_worker() -> None:
    import runpy

    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    module, _, cls = config["worker_class"].rpartition(".")
    worker = getattr(__import__(module, fromlist=[cls]), cls)
    from aiohttp.worker import GunicornWebWorker

    assert issubclass(worker, GunicornWebWorker)
    assert config["workers"] >= 1
    assert config["keepalive"] > 10, "must outlive HAProxy's http-keep-alive (10 s)"
