"""nginx in front of local daphne processes, rendered from deploy/nginx/ledgerline.conf.

The deployment file is the source: `render` swaps its upstream servers and its `listen` for
local ports and wraps it in the main context a private nginx needs (pid, logs and temporary
files under one directory), so `make cluster`, the cluster fault scenarios and the cluster
bench all run the configuration a deployment starts from.
"""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "ledgerline.conf"
UPSTREAM_SERVER = re.compile(r"^(?P<indent>[ \t]*)server[ \t]+\S+:\d+(?P<options>[^;\n]*);\n", re.M)
LISTEN = re.compile(r"^(?P<indent>[ \t]*)listen[ \t]+80;", re.M)


def nginx_binary() -> str:
    """nginx from PATH, or Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise SystemExit("nginx is not installed: `make deps` installs it (apt-get install nginx)")
    return found


def site(*, listen: int, daphnes: list[int], text: str | None = None) -> str:
    """The deployment's server block with `listen` on loopback and one upstream line per daphne
    port (each keeping the options of the deployment's lines)."""
    text = SITE.read_text() if text is None else text
    servers = list(UPSTREAM_SERVER.finditer(text))
    if not servers or not daphnes:
        raise ValueError("no upstream server lines to replace, or no daphne ports")
    first = servers[0]
    lines = "".join(
        f"{first['indent']}server 127.0.0.1:{port}{first['options']};\n" for port in daphnes
    )
    kept = text[: first.start()] + lines + UPSTREAM_SERVER.sub("", text[first.start() :])
    rendered, count = LISTEN.subn(rf"\g<indent>listen 127.0.0.1:{listen};", kept)
    if count != 1:
        raise ValueError(f"expected one `listen 80;` in {SITE.name}, found {count}")
    return rendered


def main_context(directory: Path, site_text: str, *, workers: int = 1) -> str:
    """A whole nginx.conf around `site_text`: one worker process (cores go to daphne), and
    every file nginx writes kept under `directory`."""
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    indented = "".join(f"    {line}\n" if line else "\n" for line in site_text.splitlines())
    return "\n".join([
        f"# Rendered from {SITE.relative_to(ROOT)} by config/balancer.py; rewritten at each start.",
        f"worker_processes {workers};",
        f"pid {directory / 'nginx.pid'};",
        f"error_log {directory / 'nginx-error.log'} warn;",
        "events {",
        "    worker_connections 4096;",  # two per proxied WebSocket: client side and daphne side
        "}",
        "http {",
        f"    access_log {directory / 'nginx-access.log'};",
        *(f"    {name}_temp_path {path};" for name, path in temp.items()),
        indented,
        "}",
        "",
    ])  # fmt: skip


def write_config(directory: Path, *, listen: int, daphnes: list[int]) -> Path:
    """Render the configuration into `directory`/nginx.conf and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nginx.conf"
    path.write_text(main_context(directory, site(listen=listen, daphnes=daphnes)))
    return path


def command(config: Path) -> list[str]:
    """nginx in the foreground on `config`, its early error log beside it."""
    directory = config.parent
    return [nginx_binary(), "-p", str(directory), "-e", str(directory / "nginx-error.log"),
            "-c", str(config), "-g", "daemon off;"]  # fmt: skip


def check(config: Path) -> None:
    """`nginx -t` on `config`; raises with nginx's own message when it is refused."""
    tested = subprocess.run(  # noqa: S603 (nginx, on a file we rendered)
        [*command(config)[:-2], "-t", "-q"], capture_output=True, text=True, check=False
    )
    if tested.returncode:
        raise RuntimeError(f"nginx refused {config}: {tested.stderr.strip()}")
