"""One retraining: train a candidate from TRAINING_DIR, score it and the live model on the held-out
set (TRAINING_DIR/nlu/heldout/), and put it live only if it is not worse (the gate, `decide`).

A job runs in a process of its own (`start` spawns `python -m bot.cli admin retrain`, which calls
`run`) and keeps its stage, progress and outcome in DATA_DIR/models.sqlite3, where the admin
service reads them. A job whose process is gone while it says "running" (killed, the host
restarted) is shown failed the next time it is read: the live model has not changed then, unless
the job had reached the loading stage, which its message says.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from bot import local_store
from bot.admin import audit, models
from bot.admin.errors import AdminError
from bot.danger import EMERGENCY_INTENT as EMERGENCY
from bot.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:  # Rasa's heavy imports only in the process that scores
    from bot.nlu_eval import Answer, Scores

logger = logging.getLogger(__name__)

Job = Dict[str, Any]
AnswerRow = List[Any]  # bot.nlu_eval.Answer's fields, as kept in the registry
Progress = Optional[Callable[[Job], None]]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, stage TEXT NOT NULL, "
    "progress REAL NOT NULL, message TEXT NOT NULL, started_by TEXT NOT NULL, started_at TEXT NOT NULL, "
    "finished_at TEXT, model TEXT, decision TEXT, reason TEXT, pid INTEGER, "
    "training_s REAL)"  # how long its training took: the next job's progress estimate
)
COLUMNS = ("id", "state", "stage", "progress", "message", "started_by", "started_at", "finished_at",
           "model", "decision", "reason")

# Each stage's share of the progress bar, from its start to its end.
STAGES = {"training": (0.0, 0.7), "scoring": (0.7, 0.9), "loading": (0.9, 1.0)}
TRAINING_GUESS_S = 40.0  # the first training's expected length; later ones use the last
POLL_S = 1.0
LOG_FILE = "retrain.log"  # under DATA_DIR: what a retraining started in the background printed
PR_SET_PDEATHSIG = 1  # prctl(2)

PREPARING = "Đang chuẩn bị huấn luyện..."
TRAINING = "Đang huấn luyện mô hình mới..."
SCORING = "Đang chấm điểm mô hình mới và mô hình đang chạy trên tập kiểm tra..."
LOADING = "Đang nạp mô hình mới vào máy chủ Rasa..."
WENT_LIVE = "Mô hình mới đã được đưa vào sử dụng."
REFUSED = "Mô hình mới không được đưa vào sử dụng: {reason}"
RUNNING = "Đang có một lần huấn luyện chạy; vui lòng chờ nó xong."
DIED = "Tiến trình huấn luyện đã dừng giữa chừng; mô hình đang chạy không thay đổi."
DIED_LOADING = ("Tiến trình huấn luyện đã dừng giữa chừng khi đang nạp mô hình mới; "
                "hãy xem danh sách mô hình để biết mô hình nào đang chạy.")
TRAINING_FAILED = "Huấn luyện thất bại (rasa train trả về mã {code}); mô hình đang chạy không thay đổi."
NO_HELDOUT = "Không có tập kiểm tra (nlu/heldout/*.yml) để chấm điểm mô hình."
FAILED = "Huấn luyện thất bại: {error}"
UNEXPECTED = "lỗi không mong đợi, xem nhật ký của dịch vụ quản trị"

# The gate's figures, named as the console's pages name them. The accuracies may drop by
# RETRAIN_MARGIN; the emergency figures never drop: a missed emergency costs more than any accuracy
# gained, and one that is neither given the numbers nor asked "is anyone in danger right now?"
# (bot/danger.py) goes on as an ordinary report.
ACCURACIES = {"intent_accuracy": "độ chính xác ý định", "category_accuracy": "độ chính xác loại phản ánh"}
NEVER_LOWER = {"emergency_recall": "nhận ra tin khẩn cấp",
               "emergency_recall_with_question": "nhận ra tin khẩn cấp hoặc hỏi lại có ai gặp nguy hiểm"}
GATED = (*ACCURACIES, *NEVER_LOWER)


def _connect(settings: Settings) -> sqlite3.Connection:
    return local_store.connect(models.FILENAME, SCHEMA, settings.data_dir / models.FILENAME)


def _alive(pid: Optional[int]) -> bool:
    """The process `pid` still runs (a zombie, finished but not reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the signal said it exists
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _as_job(row: Tuple) -> Job:
    return dict(zip(COLUMNS, row, strict=True))


def _fail_if_dead(db: sqlite3.Connection, row: Tuple, pid: Optional[int]) -> Tuple:
    job = _as_job(row)
    if job["state"] != "running" or _alive(pid):
        return row
    message = DIED_LOADING if job["stage"] == "loading" else DIED
    with db:
        db.execute("UPDATE jobs SET state = 'failed', message = ?, finished_at = ? WHERE id = ? AND state = 'running'",
                   (message, models.now(), job["id"]))
    logger.error("retraining job %s: its process %s is gone", job["id"], pid)
    return db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (job["id"],)).fetchone()


def job(settings: Settings, job_id: Optional[int] = None) -> Optional[Job]:
    """The job `job_id`, or the latest; None if there is none."""
    with closing(_connect(settings)) as db:
        where, params = ("WHERE id = ?", (job_id,)) if job_id is not None else ("", ())
        row = db.execute(f"SELECT {', '.join(COLUMNS)}, pid FROM jobs {where} ORDER BY id DESC LIMIT 1",
                         params).fetchone()
        if row is None:
            return None
        return _as_job(_fail_if_dead(db, row[:-1], row[-1]))


def _claim(db: sqlite3.Connection, who: str, pid: Optional[int]) -> int:
    """A new running job, unless one runs (AdminError 409); a job whose process died is failed
    first. Inside one IMMEDIATE transaction, so two starts at once cannot both pass."""
    for row in db.execute(f"SELECT {', '.join(COLUMNS)}, pid FROM jobs WHERE state = 'running'").fetchall():
        if _as_job(_fail_if_dead(db, row[:-1], row[-1]))["state"] == "running":
            raise AdminError(RUNNING, 409)
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM jobs WHERE state = 'running'").fetchone():
            raise AdminError(RUNNING, 409)
        cursor = db.execute(
            "INSERT INTO jobs (state, stage, progress, message, started_by, started_at, pid) "
            "VALUES ('running', 'training', 0, ?, ?, ?, ?)", (PREPARING, who, models.now(), pid))
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def start(settings: Settings, who: str) -> Job:
    """Starts a retraining in the background (`python -m bot.cli admin retrain --by WHO`, reading
    the same environment); the job. AdminError 409 while one runs. Its output goes to
    DATA_DIR/LOG_FILE, never to the caller's streams: a script or cron job that started it gets
    its answer at once, not once the training is over."""
    with closing(_connect(settings)) as db:
        job_id = _claim(db, who, os.getpid())  # this process's until the child's pid is known
        try:
            log = os.open(settings.data_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "admin", "retrain", f"--by={who}"],
                    cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            finally:
                os.close(log)
        except OSError as exc:
            logger.error("could not start the retraining: %s", exc)
            with db:
                db.execute("UPDATE jobs SET state = 'failed', message = ?, finished_at = ? WHERE id = ?",
                           (FAILED.format(error=UNEXPECTED), models.now(), job_id))
            raise AdminError(FAILED.format(error=UNEXPECTED), 500) from exc
        with db:
            db.execute("UPDATE jobs SET pid = ? WHERE id = ? AND pid = ?", (process.pid, job_id, os.getpid()))
    # Reaped when it ends, so that it never lingers as a zombie that looks alive.
    threading.Thread(target=process.wait, daemon=True).start()
    found = job(settings, job_id)
    assert found is not None
    return found


def _adopt(db: sqlite3.Connection, who: str) -> int:
    """The job `start` made for this process (under the parent's pid or already its own), else a
    new one."""
    pid = os.getpid()
    with db:
        row = db.execute("SELECT id FROM jobs WHERE state = 'running' AND pid IN (?, ?) "
                         "ORDER BY id DESC LIMIT 1", (pid, os.getppid())).fetchone()
        if row:
            db.execute("UPDATE jobs SET pid = ? WHERE id = ?", (pid, row[0]))
            return int(row[0])
    return _claim(db, who, pid)


class _Tracker:
    """Writes a job's stage and progress, and tells `on_progress`."""

    def __init__(self, db: sqlite3.Connection, job_id: int, on_progress: Progress) -> None:
        self.db, self.job_id, self.on_progress = db, job_id, on_progress

    def update(self, **fields: Any) -> Job:
        with self.db:
            self.db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                            (*fields.values(), self.job_id))
        row = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (self.job_id,)).fetchone()
        current = _as_job(row)
        if self.on_progress:
            self.on_progress(current)
        return current

    def stage(self, stage: str, message: str, within: float = 0.0) -> Job:
        start_share, end_share = STAGES[stage]
        return self.update(stage=stage, message=message,
                           progress=round(start_share + (end_share - start_share) * within, 3))


def run(settings: Settings, who: str, on_progress: Progress = None) -> Job:
    """The whole retraining in this process; the finished job (state "done" with its decision, or
    "failed" with why). AdminError 409 while another runs."""
    with closing(_connect(settings)) as db:
        tracker = _Tracker(db, _adopt(db, who), on_progress)
        try:
            return _run(settings, who, tracker, db)
        except AdminError as exc:
            return tracker.update(state="failed", message=str(exc), finished_at=models.now())
        except Exception:  # a job must end failed, never stay "running"
            logger.exception("retraining job %s failed", tracker.job_id)
            return tracker.update(state="failed", message=FAILED.format(error=UNEXPECTED), finished_at=models.now())


def _run(settings: Settings, who: str, tracker: _Tracker, db: sqlite3.Connection) -> Job:
    audit.record(who, "retrain", {"job": tracker.job_id})
    heldout = sorted((settings.training_dir / "nlu" / "heldout").glob("*.yml"))
    if not heldout:
        raise AdminError(NO_HELDOUT)
    name = models.new_name(settings)
    tracker.update(model=name)
    candidate = _train(settings, name, tracker, db)
    tracker.stage("scoring", SCORING)
    digest = _digest(heldout)
    scores, answers = _score(candidate, heldout)
    tracker.stage("scoring", SCORING, 0.5)
    live = models.live_model(settings)
    before = None
    if live is not None:
        before = models.scored(settings, live.name, digest)
        if before is None or not set(GATED) <= before[0].keys():  # kept before the gate looked at it
            before = _score(live, heldout)
            models.keep_scored(settings, live, digest, *before)
    go, reason = decide(scores, before[0] if before else None, settings.retrain_margin)
    models.record(settings, name, trained_by=who, decision="refused", reason=reason, scores=scores,
                  live_scores=before[0] if before else None, heldout=digest, answers=answers,
                  per_intent=per_intent(answers, before[1] if before else None),
                  changed=changed(answers, before[1] if before else None))
    if not go:
        audit.record(who, "model_refused", {"model": name, "reason": reason})
        models.prune(settings)
        return tracker.update(state="done", stage="done", progress=1.0, decision="refused", reason=reason,
                              message=REFUSED.format(reason=reason), finished_at=models.now())
    tracker.stage("loading", LOADING)
    try:
        models.go_live(settings, candidate, who)
    except AdminError as exc:
        with closing(models.connect(settings)) as registry, registry:
            registry.execute("UPDATE models SET reason = ? WHERE name = ?", (str(exc), name))
        tracker.update(decision="refused", reason=str(exc))
        raise
    return tracker.update(state="done", stage="done", progress=1.0, decision="live", reason=reason,
                          message=WENT_LIVE, finished_at=models.now())


def _train(settings: Settings, name: str, tracker: _Tracker, db: sqlite3.Connection) -> Path:
    out_dir = models.candidates_dir(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    row = db.execute("SELECT training_s FROM jobs WHERE training_s IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    expected_s = row[0] if row else TRAINING_GUESS_S
    tracker.stage("training", TRAINING)
    started = time.monotonic()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
        process = subprocess.Popen(models.training_command(settings, out_dir, name), cwd=PROJECT_ROOT,
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   preexec_fn=_end_with_parent)
        try:
            while process.poll() is None:
                time.sleep(POLL_S)
                # An estimate from the last training's length, never reaching the stage's end.
                tracker.stage("training", TRAINING, min((time.monotonic() - started) / expected_s, 0.95))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            output.seek(0)
            logger.error("rasa train exited with %s:\n%s", process.returncode, output.read()[-4000:])
            raise AdminError(TRAINING_FAILED.format(code=process.returncode), 500)
    tracker.update(training_s=round(time.monotonic() - started, 1))
    return out_dir / name


def _end_with_parent() -> None:
    """In the training's process, before `rasa train` starts: it is killed when the job's process
    dies (Linux's parent-death signal), so a killed job leaves no training running behind it."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _digest(heldout: List[Path]) -> str:
    """Names the held-out set as it is now: its files' names and contents."""
    digest = hashlib.sha256()
    for path in heldout:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _score(model: Path, heldout: List[Path]) -> Tuple[Dict[str, Any], List[AnswerRow]]:
    """The model's scores on the held-out set, and its answer to each example (JSON-able)."""
    from bot.nlu_eval import evaluate

    scores = evaluate(model, heldout)
    return summary(scores), [list(astuple(answer)) for answer in scores.answers]


def summary(scores: Scores) -> Dict[str, Any]:
    """The figures kept and shown for a model, and those the gate compares."""
    return {**{key: round(getattr(scores, key), 4) for key in GATED}, "examples": scores.examples}


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%".replace(".", ",")


def _points(share: float) -> str:
    """A difference of two percentages, as the console writes it: "1,0 điểm"."""
    return f"{100 * share:.1f} điểm".replace(".", ",")


def decide(candidate: Dict[str, Any], live: Optional[Dict[str, Any]], margin: float) -> Tuple[bool, str]:
    """Whether the candidate may go live, and why (Vietnamese, in the console's words): its intent
    and category accuracy no more than `margin` below the live model's, and neither of its
    emergency figures below at all."""
    if live is None:
        return True, "Chưa có mô hình nào đang chạy."
    worse = []
    for key, what in ACCURACIES.items():
        if candidate[key] < live[key] - margin - 1e-9:
            worse.append(f"{what} giảm từ {_percent(live[key])} xuống {_percent(candidate[key])} "
                         f"({_points(live[key] - candidate[key])}), quá mức cho phép {_points(margin)}")
    for key, what in NEVER_LOWER.items():
        if candidate[key] < live[key] - 1e-9:
            worse.append(f"{what} giảm từ {_percent(live[key])} xuống {_percent(candidate[key])} "
                         "(không được phép giảm)")
    if worse:
        reason = "; ".join(worse)
        return False, reason[0].upper() + reason[1:] + "."

    def beside(figures: Dict[str, str]) -> str:
        return ", ".join(f"{what} {_percent(live[key])} → {_percent(candidate[key])}" for key, what in figures.items())

    return True, (f"Không kém mô hình đang chạy: {beside(ACCURACIES)} (được phép giảm tối đa {_points(margin)}); "
                  f"{beside(NEVER_LOWER)} (không được phép giảm).")


def _answers(rows: List[AnswerRow]) -> List[Answer]:
    from bot.nlu_eval import Answer

    return [Answer(*row) for row in rows]


def per_intent(candidate: List[AnswerRow], live: Optional[List[AnswerRow]]) -> List[Dict[str, Any]]:
    """Each intent of the held-out set: its examples and both models' accuracy on them."""
    from bot.nlu_eval import per_intent as shares

    before = shares(_answers(live)) if live else {}
    return [{"intent": intent, "n": n, "live": round(before[intent][1], 4) if intent in before else None,
             "candidate": round(share, 4)}
            for intent, (n, share) in shares(_answers(candidate)).items()]


def _label(intent: Optional[str], category: Optional[str]) -> Optional[str]:
    return f"{intent}/{category}" if intent and category else intent


def effect(new: Answer, old: Answer) -> str:
    """"better" when the candidate's answer gets right something the scores count (`verdicts`)
    that the live model's got wrong and loses nothing; "worse" the other way round; "changed"
    when it gains one thing and loses another, or is as wrong in another way."""
    pairs = list(zip(new.verdicts, old.verdicts, strict=True))
    gained = any(now and not before for now, before in pairs)
    lost = any(before and not now for now, before in pairs)
    return "better" if gained and not lost else "worse" if lost and not gained else "changed"


def changed(candidate: List[AnswerRow], live: Optional[List[AnswerRow]]) -> List[Dict[str, Any]]:
    """The held-out examples the two models answer differently (intent, category where one is
    expected, for an emergency the danger question), each with its `effect`; an emergency's also
    say whether each model asks "is anyone in danger right now?"."""
    if live is None:
        return []
    differences = []
    for new, old in zip(_answers(candidate), _answers(live), strict=True):
        expects_category = bool(new.category)
        new_answer = _label(new.got_intent, new.got_category if expects_category else None)
        old_answer = _label(old.got_intent, old.got_category if expects_category else None)
        emergency = new.intent == EMERGENCY
        if new_answer != old_answer or (emergency and new.asked != old.asked):
            difference: Dict[str, Any] = {
                "text": new.text, "expected": _label(new.intent, new.category), "live_answer": old_answer,
                "candidate_answer": new_answer, "effect": effect(new, old)}
            if emergency:
                difference.update(live_asked=old.asked, candidate_asked=new.asked)
            differences.append(difference)
    return differences
