"""The production profile's nginx (deploy/nginx/, rendered by tools/production.py) in front of
stand-in servers: what citizens and platforms need is passed on and spread, Rasa's API and the
servers' metrics are not; a message is sent to another Rasa server when the first refused it, never
when the first received it and died (it may have handled it); TLS renders into a configuration
nginx accepts. The systemd units are well-formed."""
from __future__ import annotations

import asyncio
import datetime
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import requests
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import make_url

from bot.settings import PROJECT_ROOT, load_settings
from tests.support import services
from tests.support.servers import BackgroundLoop, free_port, serve
from tools import production, supervise
from tools.databases import scratch_keys
from tools.processes import consecutive_free_ports, wait_until_up

NGINX = production.nginx_binary()
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed: run `make nginx-deps`")


class Recorder:
    """A stand-in server that answers every request 200 with its name, and remembers the paths."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.paths: List[str] = []

    def app(self) -> web.Application:
        async def anything(request: web.Request) -> web.Response:
            self.paths.append(request.path)
            return web.json_response([{"text": self.name}])

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        return app


async def hang_up_server(port: int, received: List[bytes]) -> asyncio.AbstractServer:
    """Reads a request and closes the connection without answering: a server killed mid-message."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.transport.abort()

    return await asyncio.start_server(handle, "127.0.0.1", port)


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    yield background
    background.close()


def start_nginx(tmp_path: Path, rasa_ports: List[int], backend_port: int) -> Tuple[str, subprocess.Popen]:
    """The local profile's nginx, as tools.production writes and starts it; its public URL."""
    port = consecutive_free_ports(3)
    settings = load_settings({"DATA_DIR": str(tmp_path), "BACKEND_PORT": str(backend_port)})
    profile = production.Profile(rasa_ports, [free_port()], port)
    main = production.write_nginx_config(settings, profile)
    process = subprocess.Popen([str(NGINX), "-p", str(main.parent), "-c", str(main), "-e", "stderr"])
    assert wait_until_up(f"{profile.url}/healthz", [process], 20)
    return profile.url, process


@pytest.fixture
def stand_ins(tmp_path, loop):
    """nginx in front of two Rasa stand-ins and a backend stand-in."""
    rasa = [Recorder("rasa 1"), Recorder("rasa 2")]
    backend = Recorder("backend")
    first = consecutive_free_ports(2)
    rasa_ports = [first, first + 1]
    runners = [loop.run(serve(r.app(), p))[0] for r, p in zip(rasa, rasa_ports, strict=True)]
    backend_runner, backend_url = loop.run(serve(backend.app()))
    url, nginx = start_nginx(tmp_path, rasa_ports, int(backend_url.rsplit(":", 1)[1]))
    yield url, rasa, backend
    nginx.terminate()
    nginx.wait(10)
    for runner in [*runners, backend_runner]:
        loop.run(runner.cleanup())


def test_webhooks_and_the_web_chat_are_spread_over_the_rasa_servers(stand_ins):
    url, rasa, backend = stand_ins
    for path in ("/webhooks/telegram/webhook", "/webhooks/zalo/webhook", "/webhooks/rest/webhook",
                 "/webhooks/web/webhook"):
        for _ in range(2):
            assert requests.post(f"{url}{path}", json={}, timeout=10).status_code == 200, path
    assert requests.get(f"{url}/webhooks/web/", timeout=10).status_code == 200
    assert len(rasa[0].paths) + len(rasa[1].paths) == 9
    # Taking turns, whichever of nginx's workers took the request (one round robin for all of them).
    assert abs(len(rasa[0].paths) - len(rasa[1].paths)) <= 1, (rasa[0].paths, rasa[1].paths)
    for path in ("/open311/v2/services.json", "/console/", "/stats/", "/media/abc.jpg"):
        assert requests.get(f"{url}{path}", timeout=10).status_code == 200, path
    assert backend.paths == ["/open311/v2/services.json", "/console/", "/stats/", "/media/abc.jpg"]


@pytest.mark.parametrize("path", ["/model", "/conversations/rest:x/tracker", "/status", "/version",
                                  "/metrics", "/health", "/webhooks/rest/webhook/../../model"])
def test_rasa_s_api_and_the_servers_metrics_are_not_served(stand_ins, path):
    url, rasa, backend = stand_ins
    answer = requests.request("PUT" if path == "/model" else "GET", f"{url}{path}", timeout=10)
    assert answer.status_code == 404
    assert rasa[0].paths == rasa[1].paths == backend.paths == []


def test_a_message_refused_by_one_rasa_server_goes_to_the_other(tmp_path, loop):
    alive = Recorder("alive")
    dead = consecutive_free_ports(2)  # nothing listens there
    live = dead + 1
    runner, _ = loop.run(serve(alive.app(), live))
    url, nginx = start_nginx(tmp_path, [dead, live], free_port())
    try:
        answers = [requests.post(f"{url}/webhooks/rest/webhook", json={"message": str(i)}, timeout=10)
                   for i in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert len(alive.paths) == 4
    finally:
        nginx.terminate()
        nginx.wait(10)
        loop.run(runner.cleanup())


def test_a_message_a_rasa_server_received_and_died_with_is_not_sent_again(tmp_path, loop):
    alive = Recorder("alive")
    received: List[bytes] = []
    dying_port = consecutive_free_ports(2)
    dying = loop.run(hang_up_server(dying_port, received))
    runner, _ = loop.run(serve(alive.app(), dying_port + 1))
    url, nginx = start_nginx(tmp_path, [dying_port, dying_port + 1], free_port())
    try:
        statuses = [requests.post(f"{url}/webhooks/rest/webhook", json={"message": str(i)}, timeout=10).status_code
                    for i in range(4)]
        # Those that reached the server that hung up are a 502 for the caller, not handled a second
        # time elsewhere: each message reached one server.
        assert 502 in statuses and set(statuses) <= {200, 502}
        assert len(received) == statuses.count(502) and len(alive.paths) == statuses.count(200)
    finally:
        nginx.terminate()
        nginx.wait(10)
        loop.run(runner.cleanup())
        dying.close()


def self_signed(folder: Path) -> Tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phananh.example.vn")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_tls_site_file_is_accepted_by_nginx(tmp_path):
    cert, key = self_signed(tmp_path)
    printed = subprocess.run(
        [sys.executable, "-m", "tools.production", "--nginx-config", "--server-name", "phananh.example.vn",
         "--tls-certificate", str(cert), "--tls-certificate-key", str(key),
         "--rasa-servers", "10.0.0.2:5005,10.0.0.3:5005", "--action-servers", "10.0.0.2:5055",
         "--backend-servers", "10.0.0.4:8000", "--actions-listen", f"127.0.0.1:{free_port()}",
         "--rasa-api-listen", f"127.0.0.1:{free_port()}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    site = printed.stdout
    assert "listen 443 ssl" in site and "return 301 https://" in site and "\n#tls:" not in site
    (tmp_path / "site.conf").write_text(site.replace("/var/log/nginx/", f"{tmp_path}/"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{ proxy_temp_path {tmp_path}; client_body_temp_path {tmp_path}; include {tmp_path}/site.conf; }}\n")
    checked = subprocess.run([str(NGINX), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_are_well_formed(tmp_path):
    # As installed: the project in /opt/hue-phan-anh, run by the user `hue` (here: this checkout, root).
    for unit in (PROJECT_ROOT / "deploy" / "systemd").glob("*.*"):
        if unit.suffix not in (".service", ".target"):
            continue
        text = unit.read_text().replace("/opt/hue-phan-anh", str(PROJECT_ROOT))
        text = text.replace("User=hue", "User=root").replace("Group=hue", "Group=root")
        (tmp_path / unit.name.replace("@.", "@5005.")).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                             timeout=60, env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"})
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


STORES = {"TRACKER_STORE_URL": "postgresql://postgres@127.0.0.1/rasa", "LOCK_STORE_URL": "redis://127.0.0.1:6379/0",
          "ASSISTANT_STORE_URL": "postgresql://postgres@127.0.0.1/assistant",
          "DATABASE_URL": "postgresql://postgres@127.0.0.1/reports"}


def test_the_profile_refuses_the_development_keys(tmp_path):
    env = {"DATA_DIR": str(tmp_path), **STORES, "BACKEND_API_KEYS": "k-assistant"}
    started = subprocess.run([sys.executable, "-m", "tools.production", "--port", str(free_port())],
                             cwd=PROJECT_ROOT, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 2
    assert "set BACKEND_OPERATOR_KEYS, RASA_API_TOKEN" in started.stderr, started.stderr
    # A systemd unit's process likewise.
    served = subprocess.run([sys.executable, "-m", "tools.production", "--serve", "backend"], cwd=PROJECT_ROOT,
                            env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=120)
    assert served.returncode == 2 and "RASA_API_TOKEN" in served.stderr, served.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_a_database_not_created_yet_is_named_before_anything_starts(tmp_path):
    with services.scratch_databases("trackers") as databases:
        missing = make_url(databases["trackers"]).set(database="hue_never_created").render_as_string(False)
        env = {"DATA_DIR": str(tmp_path), "TRACKER_STORE_URL": databases["trackers"],
               "ASSISTANT_STORE_URL": databases["trackers"], "DATABASE_URL": missing,
               "LOCK_STORE_URL": services.REDIS_URL, **scratch_keys()}
        started = subprocess.run([sys.executable, "-m", "tools.production", "--port", str(free_port())],
                                 cwd=PROJECT_ROOT, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                                 text=True, timeout=120)
    assert started.returncode == 2, started.stderr
    assert started.stderr.startswith("error: DATABASE_URL does not answer:"), started.stderr
    assert 'database "hue_never_created" does not exist' in started.stderr and "Traceback" not in started.stderr


def test_photo_links_and_the_public_address_go_through_nginx(tmp_path, monkeypatch):
    settings = load_settings({"DATA_DIR": str(tmp_path), **STORES})
    profile = production.Profile([5005, 5006], [5055], 8080, public_host="0.0.0.0")
    assert production.child_env(settings, profile)["BACKEND_PUBLIC_URL"] == "http://127.0.0.1:8080"
    main = production.write_nginx_config(settings, profile)
    assert "listen 0.0.0.0:8080;" in (main.parent / "hue-phan-anh.conf").read_text()
    # One the operator set (the name citizens reach) is kept.
    monkeypatch.setenv("BACKEND_PUBLIC_URL", "https://pa.example.vn")
    configured = load_settings({"DATA_DIR": str(tmp_path), **STORES, "BACKEND_PUBLIC_URL": "https://pa.example.vn"})
    assert production.child_env(configured, profile)["BACKEND_PUBLIC_URL"] == "https://pa.example.vn"


def test_rasa_servers_of_several_hosts_call_their_actions_through_nginx(tmp_path):
    across = load_settings({"DATA_DIR": str(tmp_path), "ACTIONS_URL": "http://10.0.0.1:5054/webhook"})
    assert supervise.endpoints(across)["action_endpoint"] == {"url": "http://10.0.0.1:5054/webhook"}
    # The local profile's own nginx listener wins over it.
    profile = production.Profile([5005], [5055], 8080)
    production.commands(across, Path("model.tar.gz"), profile, "nginx")
    written = yaml.safe_load((tmp_path / "run" / "endpoints.yml").read_text())
    assert written["action_endpoint"] == {"url": f"http://127.0.0.1:{profile.actions_proxy_port}/webhook"}
