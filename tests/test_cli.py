"""`make run` as a newcomer and an operator meet it: what it refuses, what it protects."""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.settings import SettingsError, load_settings
from tests.support.stack import run_module, running_stack
from tools.supervise import STABLE_AFTER_S, Child, child_env, commands, endpoints, health_urls, ports


def run_cli(env):
    return run_module("bot.cli", "run", env=env, timeout_s=120)


def test_exposing_the_api_without_a_token_is_refused_before_anything_starts(tmp_path):
    result = run_cli({"HOST": "0.0.0.0", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "RASA_API_TOKEN" in result.stderr
    assert not (tmp_path / "backend.sqlite3").exists()


def test_a_taken_port_is_named_instead_of_a_confusing_crash(tmp_path, trained_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli({"BACKEND_PORT": str(port), "DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "taken" in result.stderr


def test_a_setting_that_is_not_a_number_is_named():
    with pytest.raises(SettingsError, match="RASA_PORT"):
        load_settings({"RASA_PORT": "năm nghìn"})


def test_production_store_urls_become_rasa_endpoint_settings():
    config = endpoints(load_settings({
        "TRACKER_STORE_URL": "postgresql://rasa:s3cret@db.internal:6432/trackers",
        "LOCK_STORE_URL": "redis://:pw@cache.internal:6380/2",
        "ACTIONS_PORT": "6055",
    }))
    assert config["action_endpoint"]["url"] == "http://127.0.0.1:6055/webhook"
    assert config["tracker_store"] == {"type": "SQL", "dialect": "postgresql", "url": "db.internal",
                                       "port": 6432, "db": "trackers", "username": "rasa",
                                       "password": "s3cret"}
    assert config["lock_store"] == {"type": "redis", "url": "cache.internal", "port": 6380, "db": 2,
                                    "password": "pw", "use_ssl": False}
    # Without TRACKER_STORE_URL, conversations outlive the Rasa server: a SQLite file of its own.
    embedded = endpoints(load_settings({"DATA_DIR": "/srv/hue"}))
    assert embedded["tracker_store"] == {"type": "SQL", "dialect": "sqlite", "db": "/srv/hue/trackers.sqlite3"}
    assert "lock_store" not in embedded


def test_rasa_waits_for_an_action_longer_than_its_calls_to_the_backend():
    with pytest.raises(SettingsError, match="ACTIONS_TIMEOUT_S"):
        load_settings({"BACKEND_TIMEOUT_S": "20"})
    assert load_settings({"BACKEND_TIMEOUT_S": "20", "ACTIONS_TIMEOUT_S": "90"}).actions_timeout_s == 90


def test_the_lock_lifetime_must_outlast_a_call_to_the_backend():
    with pytest.raises(SettingsError, match="LOCK_LIFETIME_S"):
        load_settings({"LOCK_STORE_URL": "redis://127.0.0.1:6379/0", "LOCK_LIFETIME_S": "5"})
    with pytest.raises(SettingsError, match="LOCK_LIFETIME_S"):
        load_settings({"LOCK_LIFETIME_S": "0"})


def test_make_run_starts_the_admin_service_on_a_token_made_for_its_processes(monkeypatch):
    settings = load_settings({"ADMIN_PORT": "6056"})
    assert commands(settings, Path("model.tar.gz"), Path("endpoints.yml"))["admin"][1:] == ["-m", "bot.admin.server"]
    assert ports(settings)["admin"] == 6056
    assert health_urls(settings)["admin"] == "http://127.0.0.1:6056/health"
    monkeypatch.delenv("ADMIN_API_TOKEN", raising=False)
    made, again = child_env(settings)["ADMIN_API_TOKEN"], child_env(settings)["ADMIN_API_TOKEN"]
    assert len(made) >= 40 and made != again  # a new one each start, never a known default
    monkeypatch.setenv("ADMIN_API_TOKEN", "the-operators-own")
    assert child_env(load_settings())["ADMIN_API_TOKEN"] == "the-operators-own"


def test_a_process_that_keeps_dying_is_restarted_ever_more_slowly_and_said_so(caplog):
    caplog.set_level(logging.INFO, logger="tools.supervise")
    crasher = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    waits = []
    for _ in range(7):
        crasher.process.wait(timeout=30)
        died = time.monotonic()
        crasher.tend(died)  # notices it died soon after its start
        assert crasher.restart_at is not None
        waits.append(crasher.restart_at - died)
        crasher.tend(crasher.restart_at)  # starts it again
    assert waits == pytest.approx([1, 2, 4, 8, 16, 30, 30])
    assert "the crasher stopped with exit code 3; starting it again in 1 s" in caplog.text
    assert "it keeps dying" in caplog.text and "starting it again every 30 s" in caplog.text
    # Once it has served a while, a death is restarted quickly again.
    crasher.process.wait(timeout=30)
    crasher.tend(crasher.started + STABLE_AFTER_S + 1)
    assert crasher.restart_at == pytest.approx(crasher.started + STABLE_AFTER_S + 2)


@pytest.mark.slow
def test_with_a_token_rasa_http_api_requires_it_and_no_command_line_shows_it(tmp_path, trained_model):
    with running_stack(tmp_path, env={"RASA_API_TOKEN": "t0ken-for-test"}) as stack:
        # Anyone on the host can read a command line (`ps`): the token is on none of the stack's.
        command_lines = stack.command_lines()
        assert any("tools.rasa_server" in argv for argv in command_lines.values()), command_lines
        assert not [argv for argv in command_lines.values() if any("t0ken" in part for part in argv)]
        assert requests.get(f"{stack.rasa_url}/status", timeout=10).status_code == 401
        parse = f"{stack.rasa_url}/model/parse"
        assert requests.post(parse, json={"text": "xin chào"}, timeout=10).status_code == 401
        answer = requests.post(parse, params={"token": "t0ken-for-test"},
                               json={"text": "ổ gà to trên đường Lê Lợi"}, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["intent"]["name"] == "report_issue"
        assert "t0ken-for-test" not in stack.output()
        # The admin service runs too, on a token `make run` made for its processes: in no command
        # line, no log, and required.
        environ = Path(f"/proc/{stack.pid_of('bot.admin.server')}/environ").read_bytes().split(b"\0")
        [admin_token] = [entry[len(b"ADMIN_API_TOKEN="):].decode() for entry in environ
                         if entry.startswith(b"ADMIN_API_TOKEN=")]
        assert not [argv for argv in stack.command_lines().values() if any(admin_token in part for part in argv)]
        assert admin_token not in stack.output()
        assert requests.get(f"{stack.admin_url}/inbox", timeout=10).status_code == 401
        inbox = requests.get(f"{stack.admin_url}/inbox", headers={"Authorization": f"Bearer {admin_token}"},
                             timeout=30)
        assert inbox.status_code == 200 and "groups" in inbox.json()
        assert f"127.0.0.1:{stack.backend_port}/console/admin/" in stack.output()
