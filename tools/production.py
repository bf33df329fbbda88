"""`python -m tools.production --rasa 2 --actions 2` (`make run-prod`): the production profile on
one machine. N Rasa servers and M action servers on consecutive ports from RASA_PORT and
ACTIONS_PORT, the backend, the workers (outbox, notifier...), and Debian's nginx in front, all
started and watched like `make run` does (tools/supervise.py: a process that dies is started again).
The shared stores are required: trackers on PostgreSQL (TRACKER_STORE_URL), conversation locks and
the channels' state on Redis (LOCK_STORE_URL), the outbox, notices and followers on PostgreSQL
(ASSISTANT_STORE_URL), reports on PostgreSQL (DATABASE_URL).

It serves the public, so the development keys never stand in: BACKEND_API_KEYS,
BACKEND_OPERATOR_KEYS and RASA_API_TOKEN are required.

nginx (deploy/nginx/) runs in the foreground as the current user, its configuration and logs
under DATA_DIR/nginx. It listens on three consecutive ports from `--port`: the public one (the
webhooks, the web chat, the backend's public routes; on `--public-host`), the action servers for
the Rasa servers' `action_endpoint`, and Rasa's HTTP API for the workers (RASA_URL) and nothing
else (both on loopback). Model reloads go to each Rasa server (RASA_REPLICA_URLS). Photo links
point at the public port unless BACKEND_PUBLIC_URL says otherwise.

`python -m tools.production --nginx-config ...` prints the site configuration for servers
elsewhere (see the README's "Production profile").
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence
from urllib.parse import urlsplit

import psycopg2
import redis
from sqlalchemy.engine import make_url

from bot import cli
from bot.admin import models
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from tools import supervise
from tools.processes import port_in_use, wait_until_up

TEMPLATES = PROJECT_ROOT / "deploy" / "nginx"
SITE_TEMPLATE = TEMPLATES / "hue-phan-anh.conf.template"
MAIN_TEMPLATE = TEMPLATES / "local-main.conf.template"
# A server that failed this often within FAIL_TIMEOUT_S is left out for FAIL_TIMEOUT_S.
MAX_FAILS = 2
FAIL_TIMEOUT_S = 10
RASA_START_TIMEOUT_S = 300


def render(template: str, values: Dict[str, str], *, tls: bool) -> str:
    """The template with `@NAME@` filled in; its `#tls:` lines kept with TLS, `#plain:` without."""
    lines = []
    for line in template.splitlines():
        for prefix, wanted in (("#tls:", tls), ("#plain:", not tls)):
            if line.startswith(prefix):
                line = line[len(prefix):] if wanted else ""
                break
        else:
            lines.append(line)
            continue
        if line:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    missing = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in the nginx template")
    return text


def upstream(addresses: Sequence[str]) -> str:
    return "\n".join(f"    server {address} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT_S}s;"
                     for address in addresses)


def site_config(*, rasa: Sequence[str], actions: Sequence[str], backend: Sequence[str], listen: str,
                actions_listen: str, rasa_api_listen: str, server_name: str, access_log: str,
                tls_certificate: Optional[str] = None, tls_certificate_key: Optional[str] = None) -> str:
    """The site file (deploy/nginx/hue-phan-anh.conf.template) for these servers ("host:port")."""
    return render(SITE_TEMPLATE.read_text(), {
        "RASA_SERVERS": upstream(rasa), "ACTION_SERVERS": upstream(actions), "BACKEND_SERVERS": upstream(backend),
        "LISTEN": listen, "ACTIONS_LISTEN": actions_listen, "RASA_API_LISTEN": rasa_api_listen,
        "SERVER_NAME": server_name,
        "ACCESS_LOG": access_log, "TLS_CERTIFICATE": tls_certificate or "",
        "TLS_CERTIFICATE_KEY": tls_certificate_key or "",
    }, tls=tls_certificate is not None)


@dataclass(frozen=True)
class Profile:
    """Where each process of the local production profile listens."""

    rasa_ports: Sequence[int]
    actions_ports: Sequence[int]
    port: int  # nginx: public; +1 action servers; +2 Rasa's HTTP API
    public_host: str = "127.0.0.1"  # the address the public port listens on

    @classmethod
    def consecutive(cls, settings: Settings, rasa: int, actions: int, port: int,
                    public_host: str = "127.0.0.1") -> "Profile":
        return cls([settings.rasa_port + i for i in range(rasa)],
                   [settings.actions_port + i for i in range(actions)], port, public_host)

    @property
    def actions_proxy_port(self) -> int:
        return self.port + 1

    @property
    def rasa_api_port(self) -> int:
        return self.port + 2

    @property
    def url(self) -> str:
        """The public port, as reached from this machine."""
        host = "127.0.0.1" if self.public_host in ("0.0.0.0", "*") else self.public_host
        return f"http://{host}:{self.port}"

    @property
    def rasa_api_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_api_port}"

    def replica_urls(self) -> List[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def ports(self, settings: Settings) -> Dict[str, int]:
        """Every port the profile listens on, by what listens."""
        named = {f"rasa {i + 1}": port for i, port in enumerate(self.rasa_ports)}
        named.update({f"actions {i + 1}": port for i, port in enumerate(self.actions_ports)})
        named.update({"nginx": self.port, "nginx (action servers)": self.actions_proxy_port,
                      "nginx (Rasa API)": self.rasa_api_port})
        named.update({name: port for name, port in supervise.ports(settings).items()
                      if name not in ("rasa", "actions") and not (name == "backend" and settings.backend_url)})
        return named


def required_stores(settings: Settings) -> List[str]:
    """The shared stores' variables still unset: several Rasa servers need them all."""
    return [name for name, value in (("TRACKER_STORE_URL", settings.tracker_store_url),
                                     ("LOCK_STORE_URL", settings.lock_store_url),
                                     ("ASSISTANT_STORE_URL", settings.assistant_store_url),
                                     ("DATABASE_URL", settings.database_url or settings.backend_url))
            if not value]


def required_keys(settings: Settings) -> List[str]:
    """The keys still unset: without them the public development keys would let anyone in."""
    return [name for name, value in (("BACKEND_API_KEYS", settings.backend_api_keys),
                                     ("BACKEND_OPERATOR_KEYS", settings.backend_operator_keys),
                                     ("RASA_API_TOKEN", settings.rasa_api_token))
            if not value]


def unreachable_store(settings: Settings) -> Optional[str]:
    """Which shared store does not answer and why (a database not created yet, a server down), or
    None: said before anything starts, rather than as a traceback of the first process to use it."""
    databases = (("TRACKER_STORE_URL", settings.tracker_store_url),
                 ("ASSISTANT_STORE_URL", settings.assistant_store_url), ("DATABASE_URL", settings.database_url))
    for name, url in databases:
        if not url or not url.startswith("postgres"):
            continue
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            psycopg2.connect(dsn, connect_timeout=5).close()
        except psycopg2.Error as exc:
            return f"{name} does not answer: {str(exc).strip().splitlines()[-1]}"
    if settings.lock_store_url:
        try:
            redis.Redis.from_url(settings.lock_store_url, socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            return f"LOCK_STORE_URL does not answer: {exc}"
    return None


def nginx_binary() -> Optional[str]:
    # Debian installs it in /usr/sbin, which is not on a user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def write_nginx_config(settings: Settings, profile: Profile) -> Path:
    """The local nginx's configuration under DATA_DIR/nginx; the path of its main file."""
    prefix = settings.data_dir / "nginx"
    for folder in ("tmp", "logs"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    site = site_config(
        rasa=[f"127.0.0.1:{port}" for port in profile.rasa_ports],
        actions=[f"127.0.0.1:{port}" for port in profile.actions_ports],
        backend=[urlsplit(settings.effective_backend_url).netloc],
        listen=f"{profile.public_host}:{profile.port}", actions_listen=f"127.0.0.1:{profile.actions_proxy_port}",
        rasa_api_listen=f"127.0.0.1:{profile.rasa_api_port}", server_name="127.0.0.1 localhost",
        access_log=str(prefix / "logs" / "access.log"))
    (prefix / "hue-phan-anh.conf").write_text(site)
    # Started by root, nginx would hand its workers to `nobody`, who cannot write under DATA_DIR.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(render(MAIN_TEMPLATE.read_text(), {"PREFIX": str(prefix), "USER": user}, tls=False))
    return main


def commands(settings: Settings, model: Path, profile: Profile, nginx: str) -> Dict[str, List[str]]:
    """Every process of the profile by name, in the order they start: supervise's commands, with
    a Rasa server and an action server per port and nginx after the Rasa servers."""
    # The Rasa servers call their action servers through nginx.
    endpoints_path = supervise.write_endpoints(
        dataclasses.replace(settings, actions_port=profile.actions_proxy_port, actions_url=None))
    main_config = write_nginx_config(settings, profile)
    single = supervise.commands(settings, model, endpoints_path)
    processes: Dict[str, List[str]] = {}
    for name, command in single.items():
        if name == "actions":
            for i, port in enumerate(profile.actions_ports):
                processes[f"actions {i + 1}"] = supervise.commands(
                    dataclasses.replace(settings, actions_port=port), model, endpoints_path)["actions"]
        elif name == "rasa":
            for i, port in enumerate(profile.rasa_ports):
                processes[f"rasa {i + 1}"] = supervise.commands(
                    dataclasses.replace(settings, rasa_port=port), model, endpoints_path)["rasa"]
            processes["nginx"] = [nginx, "-p", str(main_config.parent), "-c", str(main_config), "-e", "stderr"]
        elif not (name == "backend" and settings.backend_url):
            processes[name] = command
    return processes


def health_urls(settings: Settings, profile: Profile) -> Dict[str, str]:
    urls = {name: url for name, url in supervise.health_urls(settings).items() if name not in ("rasa", "actions")}
    urls.update({f"rasa {i + 1}": f"{url}/" for i, url in enumerate(profile.replica_urls())})
    urls.update({f"actions {i + 1}": f"http://127.0.0.1:{port}/health" for i, port in enumerate(profile.actions_ports)})
    urls["nginx"] = f"{profile.url}/healthz"
    return urls


def child_env(settings: Settings, profile: Profile) -> Dict[str, str]:
    env = {**supervise.child_env(settings), "RASA_URL": profile.rasa_api_url,
           "RASA_REPLICA_URLS": ",".join(profile.replica_urls())}
    if not settings.backend_public_url:  # photos through nginx, like everything public
        env["BACKEND_PUBLIC_URL"] = profile.url
    return env


def start_all(settings: Settings, model: Path, profile: Profile, nginx: str,
              children: List[supervise.Child]) -> bool:
    """Starts the processes in order, each waited for until it answers; the Rasa servers after the
    first start together (the first creates the tracker store's tables, which two at once would
    both try). False, having said why, when one does not come up."""
    env = child_env(settings, profile)
    urls = health_urls(settings, profile)
    pending: List[supervise.Child] = []
    for name, command in commands(settings, model, profile, nginx).items():
        child = supervise.Child(name, command, env)
        children.append(child)
        if name.startswith("rasa ") and name != "rasa 1":
            pending.append(child)
            continue
        if not all(wait_until_up(urls[c.name], [c.process], RASA_START_TIMEOUT_S) for c in pending):
            print(f"error: the {pending[-1].name} did not start; see its log above", file=sys.stderr)
            return False
        pending = []
        url = urls.get(name)
        timeout = RASA_START_TIMEOUT_S if name.startswith("rasa") else 60
        if url and not wait_until_up(url, [child.process], timeout):
            print(f"error: the {name} did not start; see its log above", file=sys.stderr)
            return False
    return True


def cannot_start(settings: Settings, profile: Profile) -> Optional[str]:
    """Why the profile cannot start here (before anything starts), or None."""
    missing = required_stores(settings)
    if missing:
        return f"the production profile keeps everything in shared stores: set {', '.join(missing)}"
    keys = required_keys(settings)
    if keys:
        return ("the production profile serves the public with its own keys, never the development ones: "
                f"set {', '.join(keys)}")
    if nginx_binary() is None:
        return "nginx is not installed: `make nginx-deps` installs Debian's package"
    unreachable = unreachable_store(settings)
    if unreachable:
        return unreachable
    ports = profile.ports(settings)
    for name, port in ports.items():
        same = [other for other, value in ports.items() if value == port and other != name]
        if same:
            return f"the {name} and the {same[0]} would both listen on {port}: choose other ports"
        if port_in_use(port):
            return f"port {port} for the {name} is taken; stop what uses it or choose other ports"
    return None


def run(settings: Settings, model: Path, profile: Profile) -> int:
    nginx = nginx_binary() or "nginx"  # there: cannot_start said so
    children: List[supervise.Child] = []
    try:
        if not start_all(settings, model, profile, nginx, children):
            return 1
        print_welcome(settings, profile)
        supervise.tend(children)
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        supervise.stop({child.name: child.process for child in children})


def print_welcome(settings: Settings, profile: Profile) -> None:
    lines = [
        "",
        "Trợ lý phản ánh hiện trường Huế (production profile) is running.",
        f"  Web chat:        {profile.url}/webhooks/web/",
        f"  Webhooks:        {profile.url}/webhooks/telegram/webhook, {profile.url}/webhooks/zalo/webhook",
        f"  Open311:         {profile.url}/open311/v2/services.json",
        f"  Console (IOC):   {profile.url}/console/",
        f"  Rasa servers:    {', '.join(profile.replica_urls())}  (HTTP API for the workers: {profile.rasa_api_url})",
        f"  Action servers:  {', '.join(str(port) for port in profile.actions_ports)}"
        f"  (through nginx: 127.0.0.1:{profile.actions_proxy_port})",
        f"  nginx log:       {settings.data_dir / 'nginx' / 'logs' / 'access.log'}",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def serve(settings: Settings, name: str, at: Optional[int]) -> int:
    """Becomes one process of the profile (a systemd unit's ExecStart, deploy/systemd/): the
    command and environment `make run` gives it, a Rasa or action server on port `at`."""
    own = settings
    if name in ("rasa", "actions"):
        if at is None:
            print(f"error: --serve {name} needs --at PORT", file=sys.stderr)
            return 2
        # Each Rasa server its own endpoints file: two starting together never read a half-written one.
        own = (dataclasses.replace(settings, rasa_port=at, data_dir=settings.data_dir / "run" / f"rasa-{at}")
               if name == "rasa" else dataclasses.replace(settings, actions_port=at))
    keys = required_keys(settings)
    if keys:
        print(f"error: a production process needs its own keys: set {', '.join(keys)}", file=sys.stderr)
        return 2
    model = models.live_model(settings)
    if name == "rasa" and model is None:
        print("error: no live model in MODELS_DIR: `python -m bot.cli train`", file=sys.stderr)
        return 1
    every = supervise.commands(own, model or Path(), supervise.write_endpoints(own))
    if name not in every:
        print(f"error: no process {name!r}: one of {', '.join(every)}", file=sys.stderr)
        return 2
    command = every[name]
    cli.private_files()
    os.execve(command[0], command, supervise.child_env(settings))


def print_nginx_config(args: argparse.Namespace) -> int:
    if bool(args.tls_certificate) != bool(args.tls_certificate_key):
        print("error: give both --tls-certificate and --tls-certificate-key, or neither", file=sys.stderr)
        return 2
    if not (args.rasa_servers and args.action_servers and args.backend_servers):
        print("error: --rasa-servers, --action-servers and --backend-servers are required", file=sys.stderr)
        return 2
    print(site_config(rasa=args.rasa_servers, actions=args.action_servers, backend=args.backend_servers,
                      listen=args.listen, actions_listen=args.actions_listen, rasa_api_listen=args.rasa_api_listen,
                      server_name=args.server_name, access_log="/var/log/nginx/hue-phan-anh.access.log",
                      tls_certificate=args.tls_certificate, tls_certificate_key=args.tls_certificate_key), end="")
    return 0


def addresses(value: str) -> List[str]:
    return [address.strip() for address in value.split(",") if address.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.production",
                                     description="The production profile on one machine, one of its processes "
                                                 "(--serve), or nginx's site file for servers elsewhere "
                                                 "(--nginx-config).")
    parser.add_argument("--rasa", type=int, default=2, help="Rasa servers (ports from RASA_PORT)")
    parser.add_argument("--actions", type=int, default=2, help="action servers (ports from ACTIONS_PORT)")
    parser.add_argument("--port", type=int, default=8080,
                        help="nginx's public port; the next two: action servers, Rasa's API (loopback)")
    parser.add_argument("--public-host", default="127.0.0.1",
                        help="the address the public port listens on (0.0.0.0: every interface)")
    parser.add_argument("--serve", metavar="NAME",
                        help="become one process (rasa, actions, backend, admin, outbox, notifier): systemd units")
    parser.add_argument("--at", type=int, metavar="PORT", help="with --serve rasa|actions: its port")
    printing = parser.add_argument_group("--nginx-config: print the site file for servers elsewhere")
    printing.add_argument("--nginx-config", action="store_true")
    printing.add_argument("--server-name", default="_", help="the public host name(s)")
    printing.add_argument("--tls-certificate", help="e.g. /etc/letsencrypt/live/<name>/fullchain.pem")
    printing.add_argument("--tls-certificate-key", help="e.g. /etc/letsencrypt/live/<name>/privkey.pem")
    printing.add_argument("--listen", default="80", help="without TLS: what the public server listens on")
    printing.add_argument("--actions-listen", default="10.0.0.1:5054",
                          help="the private address the action servers are reached on")
    printing.add_argument("--rasa-api-listen", default="10.0.0.1:5080",
                          help="the private address the workers reach Rasa's HTTP API on (RASA_URL)")
    for name in ("rasa", "action", "backend"):
        printing.add_argument(f"--{name}-servers", type=addresses, help="host:port,host:port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.nginx_config:
        return print_nginx_config(args)
    if args.rasa < 1 or args.actions < 1:
        parser.error("--rasa and --actions need at least 1")
    try:
        settings = load_settings()
        settings.check_exposure()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.serve:
        return serve(settings, args.serve, args.at)
    profile = Profile.consecutive(settings, args.rasa, args.actions, args.port, args.public_host)
    reason = cannot_start(settings, profile)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    model = models.live_model(settings) or cli.train(settings)
    cli.private_files()
    signal.signal(signal.SIGTERM, cli._interrupt)
    return run(settings, model, profile)


if __name__ == "__main__":
    sys.exit(main())
