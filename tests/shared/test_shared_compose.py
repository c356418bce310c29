"""docker-compose.yml describes a real deployment: two replicas of each service and two workers
behind an nginx proxy (deploy/nginx.conf). Docker itself does not run here: these tests read
the files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"scoring": 8001, "escrow": 8002, "loans": 8003, "console": 8000}
REPLICAS = ("1", "2")
WORKERS = ("worker-1", "worker-2")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _nginx() -> str:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    return re.sub(r"#[^\n]*", "", text)  # comments out


def _upstreams(conf: str) -> dict[str, list[str]]:
    """upstream name -> the ``host:port`` of each of its servers."""
    blocks = re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    return {name: re.findall(r"^\s*server\s+(\S+)", body, re.MULTILINE) for name, body in blocks}


def _listeners(conf: str) -> dict[int, str]:
    """listening port -> the upstream its ``location /`` passes to."""
    routes = re.findall(r"listen\s+(\d+);\s*location\s+/\s*\{\s*proxy_pass\s+http://(\w+);", conf)
    return {int(port): upstream for port, upstream in routes}


def test_every_process_is_declared_two_replicas_of_each_service_and_two_workers() -> None:
    replicas = {f"{name}-{n}" for name in PORTS for n in REPLICAS}
    assert set(_compose()["services"]) == {"postgres", "migrate", "proxy", *replicas, *WORKERS}


def test_each_replica_serves_its_service_on_its_own_database_and_port_unpublished() -> None:
    services = _compose()["services"]
    for name, port in PORTS.items():
        first, second = (services[f"{name}-{n}"] for n in REPLICAS)
        assert first == second, f"the replicas of {name} differ"
        env = first["environment"]
        assert first["build"] == "." and first["image"] == "agrifin:latest"
        assert first["command"] == ["agrifin", "serve", name]
        assert env[f"AGRIFIN_{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert env[f"AGRIFIN_{name.upper()}_HOST"] == "0.0.0.0"  # inside its container
        assert env[f"AGRIFIN_{name.upper()}_PORT"] == str(port)
        assert env["AGRIFIN_ENV"] == "production"
        assert "ports" not in first, f"{name}: only the proxy publishes ports"
        probe = " ".join(first["healthcheck"]["test"])
        assert "/readyz" in probe and str(port) in probe
        assert first["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert first["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_each_replica_says_how_many_processes_it_serves_with() -> None:
    services = _compose()["services"]
    for name in PORTS:
        workers = services[f"{name}-1"]["environment"][f"AGRIFIN_{name.upper()}_WORKERS"]
        assert int(workers.rpartition(":-")[2].rstrip("}")) >= 1  # not left to the host's cores


def test_migrations_run_once_before_the_replicas() -> None:
    migrate = _compose()["services"]["migrate"]
    assert migrate["command"] == ["agrifin", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert "migrate" not in migrate["depends_on"]
    for name in PORTS:
        assert all(
            f"@postgres:5432/{name}" in v for k, v in migrate["environment"].items() if name.upper() in k
        )


def test_two_workers_run_every_job_on_every_database() -> None:
    services = _compose()["services"]
    first, second = (services[name] for name in WORKERS)
    assert first == second
    assert first["command"] == ["agrifin", "worker"] and first["build"] == "."
    for name in PORTS:
        assert first["environment"][f"AGRIFIN_{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
    assert "healthcheck" in first and "healthcheck" in services["postgres"]
    assert first["depends_on"]["proxy"]["condition"] == "service_healthy"


def test_every_service_reaches_the_others_through_the_proxy() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if isinstance(value, str) and value.startswith("http"):
                assert value.startswith("http://proxy:"), f"{name}: {key}={value} bypasses the proxy"
    loans = services["loans-1"]["environment"]
    assert loans["AGRIFIN_LOANS_SCORING_URL"] == "http://proxy:8001"
    assert loans["AGRIFIN_LOANS_ESCROW_URL"] == "http://proxy:8002"
    assert loans["AGRIFIN_LOANS_PUBLIC_URL"] == "http://proxy:8003"  # where escrow delivers sweeps
    assert services["worker-1"]["environment"]["AGRIFIN_LOANS_ESCROW_URL"] == "http://proxy:8002"
    assert loans["AGRIFIN_LOANS_SCORING_API_KEY"] == loans["AGRIFIN_LOANS_ESCROW_API_KEY"]


def test_the_proxy_is_nginx_publishing_each_service_port_once_every_replica_is_healthy() -> None:
    proxy = _compose()["services"]["proxy"]
    assert proxy["image"].startswith("nginx:") and "alpine" in proxy["image"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert sorted(proxy["ports"]) == sorted(f"{port}:{port}" for port in PORTS.values())
    assert "/healthz" in " ".join(proxy["healthcheck"]["test"])
    replicas = {f"{name}-{n}" for name in PORTS for n in REPLICAS}
    assert {k: v["condition"] for k, v in proxy["depends_on"].items()} == dict.fromkeys(
        replicas, "service_healthy"
    )


def test_the_proxy_config_routes_each_port_to_an_upstream_naming_both_replicas() -> None:
    conf, services = _nginx(), _compose()["services"]
    upstreams = _upstreams(conf)
    assert set(upstreams) == set(PORTS)
    assert _listeners(conf) == {port: name for name, port in PORTS.items()}
    for name, port in PORTS.items():
        assert upstreams[name] == [f"{name}-{n}:{port}" for n in REPLICAS]
        for server in upstreams[name]:
            assert server.split(":")[0] in services, f"{server} is no compose service"
    # passive health checks on every upstream server, re-resolved names
    bodies = re.findall(r"upstream\s+\w+\s*\{([^}]*)\}", conf)
    servers = [s for body in bodies for s in re.findall(r"^\s*server\s+[^;]*;", body, re.MULTILINE)]
    assert len(servers) == 2 * len(PORTS)
    assert all("max_fails=" in s and "fail_timeout=" in s and " resolve" in s for s in servers), servers
    assert re.search(r"^\s*resolver\s+127\.0\.0\.11\b", conf, re.MULTILINE)
    assert re.search(r"listen\s+8080;\s*location\s*=\s*/healthz", conf)


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.lock" in text
