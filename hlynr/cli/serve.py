"""``hlynr serve``: watch and steer the runs under a folder from a browser.

    hlynr serve                                   # http://127.0.0.1:8765, runs/ and configs/
    hlynr serve --runs-dir runs --configs-dir configs --port 9000
    hlynr serve --host 0.0.0.0                    # another address: a token is required
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import secrets
import socket
from pathlib import Path

from hlynr.cli.common import CliError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def build_parser() -> argparse.ArgumentParser:
    """The ``hlynr serve`` argument parser."""
    p = argparse.ArgumentParser(prog="hlynr serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs-dir", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--configs-dir", default="configs",
                   help="folder of configs the page may start runs from (default: configs)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--token", help="token required on every API call and WebSocket "
                                   "(generated and printed when binding a non-loopback address)")
    return p


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback address."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for the server, bound before anything is announced so that
    a port in use is one ``error:`` line (:class:`CliError`)."""
    bare = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in bare else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds its own
        sock.bind((bare, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"port {port} on {host} is in use: {reason}") from None
        raise CliError(f"cannot listen on {host} port {port}: {reason}") from None
    return sock


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr serve``."""
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: must be 1-65535")
    if args.token is not None and len(args.token) < 16:
        raise CliError("--token must be at least 16 characters")
    runs_dir, configs_dir = Path(args.runs_dir), Path(args.configs_dir)
    if not runs_dir.is_dir():
        raise CliError(f"--runs-dir {runs_dir}: no such folder")
    if not configs_dir.is_dir():
        raise CliError(f"--configs-dir {configs_dir}: no such folder")
    token = args.token
    loopback = is_loopback(args.host)
    if not loopback and token is None:
        token = secrets.token_urlsafe(24)
    import uvicorn  # the server's packages (uvicorn, FastAPI): not for --help or a bad argument

    from hlynr.server import create_app

    allowed = [*LOOPBACK_NAMES] if loopback else None
    sock = listen_socket(args.host, args.port)
    try:
        app = create_app(runs_dir, configs_dir, token=token, allowed_hosts=allowed)
        shown = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
        url = f"http://{shown}:{args.port}/" + (f"#token={token}" if token else "")
        print(f"hlynr dashboard on {url}  (runs: {runs_dir}, configs: {configs_dir})", flush=True)
        if token and not args.token:
            print(f"token: {token}", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"))
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1
