"""`make serve`: the production stack on one machine, what you expose to the internet.

    .venv/bin/python scripts/serve.py [--host 127.0.0.1] [--port 8080] [-- GUNICORN OPTIONS]

Starts gunicorn (production settings: ``DA_ENV=production``, the secret key from
``instance/secret_key``, ``DA_TRUSTED_PROXY_HOPS=1``) on a loopback port, and Debian's nginx in
front of it with the configuration in ``deploy/nginx.conf`` (its own prefix, pid file and
temporary folder; nothing system-wide is read or changed), both logging to ``instance/logs/``.
Ctrl-C (or SIGTERM) stops both. When nginx is missing and this runs as root on Debian, it is
installed from Debian's packages first (``apt-get install nginx``), as CI needs.

`make play` is for playing on your own machine; this is the stack to put behind TLS
(docs/hosting.md).
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from webapp.config import max_body_bytes  # noqa: E402

#: nginx's worker user when started as root (Debian's nginx package creates it)
WORKER_USER = "www-data"
#: without options (``make serve`` passes the Makefile's); the workers are gunicorn.conf.py's
DEFAULT_GUNICORN = ["--worker-class", "gthread", "--threads", "8", "--timeout", "60"]


def find_nginx() -> str:
    """Path of nginx, installing Debian's package first when missing and allowed (root)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx is missing: installing Debian's nginx", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        return find_nginx()
    sys.exit("make serve needs nginx: sudo apt-get install nginx (Debian/Ubuntu)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_config(path: Path, *, host: str, port: int, upstream: str, runtime: Path,
                  logs: Path, temp: Path) -> None:
    """Write deploy/nginx.conf with this run's values to ``path``."""
    values = {"user_line": f"user {WORKER_USER};" if os.geteuid() == 0
              else "# (not root: the workers run as you)",
              "host": host, "port": port, "upstream": upstream, "runtime": runtime, "logs": logs,
              "temp": temp, "max_body": max_body_bytes()}
    text = re.sub(r"@@(\w+)@@", lambda m: str(values[m.group(1)]),
                  (REPO / "deploy" / "nginx.conf").read_text())
    path.write_text(text)


def private_temp() -> Path:
    """A fresh folder for nginx's buffered bodies, writable by its worker processes only."""
    temp = Path(tempfile.mkdtemp(prefix="da-nginx-"))
    if os.geteuid() == 0:
        worker = pwd.getpwnam(WORKER_USER)
        os.chown(temp, worker.pw_uid, worker.pw_gid)
    return temp


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}: see instance/logs/")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start in time: see instance/logs/gunicorn-error.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVE_PORT", 8080)))
    parser.add_argument("--instance", type=Path, default=REPO / "instance",
                        help="folder for the runtime files and logs (default: instance/)")
    parser.add_argument("gunicorn", nargs="*", help="gunicorn options (after --)")
    args = parser.parse_args(argv)

    nginx = find_nginx()
    runtime, logs = args.instance / "serve", args.instance / "logs"
    runtime.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    temp = private_temp()
    upstream_port = free_port()
    conf = runtime / "nginx.conf"
    try:
        render_config(conf, host=args.host, port=args.port, upstream=f"127.0.0.1:{upstream_port}",
                      runtime=runtime.resolve(), logs=logs.resolve(), temp=temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise

    env = {**os.environ, "DA_ENV": "production",
           "DA_TRUSTED_PROXY_HOPS": os.environ.get("DA_TRUSTED_PROXY_HOPS", "1")}
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    gunicorn = subprocess.Popen(
        [gunicorn_bin, *(args.gunicorn or DEFAULT_GUNICORN), "--bind", f"127.0.0.1:{upstream_port}",
         "--access-logfile", str(logs / "gunicorn-access.log"),
         "--error-logfile", str(logs / "gunicorn-error.log"), "wsgi:app"],
        cwd=REPO, env=env)
    nginx_process: subprocess.Popen | None = None

    def stop(*_: object) -> None:
        for process, sig in ((nginx_process, signal.SIGQUIT), (gunicorn, signal.SIGTERM)):
            if process is not None and process.poll() is None:
                process.send_signal(sig)
        for process in (nginx_process, gunicorn):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(temp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_for_port(upstream_port, gunicorn)
        check = subprocess.run([nginx, "-t", "-q", "-p", str(runtime), "-c", str(conf),
                                "-e", str(logs / "nginx-error.log")], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx refused its configuration:\n{check.stderr}")
        nginx_process = subprocess.Popen([nginx, "-p", str(runtime), "-c", str(conf),
                                          "-e", str(logs / "nginx-error.log"), "-g", "daemon off;"])
        print(f"serving on http://{args.host}:{args.port} (nginx -> gunicorn 127.0.0.1:"
              f"{upstream_port}, production settings); logs in {logs}/; Ctrl-C stops",
              flush=True)
        while gunicorn.poll() is None and nginx_process.poll() is None:
            time.sleep(0.5)
        return 1  # one of them died on its own
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
