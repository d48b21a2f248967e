"""The verification service and its API clients.

    dsc serve [--host H] [--port P] [--workers N] [--tls-cert F --tls-key F]
              [--forwarded-allow-ips IPS]
    dsc api-client add NAME --scope verify|support     (prints the token once)
    dsc api-client list | revoke NAME

The service is `host_tools.web` under uvicorn; this module only parses and starts it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from host_tools.cli.exits import UsageError
from host_tools.cli.options import add, common, emit, open_registry, stderr
from provisioning import apiclients
from provisioning.db import is_postgres_url
from provisioning.registry import default_db_url


def register(sub: Any) -> None:
    c = [common()]
    p = add(sub, "serve", _serve, "run the verification service (REST API, docs/service.md)", c)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--workers", type=int, default=1,
                   help="service processes (PostgreSQL only; SQLite runs one)")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="... and this private key (PEM)")
    p.add_argument("--forwarded-allow-ips", metavar="IPS",
                   help="behind a reverse proxy: the proxy addresses (comma-separated) whose "
                        "X-Forwarded-For/-Proto headers are trusted")
    p.add_argument("--no-access-log", action="store_true", help="no line per request")
    api = sub.add_parser("api-client", help="who may call the service: add, list, revoke")
    asub = api.add_subparsers(dest="api_client_command", metavar="ACTION", required=True)
    p = add(asub, "add", _add, "add an API client and print its bearer token (shown once)", c)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--scope", choices=apiclients.SCOPES, required=True,
                   help="verify: challenges and responses; support: the support actions")
    p = add(asub, "list", _list, "list API clients", c)
    p.add_argument("--all", action="store_true", help="include revoked ones")
    add(asub, "revoke", _revoke, "revoke an API client's token", c) \
        .add_argument("name", metavar="NAME")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from host_tools.web.app import Settings, check_registry

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("give --tls-cert and --tls-key together")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    url = args.db or default_db_url()
    workers = args.workers
    if workers > 1 and not is_postgres_url(url):
        stderr(f"dsc serve: SQLite registry: running one process, not {workers} (SQLite "
               f"serialises writers; use a postgresql:// registry for --workers)")
        workers = 1
    # The worker processes read their settings from the environment (paths and URLs only).
    os.environ["DSC_DB"] = url
    if args.master_key_file:
        os.environ["DSC_MASTER_KEY_FILE"] = str(args.master_key_file)
    os.environ.setdefault("DSC_SERVE_POOL", "8" if is_postgres_url(url) else "4")
    check_registry(Settings.from_env())
    scheme = "https" if args.tls_cert else "http"
    stderr(f"dsc serve: {scheme}://{args.host}:{args.port}/ ({workers} process"
           f"{'es' if workers > 1 else ''}; API docs at /openapi.json)")
    options: dict[str, Any] = dict(
        factory=True, host=args.host, port=args.port, workers=workers,
        ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
        proxy_headers=bool(args.forwarded_allow_ips),
        forwarded_allow_ips=args.forwarded_allow_ips or "127.0.0.1",
        access_log=not args.no_access_log, server_header=False,
        # the soft card's activation socket: small messages, no compression (no inflate bombs)
        ws="websockets-sansio", ws_max_size=16 * 1024, ws_per_message_deflate=False,
        loop="uvloop", http="httptools")  # pinned (requirements/host.txt): the cheapest pair
    if workers > 1:  # one listening socket shared by the worker processes
        from host_tools.web.listen import run_workers

        run_workers("host_tools.web.app:app_from_env", **options)
    else:
        uvicorn.run("host_tools.web.app:app_from_env", **options)
    return 0


def _add(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        token = apiclients.add(reg, args.name, args.scope)
    emit(args, {"name": args.name, "scope": args.scope, "token": token, "status": "active"},
         token)
    stderr(f"API client {args.name} ({args.scope}): the token above is shown once; the "
           f"registry keeps only its hash")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        found = apiclients.clients(reg, include_revoked=args.all)
    emit(args, {"clients": [c.as_json() for c in found]},
         "\n".join(f"{c.name:<24} {c.scope:<8} {c.as_json()['status']}" for c in found)
         or "no API clients")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        apiclients.revoke(reg, args.name)
    emit(args, {"name": args.name, "status": "revoked"}, f"API client {args.name} revoked")
    return 0
