"""``agrifin``: a thin dispatcher. Platform commands live here; each service adds its own
commands from ``services/<name>/cli.py`` (a ``register(app)`` function)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from sqlalchemy import select

from services.demo.cli import register as register_demo
from services.registry import (
    SERVICE_NAMES,
    definition,
    service_bootstrap,
    service_cli,
    service_jobs,
)
from shared.audit import verify_chain
from shared.auth import (
    OWNED_ROLES,
    Role,
    active_key_hashes,
    create_api_key,
    hash_api_key,
    list_api_keys,
    revoke_api_key_hash,
)
from shared.crypto import Keyring
from shared.migrate import upgrade
from shared.observability import configure_logging
from shared.platform import ServiceContext
from shared.serving import WorkerCountError, serve_app, worker_count
from shared.worker import platform_jobs, run_jobs

app = typer.Typer(help="agrifin: scoring, escrow and loans for rural e-commerce.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys and cryptographic keys.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

DEV_MARKETPLACE = "dev-marketplace"
HEAD_PATTERN = re.compile(r"[0-9]+:[0-9a-f]{64}")
"""An audit chain head as ``agrifin audit verify`` prints it: ``SEQ:HASH``."""
ServiceOpt = Annotated[str | None, typer.Option("--service", "-s", help="One service; all when omitted.")]


def _names(service: str | None) -> tuple[str, ...]:
    if service is None:
        return SERVICE_NAMES
    if service not in SERVICE_NAMES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICE_NAMES)}")
    return (service,)


def _context(name: str) -> ServiceContext:
    return ServiceContext.build(definition(name))


@db_app.command("upgrade")
def db_upgrade(service: Annotated[str | None, typer.Argument()] = None) -> None:
    """Migrate one service's database (or all) to head."""
    for name in _names(service):
        svc = definition(name)
        upgrade(svc, svc.settings_factory().database_url)
        typer.echo(f"{name}: migrated to head")


@keys_app.command("init")
def keys_init() -> None:
    """Generate any missing signing/encryption/lookup keys (development keys)."""
    settings = definition("scoring").settings_factory()
    Keyring.generate(settings.resolved_keys_dir, development=settings.env != "production")
    typer.echo(f"keys in {settings.resolved_keys_dir}")


@keys_app.command("rotate-signing")
def keys_rotate_signing() -> None:
    """Add a signing key that signs from now on; retired keys stay published and keep verifying."""
    from datetime import UTC, datetime

    from shared.crypto import CryptoError

    settings = definition("scoring").settings_factory()
    try:
        key_id = Keyring.rotate_signing(settings.resolved_keys_dir, now=datetime.now(UTC))
    except CryptoError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    ring = Keyring.load(settings.resolved_keys_dir)
    typer.echo(json.dumps({"signing_key": key_id, "keys": ring.public_keys()}, indent=2))


def _store_key(role: Role, owner: str | None, label: str | None, key: str | None = None) -> str:
    """Store a key in every service's database (same key, same role everywhere)."""
    plaintext = key
    for name in SERVICE_NAMES:
        ctx = _context(name)
        with ctx.db.unit_of_work() as session:
            t = ctx.tables.api_keys
            stored = plaintext is not None and (
                session.execute(select(t.c.id).where(t.c.key_hash == hash_api_key(plaintext))).first()
            )
            if not stored:
                _, plaintext = create_api_key(
                    session,
                    ctx.tables,
                    role=role,
                    owner=owner,
                    label=label,
                    now=ctx.clock.now(),
                    key=plaintext,
                )
        ctx.db.dispose()  # also when the key was there already (a second bootstrap)
    assert plaintext is not None
    return plaintext


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", "-r")],
    owner: Annotated[str | None, typer.Option("--owner", help="Bind the key to one owner.")] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
) -> None:
    """Create an API key for a role (printed once; only its hash is stored).

    A marketplace key needs --owner (its marketplace); a service key needs --owner naming the
    calling service (``--role service --owner loans`` is loans' credential, ``service:loans``)."""
    if role in OWNED_ROLES and not owner:
        what = (
            "the marketplace"
            if role is Role.MARKETPLACE
            else f"the calling service ({', '.join(SERVICE_NAMES)})"
        )
        raise typer.BadParameter(f"a {role.value} key needs --owner: {what}", param_hint="--owner")
    if role is Role.SERVICE and owner not in SERVICE_NAMES:
        raise typer.BadParameter(
            f"a service key is owned by the service that holds it: one of {', '.join(SERVICE_NAMES)}",
            param_hint="--owner",
        )
    typer.echo(_store_key(role, owner, label))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    ctx = _context("scoring")
    with ctx.db.unit_of_work() as session:
        for row in list_api_keys(session, ctx.tables):
            state = "revoked" if row["revoked_at"] else "active"
            typer.echo(f"{row['id']}  {row['prefix']}…  {row['role']:<15} {row['owner'] or '-':<20} {state}")
    ctx.db.dispose()


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke one API key (by id or prefix) in every service; a prefix must name one key."""
    matches: dict[str, str] = {}
    for name in SERVICE_NAMES:
        ctx = _context(name)
        with ctx.db.unit_of_work(read_only=True) as session:
            matches.update(active_key_hashes(session, ctx.tables, key_id))
        ctx.db.dispose()
    if not matches:
        typer.echo(f"no active API key {key_id!r}", err=True)
        raise typer.Exit(1)
    if len(matches) > 1:
        typer.echo(
            f"{key_id!r} matches {len(matches)} active API keys ({', '.join(sorted(matches.values()))}); "
            "nothing revoked: give one key's id (agrifin keys list)",
            err=True,
        )
        raise typer.Exit(1)
    (key_hash,) = matches
    for name in SERVICE_NAMES:  # the same key is stored in every service, under its own id
        ctx = _context(name)
        with ctx.db.unit_of_work() as session:
            revoke_api_key_hash(session, ctx.tables, key_hash=key_hash, now=ctx.clock.now())
        ctx.db.dispose()
    typer.echo(f"revoked {key_id}")


@audit_app.command("verify")
def audit_verify(
    service: ServiceOpt = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="SEQ:HASH of chain 0 recorded from an earlier run (needs --service); detects truncation.",
        ),
    ] = None,
) -> None:
    """Verify each service's audit chains and anchors; name the first broken entry; print chain 0's head
    to record."""
    if expect_head is not None and service is None:
        raise typer.BadParameter("--expect-head applies to one chain: give --service")
    if expect_head is not None and not HEAD_PATTERN.fullmatch(expect_head):
        # A malformed head would anchor nothing, and a truncated chain would pass as ok.
        raise typer.BadParameter(
            f"{expect_head!r} is not a head as verify prints it: SEQ:HASH (64 hex digits)",
            param_hint="--expect-head",
        )
    failed = False
    for name in _names(service):
        ctx = _context(name)
        with ctx.db.unit_of_work(read_only=True) as session:
            report = verify_chain(session, ctx.tables, ctx.keyring, expect_head=expect_head)
        ctx.db.dispose()
        if report.ok:
            typer.echo(
                f"{name}: ok ({report.entries} entries in {report.chains} chains, {report.anchors} anchors, "
                f"{report.unanchored} not anchored yet; head {report.head_seq}:{report.head_hash})"
            )
        else:
            failed = True
            where = f"chain {report.first_broken_chain} entry {report.first_broken_chain_seq}"
            seq = "" if report.first_broken_seq is None else f" (seq {report.first_broken_seq})"
            typer.echo(f"{name}: BROKEN at {where}{seq}: {report.reason}")
    raise typer.Exit(1 if failed else 0)


def _dev_keys(existing: dict[str, str]) -> dict[str, str]:
    """One key per person-facing role and one credential per service (``service:<name>``)."""
    owners = {Role.MARKETPLACE: DEV_MARKETPLACE}  # a marketplace key always belongs to one marketplace
    keys = {
        role.value: _store_key(role, owners.get(role), "dev", existing.get(role.value))
        for role in Role
        if role is not Role.SERVICE
    }
    for name in SERVICE_NAMES:
        credential = f"{Role.SERVICE.value}:{name}"
        keys[credential] = _store_key(Role.SERVICE, name, "dev", existing.get(credential))
    return keys


def _revoke_everywhere(key: str) -> None:
    for name in SERVICE_NAMES:
        ctx = _context(name)
        with ctx.db.unit_of_work() as session:
            revoke_api_key_hash(session, ctx.tables, key_hash=hash_api_key(key), now=ctx.clock.now())
        ctx.db.dispose()


@app.command()
def bootstrap(
    dev_keys: Annotated[
        Path | None, typer.Option(help="Where to write the keys; default <AGRIFIN_VAR_DIR>/dev-keys.json.")
    ] = None,
) -> None:
    """Prepare a first start: keys, migrations, API keys per role and per service, service data."""
    var_dir = definition(SERVICE_NAMES[0]).settings_factory().var_dir
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(var_dir, 0o700)  # keys, databases and secrets live here
    dev_keys = dev_keys if dev_keys is not None else var_dir / "dev-keys.json"
    keys_init()
    db_upgrade(None)
    existing: dict[str, str] = json.loads(dev_keys.read_text()) if dev_keys.exists() else {}
    keys = _dev_keys(existing)
    legacy = existing.get(Role.SERVICE.value)
    if legacy:  # the one key every service shared, before each had its own credential
        _revoke_everywhere(legacy)
    dev_keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(dev_keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh, indent=2)
    os.chmod(dev_keys, 0o600)
    for name in SERVICE_NAMES:
        ctx = _context(name)
        service_bootstrap(name, ctx)
        ctx.db.dispose()
    typer.echo(f"API keys per role and service credential: {dev_keys.resolve()}")


def workers_of(service: str) -> int:
    """``service``'s number of processes (``AGRIFIN_<SERVICE>_WORKERS``, default the cores)."""
    try:
        return worker_count(service)
    except WorkerCountError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def serve(service: str) -> None:
    """Serve one service with uvicorn on ``AGRIFIN_<SERVICE>_WORKERS`` processes (default: one per
    core; port from its settings); SIGTERM drains in-flight requests for up to
    ``AGRIFIN_STOP_GRACE_SECONDS``."""
    svc = definition(service)
    settings = svc.settings_factory()
    workers = workers_of(service)
    grace = max(1, int(stop_grace_seconds()))
    configure_logging(settings.log_level, service=service)
    serve_app(
        f"services.{service}.app:create_app",
        service=service,
        host=settings.host,
        port=settings.port,
        workers=workers,
        grace_seconds=grace,
        log_level=settings.log_level,
    )


STOP_GRACE_ENV = "AGRIFIN_STOP_GRACE_SECONDS"
DEFAULT_STOP_GRACE_SECONDS = 20.0
KILL_MARGIN_SECONDS = 5.0
"""How much longer than the grace ``run`` waits for a child before it kills it (the child
uses the grace itself, then needs a moment to exit)."""


def stop_grace_seconds() -> float:
    """The grace period a stopping process gives its in-flight work (``AGRIFIN_STOP_GRACE_SECONDS``)."""
    raw = os.environ.get(STOP_GRACE_ENV, "").strip()
    try:
        grace = float(raw) if raw else DEFAULT_STOP_GRACE_SECONDS
    except ValueError:
        raise typer.BadParameter(f"{STOP_GRACE_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 <= grace <= 3600:
        raise typer.BadParameter(f"{STOP_GRACE_ENV} must be between 0 and 3600 seconds, not {grace:g}")
    return grace


@app.command()
def worker() -> None:
    """Run the background worker: outbox delivery and every service's periodic jobs.

    On SIGTERM or SIGINT it claims no new work; each job finishes and records the item in
    hand within ``AGRIFIN_STOP_GRACE_SECONDS`` (default 20). Exits 1 naming the jobs that did not.
    """
    configure_logging(os.environ.get("AGRIFIN_LOG_LEVEL", "INFO"), service="worker")
    grace = stop_grace_seconds()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    client = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
    jobs = []
    for name in SERVICE_NAMES:
        ctx = _context(name)
        jobs += platform_jobs(ctx, client) + service_jobs(name, ctx)
    unfinished = run_jobs(jobs, stop, grace=grace)
    if unfinished:
        typer.echo(
            f"worker: {', '.join(unfinished)} still running {grace:g} s after the stop; exiting without them",
            err=True,
        )
        sys.stderr.flush()
        os._exit(1)  # their threads are stuck in a call; do not wait for them at interpreter exit
    client.close()
    typer.echo("worker: stopped; every job finished its work in hand")


def supervise(commands: dict[str, list[str]], stopping: threading.Event, *, grace: float) -> int:
    """Start ``commands`` and watch them until ``stopping`` is set or one exits; then stop all.

    Each child gets SIGTERM and ``grace`` (plus ``KILL_MARGIN_SECONDS``) to finish; one still
    running then is killed. The exit code is non-zero when a child exited early, exited
    non-zero while stopping, or had to be killed; each is named on stderr.
    """
    children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
    exit_code = 0
    while not stopping.is_set():
        for name, child in children.items():
            if child.poll() is not None:
                typer.echo(f"{name} exited with {child.returncode}; stopping everything", err=True)
                exit_code = child.returncode or 1
                stopping.set()
        stopping.wait(0.5)
    running = {name: child for name, child in children.items() if child.poll() is None}
    for child in running.values():
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + KILL_MARGIN_SECONDS
    for name, child in running.items():
        try:
            code = child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            typer.echo(f"{name} did not stop within {grace:g} s of SIGTERM; killed", err=True)
            exit_code = exit_code or 1
            continue
        # uvicorn drains, then re-raises the SIGTERM it caught, so a clean stop ends "by SIGTERM"
        if code not in (0, -signal.SIGTERM):
            typer.echo(f"{name} exited with {code} while stopping", err=True)
            exit_code = exit_code or 1
    return exit_code


@app.command()
def run() -> None:
    """Start scoring, escrow, loans, the console and the worker in the foreground; Ctrl-C stops all.

    Each service runs ``AGRIFIN_<SERVICE>_WORKERS`` processes (default: one per core).

    Children get ``AGRIFIN_STOP_GRACE_SECONDS`` to drain; exits non-zero, naming it, when a
    child had to be killed or did not stop cleanly.
    """
    grace = stop_grace_seconds()
    workers = {name: workers_of(name) for name in SERVICE_NAMES}  # refuse a bad count before starting
    commands = {name: [sys.executable, "-m", "services.cli", "serve", name] for name in SERVICE_NAMES}
    commands["worker"] = [sys.executable, "-m", "services.cli", "worker"]
    for name in SERVICE_NAMES:
        port = definition(name).settings_factory().port
        processes = f"{workers[name]} process{'es' if workers[name] > 1 else ''}"
        typer.echo(f"{name}: http://127.0.0.1:{port}  ({processes}; docs at /docs)")
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    raise typer.Exit(supervise(commands, stopping, grace=grace))


for _name in SERVICE_NAMES:
    _module = service_cli(_name)
    if _module is not None:
        _module.register(app)
register_demo(app)  # a client of the running system, not a service


OPTIONAL_VALUE_OPTIONS = {"--dask": "local"}
"""Options whose value may be left out (typer cannot say so): a bare one gets this value."""


def with_optional_values(argv: list[str]) -> list[str]:
    """``argv`` with a bare ``--dask`` (last, or followed by another option) as ``--dask=local``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":  # everything after it is an argument, not an option
            return out + argv[i:]
        following = argv[i + 1] if i + 1 < len(argv) else None
        bare = following is None or following.startswith("-")
        out.append(f"{arg}={OPTIONAL_VALUE_OPTIONS[arg]}" if arg in OPTIONAL_VALUE_OPTIONS and bare else arg)
    return out


def main() -> None:
    """Console-script entry point."""
    app(args=with_optional_values(sys.argv[1:]), prog_name="agrifin")


if __name__ == "__main__":
    main()
