"""The trained models: which one is live, the history of every model with its scores and its
decision, putting one live in every Rasa server, rolling back, putting a kept one live again.

Files: every model that was ever live sits in MODELS_DIR; a candidate is trained into
MODELS_DIR/candidates/ and moved beside them only when it goes live, so a refused one is never
the newest model of MODELS_DIR either. MODELS_DIR/LIVE names the live model's file (written
atomically): `make run` starts that one, whatever is newer. The history (scores, decisions, the
order in which models went live) is kept in DATA_DIR/models.sqlite3.

Going live or rolling back loads the model into every Rasa server (`RASA_REPLICA_URLS`, else the
one at RASA_URL) with Rasa's `PUT /model`, one server after the other. Rasa builds the new agent
beside the old one (in a thread: tools/rasa_server.py) and swaps it in once loaded; it keeps the
lock store, and the tracker store is the same database, so a message in flight finishes with the
old model and a conversation half-way through a form goes on with the new one. A server that cannot
load it keeps its model, the others are put back to the one that was live, LIVE does not change,
and the error names the server.

Model files and LIVE are made readable by everyone (0644) whatever the umask of the process that
wrote them (the admin service keeps its inbox to itself with umask 077): they hold no personal
data, and a Rasa server may run as another user.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlencode

from bot import local_store
from bot.admin import audit
from bot.admin.errors import AdminError
from bot.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)

LIVE_FILE = "LIVE"
CANDIDATES = "candidates"
PREFIX = "hue-phan-anh"
SUFFIX = ".tar.gz"
KEEP = 10  # model files kept; the live one and the one a rollback would bring back always are
LOAD_TIMEOUT_S = 300  # a Rasa server loads a model in seconds; a busy one may take a minute
SHARED_MODE = 0o644
PASSED = ("live", "previous", "rolled_back")  # decisions of a model that passed the gate once

FILENAME = "models.sqlite3"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, trained_at TEXT NOT NULL, trained_by TEXT, "
    "scores TEXT, live_scores TEXT, per_intent TEXT, changed TEXT, decision TEXT NOT NULL, reason TEXT, "
    "went_live_at TEXT, live_seq INTEGER, "
    "heldout TEXT, answers TEXT)"  # its answer to each held-out example, and which held-out set that was
)

NO_PREVIOUS = "Không có mô hình nào trước đó để quay lại."
UNKNOWN_MODEL = "Không có mô hình này."
REFUSED_MODEL = "Mô hình này không qua được bước kiểm tra khi huấn luyện nên không thể đưa vào sử dụng."
FILE_GONE = "Tệp của mô hình này đã bị xóa (chỉ giữ lại {keep} mô hình gần nhất) nên không thể đưa vào sử dụng."
SWITCHING = "Đang nạp một mô hình khác vào máy chủ Rasa; vui lòng thử lại sau ít phút."
TRAINED_BY_DEVELOPER = "Huấn luyện bằng `make train`."
WAS_LIVE = "Đang chạy trước khi có lịch sử mô hình."


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(settings: Settings) -> sqlite3.Connection:
    return local_store.connect(FILENAME, SCHEMA, settings.data_dir / FILENAME)


def candidates_dir(settings: Settings) -> Path:
    return settings.models_dir / CANDIDATES


def live_model(settings: Settings) -> Optional[Path]:
    """The model `make run` starts: the one MODELS_DIR/LIVE names, else the newest in MODELS_DIR
    (a folder from before LIVE existed), else None."""
    pointer = settings.models_dir / LIVE_FILE
    if pointer.is_file():
        named = settings.models_dir / pointer.read_text(encoding="utf-8").strip()
        if named.is_file():
            return named
        logger.warning("%s names %s, which is missing: using the newest model", pointer, named.name)
    models = sorted(settings.models_dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def _write_live(settings: Settings, model: Path) -> None:
    pointer = settings.models_dir / LIVE_FILE
    temporary = pointer.with_name(f".{LIVE_FILE}.{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(model.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temporary, SHARED_MODE)
    os.replace(temporary, pointer)  # a reader sees the old name or the new one, never half


def new_name(settings: Settings) -> str:
    """A file name no model has yet: hue-phan-anh-YYYYmmdd-HHMMSS.tar.gz (UTC)."""
    stem = f"{PREFIX}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    name, n = stem, 1
    while any((folder / f"{name}{SUFFIX}").exists() for folder in (settings.models_dir, candidates_dir(settings))):
        n += 1
        name = f"{stem}-{n}"
    return f"{name}{SUFFIX}"


def training_command(settings: Settings, out_dir: Path, name: str) -> List[str]:
    """`rasa train` of TRAINING_DIR's configuration, domain and data into `out_dir/name`; run
    from the project folder, whose `bot.nlu` holds the custom components."""
    data = settings.training_dir
    return [sys.executable, "-m", "rasa", "train", "--config", str(data / "config.yml"),
            "--domain", str(data / "domain.yml"), "--data", str(data / "nlu" / "data"),
            "--out", str(out_dir), "--fixed-model-name", name.removesuffix(SUFFIX)]


def train_live(settings: Settings) -> Path:
    """What `make train` does: trains into MODELS_DIR and makes that model live, no gate (the
    developer's own data); a running Rasa server gets it with `bot.cli reload`."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    current = live_model(settings)  # before the new file could pass for the newest
    name = new_name(settings)
    subprocess.run(training_command(settings, settings.models_dir, name), cwd=PROJECT_ROOT, check=True)
    model = settings.models_dir / name
    os.chmod(model, SHARED_MODE)
    with switching(settings):
        record(settings, name, trained_by="make train", decision="live", reason=TRAINED_BY_DEVELOPER)
        _mark_live(settings, model, current)
    audit.record("make train", "model_live", {"model": name})
    prune(settings)
    return model


def _dumps(value: Any) -> Optional[str]:
    return json.dumps(value, ensure_ascii=False) if value is not None else None


def record(settings: Settings, name: str, *, trained_by: str, decision: str, reason: str,
           scores: Optional[Dict] = None, live_scores: Optional[Dict] = None,
           per_intent: Optional[List] = None, changed: Optional[List] = None,
           heldout: Optional[str] = None, answers: Optional[List] = None) -> None:
    """Keeps a newly trained model's scores and the gate's decision ("refused" until it goes live)."""
    with closing(connect(settings)) as db, db:
        db.execute(
            "INSERT INTO models (name, trained_at, trained_by, scores, live_scores, per_intent, changed, "
            "decision, reason, heldout, answers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, now(), trained_by, *map(_dumps, (scores, live_scores, per_intent, changed)), decision, reason,
             heldout, _dumps(answers)),
        )


def scored(settings: Settings, name: str, heldout: str) -> Optional[Tuple[Dict, List]]:
    """The scores and answers kept for model `name` on the held-out set `heldout` (its digest),
    if it was scored on that very set: a retraining need not score the live model again."""
    with closing(connect(settings)) as db:
        row = db.execute("SELECT scores, answers FROM models WHERE name = ? AND heldout = ?",
                         (name, heldout)).fetchone()
    return (json.loads(row[0]), json.loads(row[1])) if row and row[0] and row[1] else None


def keep_scored(settings: Settings, model: Path, heldout: str, scores: Dict, answers: List) -> None:
    """Keeps a model's scores and answers on the held-out set `heldout` for the next retraining."""
    with closing(connect(settings)) as db, db:
        _ensure_known(db, model)
        db.execute("UPDATE models SET scores = ?, heldout = ?, answers = ? WHERE name = ?",
                   (_dumps(scores), heldout, _dumps(answers), model.name))


@contextmanager
def switching(settings: Settings) -> Iterator[None]:
    """One model change at a time across processes (a going live and a rollback at once would
    leave the servers and LIVE disagreeing); AdminError 409 while another is under way."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.models_dir / ".switch.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AdminError(SWITCHING, 409) from None
        yield


def _mark_live(settings: Settings, model: Path, current: Optional[Path], replaced_as: str = "previous") -> None:
    """Records `model` live and `current`, the one it replaces, as `replaced_as`; writes LIVE."""
    with closing(connect(settings)) as db, db:
        db.execute("BEGIN IMMEDIATE")
        if current is not None and current.name != model.name:
            _ensure_known(db, current)
            db.execute("UPDATE models SET decision = ? WHERE name = ?", (replaced_as, current.name))
        _ensure_known(db, model)
        (seq,) = db.execute("SELECT COALESCE(MAX(live_seq), 0) + 1 FROM models").fetchone()
        db.execute("UPDATE models SET decision = 'live', went_live_at = ?, live_seq = ? WHERE name = ?",
                   (now(), seq, model.name))
    _write_live(settings, model)


def _ensure_known(db: sqlite3.Connection, model: Path) -> None:
    """A model live before the history was kept (a folder from an older version) gets a row."""
    trained_at = datetime.fromtimestamp(model.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    db.execute("INSERT OR IGNORE INTO models (name, trained_at, decision, reason, went_live_at, live_seq) "
               "VALUES (?, ?, 'live', ?, ?, 0)", (model.name, trained_at, WAS_LIVE, trained_at))


def go_live(settings: Settings, candidate: Path, who: str) -> Path:
    """Moves the candidate beside the live models, loads it into every Rasa server and makes it
    live; AdminError (502) naming the servers that could not load it, nothing changed then."""
    with switching(settings):
        previous = live_model(settings)
        model = settings.models_dir / candidate.name
        os.replace(candidate, model)
        try:
            _load_or_restore(settings, model, previous)
        except AdminError:
            os.replace(model, candidate)  # still a candidate: `make run` must not pick it as newest
            raise
        _mark_live(settings, model, previous)
    audit.record(who, "model_live", {"model": model.name, "previous": previous.name if previous else None})
    prune(settings)
    return model


def rollback(settings: Settings, who: str) -> Dict[str, Any]:
    """Puts the model that was live before the live one back into every Rasa server and LIVE;
    AdminError 409 when there is none. Repeated, it goes further back."""
    with switching(settings):
        current = live_model(settings)
        target = _rollback_target(settings)
        if target is None or current is None:
            raise AdminError(NO_PREVIOUS, 409)
        _load_or_restore(settings, target, current)
        _mark_live(settings, target, current, replaced_as="rolled_back")
    audit.record(who, "rollback", {"live": target.name, "previous": current.name})
    return {"live": target.name, "previous": current.name}


def put_live(settings: Settings, name: str, who: str) -> Dict[str, Any]:
    """Puts a kept model that passed the gate once (live, previous or rolled back) live again in
    every Rasa server and LIVE, as a rollback does: after a rollback, one action brings forward
    the model rolled back from. AdminError 404 for an unknown name, 409 for a refused model or
    one whose file was deleted."""
    with switching(settings):
        with closing(connect(settings)) as db:
            row = db.execute("SELECT decision FROM models WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise AdminError(UNKNOWN_MODEL, 404)
        if row[0] not in PASSED:
            raise AdminError(REFUSED_MODEL, 409)
        model = settings.models_dir / name
        if not model.is_file():
            raise AdminError(FILE_GONE.format(keep=KEEP), 409)
        current = live_model(settings)
        _load_or_restore(settings, model, current)
        _mark_live(settings, model, current)
    previous = current.name if current else None
    audit.record(who, "model_live", {"model": name, "previous": previous})
    return {"live": name, "previous": previous}


def _load_or_restore(settings: Settings, model: Path, previous: Optional[Path]) -> None:
    """Loads `model` into every Rasa server; if one fails, those that had loaded it get
    `previous` back, and AdminError names the failures."""
    os.chmod(model, SHARED_MODE)
    loaded: List[str] = []
    for url in settings.effective_rasa_replica_urls:
        error = load_into(settings, url, model)
        if error is None:
            loaded.append(url)
            continue
        for done in loaded:
            if previous is not None and (undo := load_into(settings, done, previous)):
                logger.error("the Rasa server %s could not get %s back: %s", done, previous.name, undo)
        raise AdminError(f"Máy chủ Rasa {url} không nạp được mô hình {model.name} ({error}); "
                         "mô hình đang chạy không thay đổi.", 502)


def load_into(settings: Settings, url: str, model: Path) -> Optional[str]:
    """Has the Rasa server at `url` load `model` (Rasa's `PUT /model`): None once it answers with
    it live, else why not (logged with its cause)."""
    target = f"{url}/model"
    if settings.rasa_api_token:
        target += "?" + urlencode({"token": settings.rasa_api_token})
    request = urllib.request.Request(target, method="PUT", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model_file": str(model.resolve())}).encode())
    try:
        with urllib.request.urlopen(request, timeout=LOAD_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode(errors="replace")
        logger.error("the Rasa server %s did not load %s: HTTP %s %s", url, model.name, exc.code, detail)
        return f"HTTP {exc.code}"
    except OSError as exc:
        logger.error("the Rasa server %s did not load %s: %s", url, model.name, exc)
        return str(getattr(exc, "reason", exc))


def prune(settings: Settings) -> List[str]:
    """Deletes the oldest model files beyond KEEP, never the live one or the one a rollback
    would bring back; their history stays. The names deleted."""
    keep = {p.name for p in (live_model(settings), _rollback_target(settings)) if p is not None}
    files = sorted([*settings.models_dir.glob(f"*{SUFFIX}"), *candidates_dir(settings).glob(f"*{SUFFIX}")],
                   key=lambda p: p.stat().st_mtime, reverse=True)
    removable = [p for p in files if p.name not in keep]
    excess = removable[max(KEEP - len(keep), 0):]
    for path in excess:
        path.unlink(missing_ok=True)
    return [p.name for p in excess]


def _rollback_target(settings: Settings) -> Optional[Path]:
    with closing(connect(settings)) as db:
        rows = db.execute("SELECT name FROM models WHERE decision = 'previous' ORDER BY live_seq DESC").fetchall()
    return next((settings.models_dir / n for (n,) in rows if (settings.models_dir / n).is_file()), None)


def _file_of(settings: Settings, name: str) -> Optional[Path]:
    return next((p for p in (settings.models_dir / name, candidates_dir(settings) / name) if p.is_file()), None)


def _loads(value: Optional[str]) -> Any:
    return json.loads(value) if value else None


def history(settings: Settings) -> Dict[str, Any]:
    """Every model, newest first, with its scores on the held-out set and its decision."""
    live = live_model(settings)
    with closing(connect(settings)) as db:
        rows = db.execute("SELECT name, trained_at, scores, decision, reason, went_live_at FROM models "
                          "ORDER BY trained_at DESC, name DESC").fetchall()
    models = [{"name": name, "trained_at": trained_at, "scores": _loads(scores), "decision": decision,
               "reason": reason, "went_live_at": went_live_at, "available": _file_of(settings, name) is not None}
              for name, trained_at, scores, decision, reason, went_live_at in rows]
    if live is not None and all(m["name"] != live.name for m in models):
        trained_at = datetime.fromtimestamp(live.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        models.insert(0, {"name": live.name, "trained_at": trained_at, "scores": None, "decision": "live",
                          "reason": WAS_LIVE, "went_live_at": None, "available": True})
    return {"live": live.name if live else None, "models": models}


def report(settings: Settings, name: str) -> Dict[str, Any]:
    """A model's scores beside those of the model live when it was scored: per intent, and the
    held-out examples whose answer changed; AdminError 404 for an unknown name."""
    with closing(connect(settings)) as db:
        row = db.execute("SELECT scores, live_scores, per_intent, changed, decision, reason FROM models "
                         "WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise AdminError(UNKNOWN_MODEL, 404)
    scores, live_scores, per_intent, changed, decision, reason = row
    return {"name": name, "candidate": _loads(scores), "live": _loads(live_scores),
            "per_intent": _loads(per_intent) or [], "changed": _loads(changed) or [],
            "decision": decision, "reason": reason}
