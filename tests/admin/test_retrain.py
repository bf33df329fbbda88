"""Retraining for real, against the whole running assistant: a model trained on data where most
emergencies were labelled out of scope is refused and the servers never see it; a better one
goes live while twenty citizens file reports, none of them failing or losing their place; a
rollback brings the earlier answers back.

One stack and two trainings for the module (each training about 20-40 s, each scoring about 10 s):
the refused candidate of the first test is the earlier, worse model that the second test starts
from, before it retrains on the whole data again.
"""
from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests

from bot.admin import models, retrain
from bot.settings import PROJECT_ROOT, Settings, load_settings
from tests.support.conversation import COMPLAINT, REPORT_CODE, Citizen, offers_to_follow, text
from tests.support.places import THUAN_HOA
from tests.support.stack import Stack, running_stack
from tools.rasa_server import BUSY_MESSAGE

EMERGENCIES = Path("nlu") / "data" / "nlu_emergency.yml"
CITIZENS = 20


@dataclass
class Workspace:
    stack: Stack
    settings: Settings
    training: Path
    refused: Dict = field(default_factory=dict)  # the first test's job, the second test's start


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, trained_model) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("retrain")
    training = root / "training"
    training.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(PROJECT_ROOT / name, training / name)
    shutil.copytree(PROJECT_ROOT / "nlu", training / "nlu")
    models_dir = root / "models"
    models_dir.mkdir()
    shutil.copy2(trained_model, models_dir / trained_model.name)
    with running_stack(root / "stack", env={"MODELS_DIR": str(models_dir), "TRAINING_DIR": str(training)}) as stack:
        settings = load_settings({"DATA_DIR": str(root / "admin"), "MODELS_DIR": str(models_dir),
                                  "TRAINING_DIR": str(training), "RASA_URL": stack.rasa_url})
        yield Workspace(stack, settings, training)


def parse(stack: Stack, message: str) -> str:
    """The intent the running Rasa server gives `message`."""
    response = requests.post(f"{stack.rasa_url}/model/parse", json={"text": message}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["intent"]["name"]


def running_model(stack: Stack) -> str:
    return Path(requests.get(f"{stack.rasa_url}/status", timeout=30).json()["model_file"]).name


def test_a_retrain_that_loses_emergencies_is_refused_and_never_reaches_the_servers(workspace):
    settings, stack = workspace.settings, workspace.stack
    live = models.live_model(settings)
    assert live is not None
    # Every emergency block but the first relabelled out_of_scope, as a careless bulk label would.
    path = workspace.training / EMERGENCIES
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks = [i for i, line in enumerate(lines) if line == "- intent: emergency"]
    for i in blocks[1:]:
        lines[i] = "- intent: out_of_scope"
    path.write_text("\n".join(lines), encoding="utf-8")

    stages: List[str] = []
    job = retrain.run(settings, "lan.nguyen", on_progress=lambda j: stages.append(j["stage"]))

    assert (job["state"], job["decision"]) == ("done", "refused"), job
    assert "nhận ra tin khẩn cấp giảm từ" in job["reason"].lower()
    assert job["message"].startswith("Mô hình mới không được")
    assert [s for i, s in enumerate(stages) if s not in stages[:i]] == ["training", "scoring", "done"]
    assert retrain.job(settings) == job
    # Nothing changed where citizens are: the same model live, loaded and started by `make run`.
    assert models.live_model(settings) == live and running_model(stack) == live.name
    assert not (settings.models_dir / job["model"]).exists()
    history = models.history(settings)
    assert history["live"] == live.name
    [refused] = [m for m in history["models"] if m["name"] == job["model"]]
    assert refused["decision"] == "refused" and refused["went_live_at"] is None
    report = models.report(settings, job["model"])
    for figure in ("emergency_recall", "emergency_recall_with_question"):
        assert report["candidate"][figure] < report["live"][figure], figure
    [emergency] = [row for row in report["per_intent"] if row["intent"] == "emergency"]
    assert emergency["candidate"] < emergency["live"]
    lost = [c for c in report["changed"] if c["expected"] == "emergency" and c["live_answer"] == "emergency"]
    assert lost and all(c["effect"] == "worse" for c in lost)
    assert parse(stack, lost[0]["text"]) == "emergency"
    workspace.refused.update(job=job, lost=lost[0]["text"])


class Load:
    """CITIZENS citizens filing reports over the REST channel, one after another, until told to
    stop; every request counted, and every failure (an error, or the busy message)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.stop = threading.Event()
        self.started = False
        self.lock = threading.Lock()
        self.requests = self.codes = 0
        self.failures: List[str] = []
        self.threads = [threading.Thread(target=self.citizen, args=(n,), daemon=True) for n in range(CITIZENS)]

    def start(self) -> None:
        self.started = True
        for thread in self.threads:
            thread.start()

    def say(self, citizen: Citizen, message: str, **extra) -> List[Dict]:
        with self.lock:
            self.requests += 1
        replies = citizen.pin(THUAN_HOA) if extra.get("pin") else citizen.say(message)
        if BUSY_MESSAGE in text(replies):
            raise AssertionError(f"{citizen.name} was told the system is busy")
        return replies

    def citizen(self, n: int) -> None:
        while not self.stop.is_set():
            citizen = Citizen(self.stack, f"load{n}")  # a new sender each time: the rate limit is per sender
            try:
                self.say(citizen, COMPLAINT)
                self.say(citizen, "/affirm")
                if offers_to_follow(self.say(citizen, "", pin=True)):
                    self.say(citizen, "/affirm")
                self.say(citizen, "/deny")
                code = REPORT_CODE.search(text(self.say(citizen, "/affirm")))
                assert code, f"{citizen.name} got no report code"
                with self.lock:
                    self.codes += 1
            except (AssertionError, requests.RequestException) as exc:
                with self.lock:
                    self.failures.append(f"{citizen.name}: {exc!r}")

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(180)


def test_a_better_model_goes_live_under_load_and_a_rollback_brings_back_the_earlier_answers(workspace):
    settings, stack = workspace.settings, workspace.stack
    assert workspace.refused, "runs after the refused retraining, whose model it starts from"
    worse = models.go_live(settings, models.candidates_dir(settings) / workspace.refused["job"]["model"], "lan.nguyen")
    assert running_model(stack) == worse.name
    before = parse(stack, workspace.refused["lost"])
    assert before != "emergency"
    shutil.copy2(PROJECT_ROOT / EMERGENCIES, workspace.training / EMERGENCIES)  # the data fixed

    halfway = Citizen(stack, "halfway")  # a report half-told before the swap
    halfway.say(COMPLAINT)
    halfway.say("/affirm")
    load = Load(stack)

    def under_way(job: Dict) -> None:
        if job["stage"] == "scoring" and not load.started:
            load.start()  # from the end of the training on: scoring, then the swap itself

    try:
        job = retrain.run(settings, "lan.nguyen", on_progress=under_way)
        swapped_during_load = load.codes
    finally:
        load.finish()

    assert (job["state"], job["decision"]) == ("done", "live"), job
    assert load.failures == [] and load.requests >= CITIZENS * 5, (load.failures, load.requests, stack.output())
    assert load.codes > swapped_during_load >= 0
    assert running_model(stack) == job["model"] == models.live_model(settings).name
    assert parse(stack, workspace.refused["lost"]) == "emergency"
    # The half-told report goes on from where it was (its place next), under the new model.
    if offers_to_follow(halfway.pin(THUAN_HOA)):
        halfway.say("/affirm")
    halfway.say("/deny")
    assert REPORT_CODE.search(text(halfway.say("/affirm")))

    assert models.rollback(settings, "minh.tran") == {"live": worse.name, "previous": job["model"]}
    assert running_model(stack) == worse.name == models.live_model(settings).name
    assert parse(stack, workspace.refused["lost"]) == before
    decisions = {m["name"]: m["decision"] for m in models.history(settings)["models"]}
    assert (decisions[worse.name], decisions[job["model"]]) == ("live", "rolled_back")
