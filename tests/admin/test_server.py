"""The admin service as the console meets it: whom it refuses, what it refuses, and the inbox,
labels, models and audit over HTTP on a test's own data and training copy."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import requests
import yaml

from bot.admin import dashboard, inbox, retrain
from bot.admin.errors import AdminError
from bot.admin.server import MAX_JSON_BODY, create_app
from bot.settings import PROJECT_ROOT
from tests.admin.conftest import ADMIN_TOKEN
from tests.support.servers import eventually, free_port
from tests.support.stack import child_env, run_module
from tests.support.tracker_store import store_said
from tools.processes import start_group, stop_group, wait_until_up

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AS_LAN = {**AUTH, "X-Admin-User": "lan.nguyen"}


@pytest.fixture
async def admin(aiohttp_client, admin_settings):
    return await aiohttp_client(create_app(admin_settings))


def training_files(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted((folder / "nlu").rglob("*.yml"))}


async def test_only_the_token_opens_the_service_and_no_other_site_may_call_it(admin):
    assert (await admin.get("/health")).status == 200
    refused = [
        await admin.get("/inbox"),
        await admin.get("/inbox", headers={"Authorization": "Bearer admin-token-for-test"}),
        await admin.get("/inbox", headers={"Authorization": f"Basic {ADMIN_TOKEN}"}),
        await admin.get("/audit", headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"}),
        await admin.post("/inbox/discard", json={"keys": ["x"]}, headers={"X-Admin-User": "lan.nguyen"}),
        await admin.get("/no/such/page"),
        # A web page elsewhere: neither its request nor its preflight is let through.
        await admin.get("/models", headers={"Origin": "https://evil.example"}),
        await admin.options("/inbox/label", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"}),
    ]
    for response in refused:
        assert response.status == 401, (response.method, response.url)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await response.json())["error"]
        assert "Access-Control-Allow-Origin" not in response.headers
    answered = await admin.get("/models", headers={**AUTH, "Origin": "https://evil.example"})
    assert answered.status == 200
    assert "Access-Control-Allow-Origin" not in answered.headers


async def test_prometheus_scrapes_it_directly_never_through_a_proxy(admin):
    scraped = await admin.get("/metrics")
    assert scraped.status == 200 and "process_cpu_seconds_total" in await scraped.text()
    assert (await admin.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})).status == 404


async def test_a_change_must_name_who_makes_it(admin, data_dir):
    await store_said(data_dir, "ổ gà to quá trời", "nlu_fallback", 0.2)
    [group] = (await (await admin.get("/inbox", headers=AUTH)).json())["groups"]
    for headers in (AUTH, {**AUTH, "X-Admin-User": " "}, {**AUTH, "X-Admin-User": "lan\tx" * 30}):
        response = await admin.post("/inbox/discard", json={"keys": [group["key"]]}, headers=headers)
        assert response.status == 400
        assert "X-Admin-User" in (await response.json())["error"]
    assert (await (await admin.get("/inbox", headers=AUTH)).json())["groups"] == [group]
    assert await (await admin.get("/audit", headers=AUTH)).json() == []


async def test_a_body_too_big_or_not_json_changes_nothing(admin, data_dir, training_dir):
    await store_said(data_dir, "rác đầy kiệt 12", "nlu_fallback", 0.2)
    [group] = (await (await admin.get("/inbox", headers=AUTH)).json())["groups"]
    before = training_files(training_dir)
    huge = {"keys": [group["key"]] + ["x" * 1000] * (MAX_JSON_BODY // 1000), "intent": "report_issue",
            "category": "moi_truong"}
    response = await admin.post("/inbox/label", json=huge, headers=AS_LAN)
    assert response.status == 413
    assert (await response.json())["error"] == "Dữ liệu gửi lên quá lớn."
    for body in ("{not json", "[1, 2]", '{"keys": "rác"}', '{"keys": []}', '{"keys": ["x"], "intent": 3}'):
        response = await admin.post("/inbox/label", data=body, headers=AS_LAN)
        assert response.status == 400, body
        assert (await response.json())["error"]
    assert training_files(training_dir) == before
    assert (await (await admin.get("/inbox", headers=AUTH)).json())["groups"] == [group]
    for query in ("/inbox?limit=0", "/inbox?offset=-1", "/dashboard?days=nhiều", "/audit?limit=100000"):
        response = await admin.get(query, headers=AUTH)
        assert response.status == 400, query
        assert (await response.json())["error"]


async def test_what_cannot_be_done_comes_back_with_its_status_and_reason(admin, data_dir, monkeypatch, caplog):
    await store_said(data_dir, "đèn đường hỏng", "nlu_fallback", 0.2)
    [group] = (await (await admin.get("/inbox", headers=AUTH)).json())["groups"]
    no_category = await admin.post("/inbox/label", json={"keys": [group["key"]], "intent": "report_issue"},
                                   headers=AS_LAN)
    assert no_category.status == 400
    unknown_key = await admin.post("/inbox/discard", json={"keys": ["khong co nhom nay"]}, headers=AS_LAN)
    nothing_to_roll_back = await admin.post("/rollback", json={}, headers=AS_LAN)
    unknown_model = await admin.get("/models/khong-co.tar.gz", headers=AUTH)
    no_job = await admin.get("/jobs/latest", headers=AUTH)
    unknown_job = await admin.get("/jobs/99", headers=AUTH)
    assert [unknown_key.status, nothing_to_roll_back.status, unknown_model.status, no_job.status,
            unknown_job.status] == [404, 409, 404, 404, 404]
    for response in (no_category, unknown_key, nothing_to_roll_back, unknown_model, no_job, unknown_job):
        assert (await response.json())["error"]

    def busy(settings, who):
        raise AdminError("Đang có một lần huấn luyện chạy.", 409)

    monkeypatch.setattr(retrain, "start", busy)
    response = await admin.post("/retrain", json={}, headers=AS_LAN)
    assert (response.status, await response.json()) == (409, {"error": "Đang có một lần huấn luyện chạy."})

    def broken(settings, days=30):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(dashboard, "dashboard", broken)
    response = await admin.get("/dashboard", headers=AUTH)
    assert response.status == 500
    assert "locked" not in (await response.json())["error"]
    assert "failed GET /dashboard" in caplog.text and "database is locked" in caplog.text


async def test_the_inbox_is_labelled_discarded_and_audited_over_http(admin, data_dir, training_dir):
    for text in ("đèn đường hỏng cả tuần", "den duong hong ca tuan", "Đèn đường hỏng cả tuần!"):
        await store_said(data_dir, text, "nlu_fallback", 0.2, previous="Bạn cần giúp gì ạ?")
    await store_said(data_dir, "cho hỏi giá vé tàu", "out_of_scope", 0.9, channel="zalo")
    page = await (await admin.get("/inbox", headers=AUTH)).json()
    assert (page["total_groups"], page["total_messages"]) == (2, 4)
    lights, tickets = page["groups"]
    assert lights["count"] == 3 and tickets["count"] == 1
    assert set(lights) >= {"key", "text", "variants", "reasons", "guess", "hint", "previous", "channels",
                           "last_seen"}
    assert lights["previous"] == "Bạn cần giúp gì ạ?"
    assert lights["channels"] == {"telegram": 3}

    options = await (await admin.get("/options", headers=AUTH)).json()
    assert "report_issue" in options["intents"]
    assert "chieu_sang" in [category["code"] for category in options["categories"]]

    untouched = training_files(training_dir)
    labelled = await admin.post("/inbox/label", headers=AS_LAN, json={
        "keys": [lights["key"]], "intent": "report_issue", "category": "chieu_sang", "address": None})
    assert labelled.status == 200
    result = await labelled.json()
    assert result["labelled"] == 1
    [written] = result["written"]
    assert written["file"] == "nlu/data/nlu_report_chieu_sang.yml"
    changed = training_dir / written["file"]
    assert written["text"] in changed.read_text(encoding="utf-8")
    assert yaml.safe_load(changed.read_text(encoding="utf-8"))  # still YAML
    now = training_files(training_dir)
    assert [name for name in now if now[name] != untouched[name]] == [changed.relative_to(training_dir)]
    # The repository's own training data is never what a test labels.
    assert (PROJECT_ROOT / written["file"]).read_bytes() == untouched[changed.relative_to(training_dir)]
    # Sent twice (a double click, a retry): the example is in the file once.
    again = await admin.post("/inbox/label", headers=AS_LAN, json={
        "keys": [lights["key"]], "intent": "report_issue", "category": "chieu_sang"})
    assert again.status in (200, 409), await again.text()
    assert training_files(training_dir) == now

    discarded = await admin.post("/inbox/discard", json={"keys": [tickets["key"]]},
                                 headers={**AUTH, "X-Admin-User": "minh.tran"})
    assert await discarded.json() == {"discarded": 1}
    assert (await (await admin.get("/inbox", headers=AUTH)).json())["groups"] == []
    [kept] = (await (await admin.get("/inbox?status=labelled", headers=AUTH)).json())["groups"]
    assert kept["key"] == lights["key"]
    [dropped] = (await (await admin.get("/inbox?status=discarded", headers=AUTH)).json())["groups"]
    assert dropped["key"] == tickets["key"]

    entries = await (await admin.get("/audit?limit=10", headers=AUTH)).json()
    assert entries[0]["who"] == "minh.tran" and {entry["who"] for entry in entries[1:]} == {"lan.nguyen"}
    assert all(entry["at"] and entry["action"] for entry in entries)
    board = await (await admin.get("/dashboard?days=7", headers=AUTH)).json()
    assert set(board) >= {"days", "top_missed", "totals"}


async def test_retraining_starts_in_the_background_in_the_name_of_who_asked(admin, monkeypatch):
    started = []

    def start(settings, who):
        started.append(who)
        return {"id": 1, "state": "running", "stage": "training", "progress": 0.0, "started_by": who}

    monkeypatch.setattr(retrain, "start", start)
    response = await admin.post("/retrain", headers=AS_LAN)
    assert response.status == 202
    assert (await response.json())["state"] == "running"
    assert started == ["lan.nguyen"]
    history = await (await admin.get("/models", headers=AUTH)).json()
    assert history == {"live": None, "models": []}


async def test_the_inbox_fills_without_anyone_asking(aiohttp_client, admin_settings, data_dir):
    await store_said(data_dir, "nước ngập tới gối ở kiệt 3", "nlu_fallback", 0.1)
    await aiohttp_client(create_app(admin_settings))
    # Read without GET /inbox, which scans too: the service scanned on its own.
    await eventually(lambda: inbox.groups()["total_messages"] == 1, "the service's own scan", timeout_s=20)


def test_the_service_refuses_to_start_without_a_token(tmp_path):
    result = run_module("bot.admin.server", env={"ADMIN_API_TOKEN": "", "DATA_DIR": str(tmp_path)}, timeout_s=60)
    assert result.returncode == 1
    assert "ADMIN_API_TOKEN" in result.stderr


def test_its_log_names_requests_never_the_token(tmp_path):
    port = free_port()
    process = start_group([sys.executable, "-m", "bot.admin.server"], cwd=PROJECT_ROOT,
                          env=child_env({"ADMIN_API_TOKEN": ADMIN_TOKEN, "ADMIN_PORT": str(port),
                                         "DATA_DIR": str(tmp_path)}),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/health", [process], 60), "".join(output)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/audit", timeout=10, headers=AUTH).status_code == 200
        assert requests.get(f"{base}/audit", timeout=10,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}-wrong"}).status_code == 401
    finally:
        stop_group(process)
        reader.join(timeout=5)
    log = "".join(output)
    assert "GET /audit 200" in log and "GET /audit 401" in log
    assert ADMIN_TOKEN not in log
