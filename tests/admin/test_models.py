"""Which model runs, and what going live, rolling back and retraining look like to an admin, without
training: Rasa servers stand in (they record the model each was told to load), model files are
placeholders. Real training and a real Rasa server under load: test_retrain.py."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import astuple
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from aiohttp import web

from bot.admin import audit, models, retrain
from bot.admin.errors import AdminError
from bot.admin.server import create_app
from bot.cli import main
from bot.settings import PROJECT_ROOT, Settings, get_settings, load_settings
from tests.admin.conftest import ADMIN_TOKEN
from tests.support.servers import BackgroundLoop, Standin

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class RasaReplica(Standin):
    """Rasa's `PUT /model`: remembers each model file it was told to load; `broken` refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: List[str] = []
        self.broken = False

    def routes(self, app: web.Application) -> None:
        app.router.add_put("/model", self.load)

    async def load(self, request: web.Request) -> web.Response:
        if self.broken:
            return web.json_response({"message": "An unexpected error occurred."}, status=500)
        self.loaded.append(Path((await request.json())["model_file"]).name)
        return web.Response(status=204)


@pytest.fixture
def replicas(monkeypatch, admin_settings) -> Iterator[List[RasaReplica]]:
    loop = BackgroundLoop()
    running = [loop.run(RasaReplica().start()) for _ in range(2)]
    monkeypatch.setenv("RASA_REPLICA_URLS", ",".join(r.url for r in running))
    get_settings.cache_clear()
    yield running
    for replica in running:
        loop.run(replica.stop())
    loop.close()


@pytest.fixture
def settings(replicas) -> Settings:
    return load_settings()


def candidate(settings: Settings, name: str) -> Path:
    """A model file as a retraining leaves it, not live yet."""
    path = models.candidates_dir(settings) / f"{name}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(name.encode())
    return path


def decisions(settings: Settings) -> dict:
    return {m["name"]: m["decision"] for m in models.history(settings)["models"]}


def test_make_run_starts_the_live_model_never_a_newer_refused_or_stray_one(admin_settings):
    folder = admin_settings.models_dir
    assert models.live_model(admin_settings) is None
    live, stray = folder / "hue-phan-anh-1.tar.gz", folder / "hue-phan-anh-2.tar.gz"
    for age, path in ((300, live), (200, stray), (100, candidate(admin_settings, "hue-phan-anh-3"))):
        path.write_bytes(b"model")
        os.utime(path, (time.time() - age, time.time() - age))
    # A folder from before LIVE existed: its newest model, never a candidate.
    assert models.live_model(admin_settings) == stray
    (folder / "LIVE").write_text("hue-phan-anh-1.tar.gz\n")
    assert models.live_model(admin_settings) == live
    live.unlink()  # deleted by hand: the newest again rather than nothing
    assert models.live_model(admin_settings) == stray


def test_a_rasa_server_started_again_by_make_run_starts_the_model_live_now(settings):
    from tools.rasa_server import start_the_live_model

    first = models.go_live(settings, candidate(settings, "hue-phan-anh-a"), "lan.nguyen")
    models.go_live(settings, candidate(settings, "hue-phan-anh-b"), "lan.nguyen")
    models.rollback(settings, "lan.nguyen")
    argv = ["tools.rasa_server", "run", "--model", str(settings.models_dir / "hue-phan-anh-b.tar.gz"), "--port", "1"]
    start_the_live_model(argv)
    assert argv[3] == str(first)
    elsewhere = ["tools.rasa_server", "run", "--model", "/srv/bench/stock.tar.gz"]
    start_the_live_model(elsewhere)
    assert elsewhere[3] == "/srv/bench/stock.tar.gz"


def test_going_live_loads_every_replica_and_one_that_fails_leaves_all_as_it_was(settings, replicas):
    first = models.go_live(settings, candidate(settings, "hue-phan-anh-a"), "lan.nguyen")
    assert [r.loaded for r in replicas] == [[first.name], [first.name]]
    assert models.live_model(settings) == first == settings.models_dir / "hue-phan-anh-a.tar.gz"

    replicas[1].broken = True
    second = candidate(settings, "hue-phan-anh-b")
    with pytest.raises(AdminError) as refused:
        models.go_live(settings, second, "lan.nguyen")
    assert refused.value.status == 502 and replicas[1].url in str(refused.value)
    # The replica that had taken the new model is given the live one back; nothing else moved.
    assert replicas[0].loaded == [first.name, second.name, first.name]
    assert models.live_model(settings) == first
    assert (settings.models_dir / "LIVE").read_text().strip() == first.name
    assert second.exists() and not (settings.models_dir / second.name).exists()
    assert [e["action"] for e in audit.entries()] == ["model_live"]


def test_rollback_goes_back_one_live_model_at_a_time_then_says_there_is_none(settings, replicas):
    with pytest.raises(AdminError) as nothing:
        models.rollback(settings, "lan.nguyen")
    assert nothing.value.status == 409
    a, b, c = (models.go_live(settings, candidate(settings, f"hue-phan-anh-{n}"), "lan.nguyen").name for n in "abc")
    assert decisions(settings) == {a: "previous", b: "previous", c: "live"}

    assert models.rollback(settings, "minh.tran") == {"live": b, "previous": c}
    assert models.live_model(settings).name == b
    assert models.rollback(settings, "minh.tran") == {"live": a, "previous": b}
    assert [r.loaded[-2:] for r in replicas] == [[b, a], [b, a]]
    assert decisions(settings) == {a: "live", b: "rolled_back", c: "rolled_back"}
    with pytest.raises(AdminError) as no_more:
        models.rollback(settings, "minh.tran")
    assert no_more.value.status == 409 and models.live_model(settings).name == a
    rollbacks = [e for e in audit.entries() if e["action"] == "rollback"]
    assert [(e["who"], e["detail"]) for e in rollbacks] == [
        ("minh.tran", {"live": a, "previous": b}), ("minh.tran", {"live": b, "previous": c})]


async def test_a_model_rolled_back_from_is_put_live_again_by_one_action_a_refused_one_never(
        settings, replicas, aiohttp_client, capsys):
    a, b, c = (models.go_live(settings, candidate(settings, f"hue-phan-anh-{n}"), "lan.nguyen").name for n in "abc")
    models.rollback(settings, "minh.tran")
    models.rollback(settings, "minh.tran")
    refused = candidate(settings, "hue-phan-anh-d")
    models.record(settings, refused.name, trained_by="lan.nguyen", decision="refused", reason="Kém hơn.")
    admin = await aiohttp_client(create_app(settings))

    # Over HTTP, as the console asks: the latest model, rolled back from, comes back.
    response = await admin.post(f"/models/{c}/live", json={}, headers={**ADMIN, "X-Admin-User": "minh.tran"})
    assert (response.status, await response.json()) == (200, {"live": c, "previous": a})
    assert [r.loaded[-1] for r in replicas] == [c, c]
    assert models.live_model(settings).name == c
    assert decisions(settings) == {a: "previous", b: "rolled_back", c: "live", refused.name: "refused"}
    assert models.rollback(settings, "minh.tran") == {"live": a, "previous": c}  # and back again

    # From a shell: any model that passed the gate once, further back too.
    assert main(["admin", "live", b, "--by", "lan.nguyen"]) == 0
    assert json.loads(capsys.readouterr().out) == {"live": b, "previous": a}
    assert models.live_model(settings).name == b and [r.loaded[-1] for r in replicas] == [b, b]

    loads = [list(r.loaded) for r in replicas]
    for name, status in ((refused.name, 409), ("hue-phan-anh-khong-co.tar.gz", 404)):
        response = await admin.post(f"/models/{name}/live", json={}, headers={**ADMIN, "X-Admin-User": "minh.tran"})
        assert response.status == status and (await response.json())["error"]
        assert main(["admin", "live", name]) == 1 and json.loads(capsys.readouterr().out)["error"]
    unnamed = await admin.post(f"/models/{c}/live", json={}, headers=ADMIN)
    assert unnamed.status == 400
    assert [r.loaded for r in replicas] == loads and models.live_model(settings).name == b
    put_live = [(e["who"], e["detail"]) for e in audit.entries() if e["action"] == "model_live"][:2]
    assert put_live == [("lan.nguyen", {"model": b, "previous": a}), ("minh.tran", {"model": c, "previous": a})]


def test_models_and_live_are_readable_by_a_rasa_server_of_another_user(settings):
    """The admin service runs with umask 077; what it trains must still be loadable."""
    mask = os.umask(0o077)
    try:
        first = models.go_live(settings, candidate(settings, "hue-phan-anh-a"), "lan.nguyen")
        second = models.go_live(settings, candidate(settings, "hue-phan-anh-b"), "lan.nguyen")
        after_going_live = {path.name: stat.S_IMODE(path.stat().st_mode)
                            for path in (first, second, settings.models_dir / "LIVE")}
        models.rollback(settings, "lan.nguyen")
        after_rollback = stat.S_IMODE((settings.models_dir / "LIVE").stat().st_mode)
    finally:
        os.umask(mask)
    assert after_going_live == {first.name: 0o644, second.name: 0o644, "LIVE": 0o644}
    assert after_rollback == 0o644


def test_old_models_are_deleted_past_ten_but_never_the_live_one_or_the_one_before(settings):
    old = [models.go_live(settings, candidate(settings, f"hue-phan-anh-0{n}"), "lan.nguyen") for n in (1, 2)]
    refused = [candidate(settings, f"hue-phan-anh-{n:02}") for n in range(3, 15)]
    for age, path in enumerate(reversed(old + refused)):
        os.utime(path if path.exists() else settings.models_dir / path.name, (time.time() - age, time.time() - age))
    deleted = models.prune(settings)
    kept = sorted(p.name for p in settings.models_dir.rglob("*.tar.gz"))
    assert len(kept) == 10 and {p.name for p in old} <= set(kept)
    assert deleted == [p.name for p in refused[:4]][::-1]  # the oldest refused ones
    assert models.history(settings)["live"] == old[1].name


def test_the_gate_keeps_a_worse_model_out_and_never_lets_an_emergency_figure_drop():
    live = {"intent_accuracy": 0.90, "category_accuracy": 0.80, "emergency_recall": 0.90,
            "emergency_recall_with_question": 0.95}

    def gate(**changes):
        return retrain.decide({**live, **changes}, live, margin=0.01)

    went_live, reason = gate(intent_accuracy=0.895, category_accuracy=0.795)  # within the margin
    assert went_live and "độ chính xác loại phản ánh 80,0% → 79,5%" in reason and "1,0 điểm" in reason
    assert gate(intent_accuracy=0.95, emergency_recall=0.95)[0]
    worse, reason = gate(category_accuracy=0.78)
    # In the page's words: the figure's name, both values, the drop and the margin in points.
    assert not worse and reason == ("Độ chính xác loại phản ánh giảm từ 80,0% xuống 78,0% (2,0 điểm), "
                                    "quá mức cho phép 1,0 điểm.")
    worse, reason = gate(intent_accuracy=0.99, category_accuracy=0.99, emergency_recall=0.895)
    assert not worse and reason.startswith("Nhận ra tin khẩn cấp giảm từ 90,0% xuống 89,5%")
    # The emergencies still caught, but one no longer even asked "is anyone in danger right now?".
    worse, reason = gate(intent_accuracy=0.99, category_accuracy=0.99, emergency_recall_with_question=0.9)
    assert not worse and reason == ("Nhận ra tin khẩn cấp hoặc hỏi lại có ai gặp nguy hiểm giảm từ 95,0% xuống "
                                    "90,0% (không được phép giảm).")
    for said in (reason, gate()[1]):
        assert "lĩnh vực" not in said and "%)" not in said and "quá 1,0%" not in said
    assert retrain.decide(live, None, margin=0.01)[0]  # the first model has nothing to beat


class Model:
    """A trained model as the scorer meets it: its parse of each text, the way Rasa gives it."""

    def __init__(self, answers: Dict[str, Tuple[str, float]]) -> None:
        self.answers = answers  # text -> (intent, emergency probability)

    async def parse_message(self, text: str) -> Dict:
        intent, emergency = self.answers[text]
        return {"intent": {"name": intent}, "entities": [],
                "intent_ranking": [{"name": intent, "confidence": 1 - emergency},
                                   {"name": "emergency", "confidence": emergency}]}


def test_emergencies_that_stop_being_asked_about_danger_keep_the_model_out_and_show_as_worse(settings):
    from bot.nlu_eval import Example, score

    heldout = [Example("cháy nhà ở kiệt 3", "emergency", None, ()),
               Example("có người đuối nước ở sông", "emergency", None, ()),
               Example("xe tông người nằm giữa đường", "emergency", None, ()),
               Example("rác đầy kiệt 12", "report_issue", None, ())]
    live = Model({"cháy nhà ở kiệt 3": ("emergency", 0.9), "có người đuối nước ở sông": ("nlu_fallback", 0.4),
                  "xe tông người nằm giữa đường": ("nlu_fallback", 0.3), "rác đầy kiệt 12": ("report_issue", 0.0)})
    # Two emergencies the live model did not place but asked about now read as plain complaints.
    candidate = Model({**live.answers, "có người đuối nước ở sông": ("report_issue", 0.05),
                       "xe tông người nằm giữa đường": ("report_issue", 0.1)})
    before, after = (asyncio.run(score(model, heldout)) for model in (live, candidate))

    live_scores, candidate_scores = retrain.summary(before), retrain.summary(after)
    assert candidate_scores["emergency_recall"] == live_scores["emergency_recall"] == 0.3333
    assert (live_scores["emergency_recall_with_question"], candidate_scores["emergency_recall_with_question"]) \
        == (1.0, 0.3333)
    went_live, reason = retrain.decide(candidate_scores, live_scores, settings.retrain_margin)
    assert not went_live and "hỏi lại có ai gặp nguy hiểm giảm từ 100,0% xuống 33,3%" in reason

    rows = [list(astuple(answer)) for answer in after.answers], [list(astuple(answer)) for answer in before.answers]
    assert retrain.changed(*rows) == [
        {"text": text, "expected": "emergency", "live_answer": "nlu_fallback", "candidate_answer": "report_issue",
         "effect": "worse", "live_asked": True, "candidate_asked": False}
        for text in ("có người đuối nước ở sông", "xe tông người nằm giữa đường")]


def test_each_changed_answer_says_whether_it_got_better_worse_or_only_changed():
    def answer(expected, got, asked=False):
        intent, _, category = expected.partition("/")
        got_intent, _, got_category = got.partition("/")
        return [f"{expected} → {got}", intent, category or None, got_intent, got_category or None, asked]

    pairs = [  # (expected, the live model's answer, the candidate's)
        ("report_issue/moi_truong", "report_issue/giao_thong", "report_issue/moi_truong"),
        ("report_issue/moi_truong", "inform", "inform/moi_truong"),  # the category found: category accuracy up
        ("greet", "out_of_scope", "greet"),
        ("report_issue/moi_truong", "report_issue/moi_truong", "report_issue/cay_xanh"),
        ("emergency", "emergency", "out_of_scope"),
        ("report_issue/moi_truong", "report_issue/cay_xanh", "report_issue/giao_thong"),  # wrong, another way
        ("greet", "out_of_scope", "goodbye"),
        ("report_issue/moi_truong", "check_status/moi_truong", "report_issue/giao_thong"),  # one right for another
        ("greet", "greet", "greet/moi_truong"),  # no category expected: the same answer
    ]
    candidate = [answer(expected, new) for expected, _, new in pairs]
    live = [answer(expected, old) for expected, old, _ in pairs]
    assert [c["effect"] for c in retrain.changed(candidate, live)] == [
        "better", "better", "better", "worse", "worse", "changed", "changed", "changed"]
    assert retrain.changed(candidate, None) == []


def test_unknown_models_and_jobs_are_said_so(settings):
    with pytest.raises(AdminError) as unknown:
        models.report(settings, "hue-phan-anh-19990101-000000.tar.gz")
    assert unknown.value.status == 404
    assert retrain.job(settings) is None and retrain.job(settings, 7) is None


def test_a_killed_retraining_is_shown_failed_and_the_next_one_may_start(settings):
    started = retrain.start(settings, "lan.nguyen")
    assert (started["state"], started["started_by"]) == ("running", "lan.nguyen")
    with pytest.raises(AdminError) as busy:
        retrain.start(settings, "minh.tran")
    assert busy.value.status == 409
    deadline = time.monotonic() + 60
    while (current := retrain.job(settings))["progress"] == 0:  # its process has begun training
        assert current["state"] == "running" and time.monotonic() < deadline, current
        time.sleep(0.2)
    os.kill(retraining_process(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (current := retrain.job(settings))["state"] == "running":
        assert time.monotonic() < deadline, current
        time.sleep(0.1)
    assert current["state"] == "failed" and current["message"] == retrain.DIED
    assert models.live_model(settings) is None and not list(settings.models_dir.glob("*.tar.gz"))
    again = retrain.start(settings, "minh.tran")
    assert again["id"] == current["id"] + 1 and again["state"] == "running"
    os.kill(retraining_process(), signal.SIGKILL)


def test_a_retraining_started_in_the_background_answers_at_once_and_keeps_its_output_to_its_log(settings):
    # As cron runs it: both streams read through pipes until they close.
    started = subprocess.run([sys.executable, "-m", "bot.cli", "admin", "retrain", "--background"],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stdout + started.stderr[-2000:]
    assert json.loads(started.stdout)["state"] == "running"
    assert retrain.job(settings)["state"] == "running"  # answered while the training goes on
    log = settings.data_dir / retrain.LOG_FILE
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    os.kill(retraining_process(of=settings.data_dir), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while retrain.job(settings)["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def retraining_process(of: Optional[Path] = None) -> int:
    """The retraining this test started (or one of DATA_DIR `of`), as `ps` shows it:
    `python -m bot.cli admin retrain`."""
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone meanwhile
        if command[1:5] != [b"-m", b"bot.cli", b"admin", b"retrain"]:
            continue
        if of is None and parent == os.getpid():
            return int(entry.name)
        # One started by a command that has ended: known by its DATA_DIR.
        try:
            environment = (entry / "environ").read_bytes().split(b"\0") if of is not None else []
        except OSError:
            continue
        if f"DATA_DIR={of}".encode() in environment:
            return int(entry.name)
    raise AssertionError("no retraining process")
