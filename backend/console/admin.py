"""The console's admin section (`/console/admin/`, accounts with role admin only): the inbox of
messages the assistant did not understand, labelled or discarded one group at a time or in bulk;
training a new model and its decision, the models' history and rollback; a dashboard; the audit log.

The work is done by the admins' service (`admin_client`), called as the signed-in admin. Every form
posts, then comes back to its page (post/redirect/get) with what happened said once on top; a
labelling the service refuses comes back with what the admin chose and typed, and the reason beside
that group. A service that cannot be reached is said on the page rather than as a bare error.

Words are an admin's, not a data scientist's: intents by what they mean, models by when they were
trained (Huế time), scores under one name each, changes in percentage points ("điểm").
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, NoReturn, Optional, Set, Tuple

from aiohttp import web
from aiohttp_session import get_session
from multidict import MultiMapping

from ..appkeys import SETTINGS
from ..forms import local_time
from ..stats_page import numbers
from ..stats_page.charts import Bar
from . import views
from .accounts import ADMIN, Identity
from .admin_client import AdminProblem, client

log = logging.getLogger(__name__)

PREFIX = "/console/admin/"
PER_PAGE = 50
MAX_KEYS = 500  # one bulk action: far more than a page shows
TOO_MANY = f"Mỗi lần chỉ xử lý được tối đa {MAX_KEYS} nhóm tin nhắn."
MAX_FIELD = 300
AUDIT_LIMIT = 200
DAYS_CHOICES = (7, 30, 90)
_NOTICE = "admin_notice"  # session key: what the last form did, shown once on the next page
_KEPT_KEY_CHARS = 300  # a refused group form is kept (in the session's cookie) only for keys this short

STATUSES = {"open": "Chờ xử lý", "labelled": "Đã gán nhãn", "discarded": "Đã bỏ qua"}
REASONS = {
    "fallback": "Trợ lý không hiểu",
    "out_of_scope": "Ngoài phạm vi",
    "low_intent": "Ý định chưa chắc",
    "low_category": "Loại phản ánh chưa chắc",
    "corrected_category": "Người dân sửa loại",
    "corrected_place": "Người dân sửa địa điểm",
    "denied": "Người dân trả lời \"không phải\"",
    "no_category": "Phản ánh chưa rõ loại",
}
INTENTS = {
    "report_issue": "phản ánh sự việc",
    "check_status": "hỏi tình trạng phản ánh",
    "emergency": "khẩn cấp",
    "inform": "cung cấp thông tin (địa chỉ, mốc)",
    "greet": "chào",
    "goodbye": "tạm biệt",
    "thank": "cảm ơn",
    "affirm": "đồng ý",
    "deny": "không đồng ý",
    "cancel": "hủy",
    "help": "hỏi cách dùng",
    "bot_challenge": "hỏi có phải máy không",
    "out_of_scope": "ngoài phạm vi",
    "my_reports": "hỏi phản ánh của tôi",
    "share_location": "gửi vị trí",
    "send_photo": "gửi ảnh",
    "share_contact": "gửi số điện thoại",
    "nlu_fallback": "không hiểu",
}
STAGES = {"training": "Huấn luyện", "scoring": "Chấm điểm", "loading": "Nạp vào máy chủ trợ lý"}
DECISIONS = {
    "live": "Đang dùng",
    "refused": "Bị từ chối",
    "previous": "Đã dùng trước đây",
    "rolled_back": "Bị gỡ khi quay lại mô hình trước",
}
PASSED_GATE = ("live", "previous", "rolled_back")  # what may be put live again
SCORES = (
    ("intent_accuracy", "Độ chính xác ý định"),
    ("category_accuracy", "Độ chính xác loại phản ánh"),
    ("emergency_recall", "Nhận ra tin khẩn cấp"),
    ("emergency_recall_with_question", "Nhận ra tin khẩn cấp hoặc hỏi lại có ai gặp nguy hiểm"),
)
EFFECTS = {"better": "Tốt hơn", "worse": "Kém hơn", "changed": "Khác đi"}
ACTIONS = {
    "label": "Gán nhãn",
    "discard": "Bỏ qua",
    "undo": "Hoàn tác",
    "retrain": "Huấn luyện",
    "model_live": "Đưa mô hình vào sử dụng",
    "model_refused": "Từ chối mô hình mới",
    "rollback": "Quay lại mô hình trước",
}
_MODEL_STAMP = re.compile(r"(\d{8}-\d{6})")  # hue-phan-anh-YYYYmmdd-HHMMSS.tar.gz, in UTC

# What the service's audit details are called (others are shown by their own name).
DETAILS = {"keys": "nhóm", "texts": "câu", "text": "câu", "intent": "ý định", "category": "loại",
           "address": "địa chỉ", "written": "đã ghi", "removed": "đã xóa", "discarded": "đã bỏ qua",
           "reopened": "đã mở lại", "model": "mô hình", "previous": "thay cho", "live": "đang dùng",
           "reason": "lý do", "job": "lần huấn luyện"}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PREFIX.rstrip("/"), _to_inbox)
    router.add_get(PREFIX, inbox)
    router.add_post(f"{PREFIX}inbox/label", label)
    router.add_post(f"{PREFIX}inbox/discard", discard)
    router.add_post(f"{PREFIX}inbox/undo", undo)
    router.add_get(f"{PREFIX}training", training)
    router.add_get(f"{PREFIX}training/job", job_json)
    router.add_post(f"{PREFIX}training/retrain", retrain)
    router.add_post(f"{PREFIX}training/rollback", rollback)
    router.add_get(f"{PREFIX}models/{{name}}", model_page)
    router.add_post(f"{PREFIX}models/{{name}}/live", put_live)
    router.add_get(f"{PREFIX}dashboard", dashboard)
    router.add_get(f"{PREFIX}audit", audit)


async def admin_user(request: web.Request) -> Identity:
    """The signed-in admin (anonymous: to the sign-in page; any other role: 403)."""
    user = await views.signed_in(request)
    if user.role != ADMIN:
        log.warning("console: %s (%s) refused the admin section", user.login, user.role)
        raise web.HTTPForbidden(text="Khu quản trị chỉ dành cho tài khoản quản trị (admin).")
    return user


async def _to_inbox(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX)


async def _page(request: web.Request, template: str, section: str, context: Dict[str, Any],
                status: int = 200) -> web.Response:
    notice = (await get_session(request)).pop(_NOTICE, None)
    return await views.render(request, template, {"notice": notice, "section": section, **context}, status)


async def _problem(request: web.Request, section: str, problem: AdminProblem) -> web.Response:
    return await _page(request, "admin_problem.html", section, {"problem": problem.message}, problem.status)


async def _back(request: web.Request, to: str, text: str, error: bool = False,
                kept: Optional[Dict[str, Any]] = None) -> NoReturn:
    """After a form: `text` said once on the page `to`; `kept`, a refused form's choices, with it."""
    (await get_session(request))[_NOTICE] = {"text": text, "error": error, "kept": kept}
    raise web.HTTPSeeOther(to)


def _field(form: MultiMapping[Any], name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


async def _chosen(request: web.Request, form: MultiMapping[Any], to: str, none_chosen: str) -> List[str]:
    """The groups the form names; back to `to`, saying `none_chosen` or that they are too many, otherwise."""
    keys = [value.strip() for value in form.getall("key", []) if isinstance(value, str) and value.strip()]
    keys = list(dict.fromkeys(keys))
    if not keys:
        await _back(request, to, none_chosen, error=True)
    if len(keys) > MAX_KEYS:
        await _back(request, to, TOO_MANY, error=True)
    return keys


def _when(value: object) -> str:
    """An ISO time of the service as Huế's clock shows it."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return f"{local_time(moment):%H:%M %d/%m/%Y}"


def _share(value: object) -> str:
    return numbers.percent(value if isinstance(value, (int, float)) else None)


def _intent(name: object) -> str:
    """An intent as an admin reads it: what it means, its name after."""
    return f"{INTENTS[name]} ({name})" if isinstance(name, str) and name in INTENTS else str(name or "")


def _answer(value: object, categories: Dict[str, str]) -> str:
    """An answer of a model ("report_issue/cay_xanh") in words: "phản ánh sự việc · Cây xanh"."""
    if not isinstance(value, str) or not value:
        return numbers.MISSING
    intent, _, category = value.partition("/")
    said = INTENTS.get(intent, intent)
    return f"{said} · {categories.get(category, category)}" if category else said


def _model(name: object) -> Dict[str, str]:
    """A model by when it was trained (Huế time, from the UTC stamp of its file's name)."""
    text = str(name or "")
    stamp = _MODEL_STAMP.search(text)
    if stamp is None:
        return {"name": text, "label": text}
    trained = datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S")
    return {"name": text, "label": f"Mô hình huấn luyện lúc {local_time(trained):%H:%M %d/%m/%Y}"}


def _called(name: object) -> str:
    """A model named in a sentence."""
    model = _model(name)
    label = model["label"]
    return f"{label[0].lower()}{label[1:]} ({model['name']})" if label != model["name"] else label


def _ref(key: str) -> str:
    """A short stable reference of a group's key, for its element id and its kept form."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


# The inbox --------------------------------------------------------------------------------------

async def inbox(request: web.Request) -> web.Response:
    user = await admin_user(request)
    status = request.query.get("status", "open")
    status = status if status in STATUSES else "open"
    page = int(request.query["page"]) if request.query.get("page", "").isdigit() else 1
    page = max(1, min(page, 10_000))
    admin = client(request, user.login)
    try:
        found, options = await asyncio.gather(
            admin.inbox(status, PER_PAGE, (page - 1) * PER_PAGE), admin.options())
    except AdminProblem as problem:
        return await _problem(request, "inbox", problem)
    # A refused form comes back as the admin left it, its reason beside it.
    kept = ((await get_session(request)).get(_NOTICE) or {}).get("kept") or {}
    categories = {c["code"]: c["name"] for c in options.get("categories", [])}
    intents = [(name, _intent(name)) for name in options.get("intents", [])]
    sure = request.config_dict[SETTINGS].inbox_min_confidence
    groups = [_group(group, categories, {name for name, _ in intents}, sure, kept)
              for group in found.get("groups", [])]
    total = int(found.get("total_groups", len(groups)))
    return await _page(request, "admin_inbox.html", "inbox", {
        "groups": groups, "status": status, "statuses": STATUSES, "page": page,
        "pages": max(1, -(-total // PER_PAGE)), "total_groups": total,
        "total_messages": int(found.get("total_messages", 0)), "intents": intents, "categories": categories,
        "bulk": kept if kept.get("ref") == "bulk" else {},
        "any_emergency": any(g["emergency"] or g["danger_asked"] for g in groups),
    })


def _group(group: Dict[str, Any], categories: Dict[str, str], intents: Set[str], sure: float,
           kept: Dict[str, Any]) -> Dict[str, Any]:
    guess = group.get("guess") or {}
    hint = group.get("hint") or {}
    text, key = str(group.get("text", "")), str(group.get("key", ""))
    shown_guess = []
    if guess.get("intent"):
        said = INTENTS.get(guess["intent"], guess["intent"])
        shown_guess.append(f"{said} ({_share(guess.get('intent_confidence'))})")
    if guess.get("category"):
        name = categories.get(guess["category"], guess["category"])
        shown_guess.append(f"{name} ({_share(guess.get('category_confidence'))})")
    hint_text = ", ".join(_hint(name, str(value), categories) for name, value in hint.items())
    # The place the citizen typed after saying the one understood was wrong, when the message has it.
    address = str(hint.get("address") or "")
    # Only what the citizen chose, or a guess the assistant was sure of, pre-fills the form: an unsure
    # guess pre-selected would be labelled as it is by an admin who only glances at it.
    guessed_intent = guess.get("intent") if _sure(guess.get("intent_confidence"), sure) else None
    guessed_category = guess.get("category") if _sure(guess.get("category_confidence"), sure) else None
    category = hint.get("category") or guessed_category or ""
    intent = hint.get("intent") or ("report_issue" if hint.get("category") else guessed_intent) or ""
    ref = _ref(key)
    form = {"intent": intent if intent in intents else "", "category": category if category in categories else "",
            "address": address if address and address in text else "", "confirm_emergency": False, "error": ""}
    if kept.get("ref") == ref:
        form.update({name: kept.get(name) or form[name] for name in ("intent", "category", "address")},
                    confirm_emergency=bool(kept.get("confirm_emergency")), error=kept.get("error") or "")
    return {
        "key": key, "ref": ref, "text": text, "count": int(group.get("count", 0)),
        "variants": [v for v in group.get("variants", []) if v != text],
        "reasons": [(REASONS.get(reason, reason), n) for reason, n in (group.get("reasons") or {}).items()],
        "guess": " · ".join(shown_guess), "hint": hint_text, "previous": group.get("previous") or "",
        "channels": ", ".join(f"{name} ({n})" for name, n in (group.get("channels") or {}).items()),
        "last_seen": _when(group.get("last_seen")), "emergency": guess.get("intent") == "emergency",
        "danger_asked": bool(guess.get("danger_asked")),
        "decision": _decision(group.get("decision"), categories), **form,
    }


def _sure(confidence: object, sure: float) -> bool:
    return isinstance(confidence, (int, float)) and confidence >= sure


def _decision(decision: object, categories: Dict[str, str]) -> Optional[Dict[str, str]]:
    """What was decided of a labelled or discarded group, by whom and when."""
    if not isinstance(decision, dict):
        return None
    if decision.get("intent"):
        what = [_intent(decision["intent"])]
        if decision.get("category"):
            what.append(categories.get(str(decision["category"]), str(decision["category"])))
        if decision.get("address"):
            what.append(f"địa chỉ “{decision['address']}”")
        said = "Đã gán nhãn: " + " · ".join(what)
    else:
        said = "Đã bỏ qua"
    return {"said": said, "by": str(decision.get("by") or ""), "at": _when(decision.get("at"))}


def _hint(name: str, value: str, categories: Dict[str, str]) -> str:
    if name == "category":
        return categories.get(value, value)
    return f"địa chỉ \"{value}\"" if name == "address" else f"{name}: {value}"


async def label(request: web.Request) -> web.Response:
    user = await admin_user(request)
    form = await request.post()
    keys = await _chosen(request, form, PREFIX, "Chưa chọn tin nhắn nào để gán nhãn.")
    intent = _field(form, "intent")
    category, address = _field(form, "category") or None, _field(form, "address") or None
    confirm_emergency = form.get("confirm_emergency") == "yes"
    # A single group's form is that group's; the bulk form names several (or one ticked).
    ref = _ref(keys[0]) if form.get("form") == "group" and len(keys[0]) <= _KEPT_KEY_CHARS else "bulk"

    async def refused(message: str) -> web.Response:
        kept = {"ref": ref, "intent": intent, "category": category, "address": address,
                "confirm_emergency": confirm_emergency, "error": message}
        return await _back(request, PREFIX, message, error=True, kept=kept)

    if not intent:
        return await refused("Cần chọn ý định để gán nhãn.")
    try:
        done = await client(request, user.login).label(keys, intent, category, address, confirm_emergency)
    except AdminProblem as problem:
        return await refused(problem.message)
    files = sorted({entry["file"] for entry in done.get("written", []) if isinstance(entry, dict)})
    what = f"{intent}/{category}" if category else intent
    where = f" Đã ghi vào {', '.join(files)}." if files else " Các câu này đã có sẵn trong dữ liệu huấn luyện."
    log.info("console: %s labelled %d group(s) as %s", user.login, len(keys), what)
    return await _back(request, PREFIX, f"Đã gán nhãn {done.get('labelled', 0)} nhóm tin nhắn là "
                                        f"{_answer(what, await _categories(request, user))}.{where}")


async def _categories(request: web.Request, user: Identity) -> Dict[str, str]:
    """The categories' names (empty when the service cannot say: the codes are shown instead)."""
    try:
        options = await client(request, user.login).options()
    except AdminProblem:
        return {}
    return {c["code"]: c["name"] for c in options.get("categories", [])}


async def discard(request: web.Request) -> web.Response:
    user = await admin_user(request)
    keys = await _chosen(request, await request.post(), PREFIX, "Chưa chọn tin nhắn nào để bỏ qua.")
    try:
        done = await client(request, user.login).discard(keys)
    except AdminProblem as problem:
        return await _back(request, PREFIX, problem.message, error=True)
    log.info("console: %s discarded %d group(s)", user.login, len(keys))
    return await _back(request, PREFIX, f"Đã bỏ qua {done.get('discarded', 0)} nhóm tin nhắn.")


async def undo(request: web.Request) -> web.Response:
    """A labelled or discarded group back to the open ones; its example leaves the training data."""
    user = await admin_user(request)
    form = await request.post()
    status = _field(form, "status")
    to = f"{PREFIX}?status={status}" if status in STATUSES else PREFIX
    keys = await _chosen(request, form, to, "Chưa chọn nhóm nào để hoàn tác.")
    try:
        done = await client(request, user.login).undo(keys)
    except AdminProblem as problem:
        return await _back(request, to, problem.message, error=True)
    removed = [entry for entry in done.get("removed", []) if isinstance(entry, dict)]
    said = f"Đã hoàn tác: {done.get('reopened', 0)} nhóm tin nhắn trở lại mục “Chờ xử lý”."
    if removed:
        said += " Đã xóa khỏi dữ liệu huấn luyện: " + "; ".join(
            f"“{entry.get('text')}” ({entry.get('file')})" for entry in removed) + "."
    log.info("console: %s undid %d group(s)", user.login, len(keys))
    return await _back(request, to, said)


# Training and models ---------------------------------------------------------------------------

def _job(job: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not job:
        return None
    progress = job.get("progress")
    return {
        "id": job.get("id"), "state": job.get("state"), "stage": _stage(job.get("stage")),
        "percent": round(100 * progress) if isinstance(progress, (int, float)) else 0,
        "message": job.get("message") or "", "started_by": job.get("started_by") or "",
        "started_at": _when(job.get("started_at")), "finished_at": _when(job.get("finished_at")),
        "model": _model(job.get("model")) if job.get("model") else None, "decision": job.get("decision"),
        "reason": job.get("reason") or "",
    }


def _stage(stage: object) -> str:
    steps = list(STAGES)
    if stage not in steps:
        return "Xong" if stage == "done" else str(stage or "")
    return f"Bước {steps.index(stage) + 1}/{len(steps)}: {STAGES[str(stage)]}"


def _change(new: object, old: object) -> Dict[str, str]:
    change = new - old if isinstance(new, (int, float)) and isinstance(old, (int, float)) else None
    return {"candidate": _share(new), "live": _share(old), "change": _points(change), "trend": _trend(change)}


def _report(report: Optional[Dict[str, Any]], categories: Dict[str, str]) -> Optional[Dict[str, Any]]:
    if not report:
        return None
    candidate, live = report.get("candidate") or {}, report.get("live") or {}
    return {
        "model": _model(report.get("name")), "decision": report.get("decision"),
        "decision_label": DECISIONS.get(str(report.get("decision")), report.get("decision") or ""),
        "reason": report.get("reason") or "",
        "scores": [{"name": name, **_change(candidate.get(key), live.get(key))} for key, name in SCORES],
        "per_intent": [{"intent": _intent(row.get("intent")), "n": row.get("n"),
                        **_change(row.get("candidate"), row.get("live"))} for row in report.get("per_intent", [])],
        "examples": (candidate.get("examples"), live.get("examples")),
        "changed": [_changed(c, categories) for c in report.get("changed", []) if isinstance(c, dict)],
    }


def _changed(change: Dict[str, Any], categories: Dict[str, str]) -> Dict[str, str]:
    # Reports kept from before `effect` carry only `better`, whose false mixed worse with merely other.
    effect = change.get("effect") or ("better" if change.get("better") else "changed")
    effect = effect if effect in EFFECTS else "changed"
    return {"text": str(change.get("text", "")), "effect": effect, "effect_label": EFFECTS[effect],
            "expected": _answer(change.get("expected"), categories),
            "live_answer": _answer(change.get("live_answer"), categories),
            "candidate_answer": _answer(change.get("candidate_answer"), categories)}


def _points(change: Optional[float]) -> str:
    if change is None:
        return numbers.MISSING
    return ("+" if change > 0 else "") + numbers.decimal(change * 100) + " điểm"


def _trend(change: Optional[float]) -> str:
    if change is None or abs(change) < 1e-9:
        return "same"
    return "better" if change > 0 else "worse"


def _history(history: Dict[str, Any], entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    live = history.get("live")
    models = []
    for model in history.get("models", []):
        name, decision = model.get("name"), model.get("decision")
        # When a rolled-back model stopped being used is the rollback's time, kept in the audit log.
        removed = next((entry for entry in entries if entry.get("action") == "rollback"
                        and (entry.get("detail") or {}).get("previous") == name), None)
        models.append({
            **_model(name), "trained_at": _when(model.get("trained_at")),
            "scores": [_share((model.get("scores") or {}).get(key)) for key, _ in SCORES],
            "decision": decision, "decision_label": DECISIONS.get(str(decision), ""),
            "reason": model.get("reason") or "", "went_live_at": _when(model.get("went_live_at")),
            "removed_at": _when(removed.get("at")) if removed else "",
            "can_put_live": decision in PASSED_GATE and name != live and model.get("available", True) is not False,
        })
    return models


def _live(history: Dict[str, Any], models: List[Dict[str, Any]],
          entries: List[Dict[str, Any]]) -> Optional[Dict[str, str]]:
    """The model in use now, since when, and how it came to be (the newest audit entry about it)."""
    name = history.get("live")
    if not name:
        return None
    model = next((m for m in models if m["name"] == name), None)
    about = [entry for entry in entries if name in
             ((entry.get("detail") or {}).get("live"), (entry.get("detail") or {}).get("model"))
             and entry.get("action") in ("model_live", "rollback")]
    how = ""
    if about:
        newest, who, at = about[0], about[0].get("who", ""), _when(about[0].get("at"))
        if newest.get("action") == "rollback":
            how = f"Được quay lại bởi {who} lúc {at}, thay cho {_called(newest['detail'].get('previous'))}."
        elif len(about) > 1:  # it had gone live before: put live again
            how = f"Được đưa lại vào sử dụng bởi {who} lúc {at}."
        else:
            how = f"Được đưa vào sử dụng bởi {who} lúc {at}."
    return {**_model(name), "since": model["went_live_at"] if model else "", "how": how}


async def training(request: web.Request) -> web.Response:
    user = await admin_user(request)
    admin = client(request, user.login)
    try:
        job, history, entries, options = await asyncio.gather(
            admin.latest_job(), admin.models(), admin.audit(AUDIT_LIMIT), admin.options())
        done = job is not None and job.get("state") == "done" and job.get("model")
        report = await admin.report(str(job["model"])) if done and job else None
    except AdminProblem as problem:
        return await _problem(request, "training", problem)
    models = _history(history, entries)
    return await _page(request, "admin_training.html", "training", {
        "job": _job(job), "report": _report(report, _names(options)), "models": models,
        "live": _live(history, models, entries), "score_names": [name for _, name in SCORES],
        "can_rollback": any(model["decision"] == "previous" for model in models),
    })


def _names(options: Dict[str, Any]) -> Dict[str, str]:
    return {c["code"]: c["name"] for c in options.get("categories", [])}


async def job_json(request: web.Request) -> web.Response:
    """The latest job, for the training page's progress (polled while a training runs)."""
    user = await admin_user(request)
    try:
        job = await client(request, user.login).latest_job()
    except AdminProblem as problem:
        return web.json_response({"error": problem.message}, status=problem.status)
    return web.json_response({"job": _job(job)})


async def retrain(request: web.Request) -> web.Response:
    user = await admin_user(request)
    to = PREFIX + "training"
    try:
        job = await client(request, user.login).retrain()
    except AdminProblem as problem:
        return await _back(request, to, problem.message, error=True)
    log.info("console: %s started training job %s", user.login, job.get("id"))
    return await _back(request, to, "Đã bắt đầu huấn luyện mô hình mới; tiến độ hiện bên dưới.")


async def rollback(request: web.Request) -> web.Response:
    user = await admin_user(request)
    to = PREFIX + "training"
    if (await request.post()).get("confirm") != "yes":
        return await _back(request, to, "Hãy đánh dấu ô xác nhận trước khi quay lại mô hình trước.", error=True)
    try:
        done = await client(request, user.login).rollback()
    except AdminProblem as problem:
        return await _back(request, to, problem.message, error=True)
    log.info("console: %s rolled the model back to %s", user.login, done.get("live"))
    return await _back(request, to,
                       f"Đã quay lại {_called(done.get('live'))}, thay cho {_called(done.get('previous'))}.")


async def put_live(request: web.Request) -> web.Response:
    """A kept model that passed the gate before, in use again (after a rollback, say)."""
    user = await admin_user(request)
    name = request.match_info["name"]
    to = PREFIX + "training"
    if (await request.post()).get("confirm") != "yes":
        return await _back(request, to, "Hãy đánh dấu ô xác nhận trước khi đưa mô hình vào sử dụng lại.", error=True)
    try:
        done = await client(request, user.login).put_live(name)
    except AdminProblem as problem:
        return await _back(request, to, problem.message, error=True)
    log.info("console: %s put the model %s live again", user.login, done.get("live"))
    instead = f", thay cho {_called(done.get('previous'))}" if done.get("previous") else ""
    return await _back(request, to, f"Đã đưa lại vào sử dụng {_called(done.get('live'))}{instead}.")


async def model_page(request: web.Request) -> web.Response:
    user = await admin_user(request)
    admin = client(request, user.login)
    name = request.match_info["name"]
    try:
        report, history, options = await asyncio.gather(admin.report(name), admin.models(), admin.options())
    except AdminProblem as problem:
        return await _problem(request, "training", problem)
    if report is None:
        raise web.HTTPNotFound(text="Không tìm thấy mô hình này.")
    model = next((m for m in _history(history, []) if m["name"] == name), None)
    return await _page(request, "admin_model.html", "training", {
        "report": _report(report, _names(options)), "can_put_live": bool(model and model["can_put_live"]),
        "live": _model(history.get("live")) if history.get("live") else None})


# Dashboard and audit log -----------------------------------------------------------------------

async def dashboard(request: web.Request) -> web.Response:
    user = await admin_user(request)
    wanted = request.query.get("days", "")
    days = int(wanted) if wanted.isdigit() and int(wanted) in DAYS_CHOICES else 30
    try:
        figures = await client(request, user.login).dashboard(days)
    except AdminProblem as problem:
        return await _problem(request, "dashboard", problem)
    rows = figures.get("days", [])
    return await _page(request, "admin_dashboard.html", "dashboard", {
        "days": days, "choices": DAYS_CHOICES, "totals": _totals(rows),
        "rows": [_day(row) for row in rows if row.get("messages")],  # a quiet day says nothing in the table
        "daily": _columns(rows, "messages"), "understood": _columns(rows, "understood_share", top=1),
        "channels": _channel_bars(rows),
        "top_missed": [(m.get("text", ""), numbers.count(int(m.get("count", 0))))
                       for m in figures.get("top_missed", [])],
    })


def _rest(understood: object, fallback: object) -> Optional[float]:
    """The typed messages neither understood nor fallen back: out of scope, or not sure enough."""
    if not isinstance(understood, (int, float)) or not isinstance(fallback, (int, float)):
        return None
    return max(0.0, 1 - understood - fallback)


def _day(row: Dict[str, Any]) -> Dict[str, Any]:
    reports = row.get("reports") or {}
    return {"date": _date(row.get("date")), "messages": numbers.count(int(row.get("messages", 0))),
            "understood": _share(row.get("understood_share")), "fallback": _share(row.get("fallback_rate")),
            "unsure": _share(_rest(row.get("understood_share"), row.get("fallback_rate"))),
            "reports": numbers.count(sum(reports.values())),
            "by_channel": ", ".join(f"{name}: {n}" for name, n in sorted(reports.items()))}


def _date(value: object) -> str:
    try:
        return f"{datetime.strptime(str(value), '%Y-%m-%d'):%d/%m}"
    except ValueError:
        return str(value)


def _weighted(rows: List[Dict[str, Any]], figure: str) -> Optional[float]:
    # The shares are of the typed messages (buttons, pins and photos are understood by construction).
    weighed = [(int(row.get("typed", row.get("messages")) or 0), row[figure]) for row in rows
               if isinstance(row.get(figure), (int, float))]
    total = sum(n for n, _ in weighed)
    return sum(n * share for n, share in weighed) / total if total else None


def _totals(rows: List[Dict[str, Any]]) -> Dict[str, str]:
    understood, fallback = _weighted(rows, "understood_share"), _weighted(rows, "fallback_rate")
    return {
        "messages": numbers.count(sum(int(row.get("messages", 0)) for row in rows)),
        "understood": numbers.percent(understood), "fallback": numbers.percent(fallback),
        "unsure": numbers.percent(_rest(understood, fallback)),
        "reports": numbers.count(sum(sum((row.get("reports") or {}).values()) for row in rows)),
    }


def _columns(rows: List[Dict[str, Any]], figure: str, top: Optional[float] = None) -> List[Tuple[str, float, str]]:
    """One column a day, oldest first: its date, height (0-100) and value as text (its tooltip)."""
    values = [row.get(figure) if isinstance(row.get(figure), (int, float)) else None for row in rows]
    most = top or max((v for v in values if v is not None), default=0) or 1
    show = numbers.percent if top == 1 else (lambda v: numbers.count(int(v)))
    return [(_date(row.get("date")), round(100 * (value or 0) / most, 1),
             show(value) if value is not None else numbers.MISSING) for row, value in zip(rows, values, strict=True)]


def _channel_bars(rows: List[Dict[str, Any]]) -> List[Bar]:
    totals: Dict[str, int] = {}
    for row in rows:
        for name, n in (row.get("reports") or {}).items():
            totals[name] = totals.get(name, 0) + int(n)
    most = max(totals.values(), default=0) or 1
    return [Bar(name, round(100 * n / most, 1), numbers.count(n))
            for name, n in sorted(totals.items(), key=lambda item: -item[1])]


async def audit(request: web.Request) -> web.Response:
    user = await admin_user(request)
    admin = client(request, user.login)
    try:
        entries, options = await asyncio.gather(admin.audit(AUDIT_LIMIT), admin.options())
    except AdminProblem as problem:
        return await _problem(request, "audit", problem)
    categories = _names(options)
    return await _page(request, "admin_audit.html", "audit", {"entries": [{
        "at": _when(entry.get("at")), "who": entry.get("who", ""),
        "action": ACTIONS.get(str(entry.get("action")), entry.get("action", "")),
        "detail": _detail(entry.get("detail"), categories),
    } for entry in entries], "limit": AUDIT_LIMIT})


def _detail(detail: object, categories: Dict[str, str]) -> str:
    if not isinstance(detail, dict):
        return ""
    parts = []
    # Which messages first, as citizens wrote them (the folded keys say the same, less readably).
    for name in sorted(detail, key=lambda name: name not in ("texts", "text")):
        value = detail[name]
        if value is None or value == [] or (name == "keys" and detail.get("texts")):
            continue
        if name == "intent":
            value = INTENTS.get(str(value), value)
        elif name == "category":
            value = categories.get(str(value), value)
        items = value if isinstance(value, list) else [value]
        # A written example is {"file", "text"}: "file: text".
        shown = ", ".join(": ".join(map(str, item.values())) if isinstance(item, dict) else str(item)
                          for item in items)
        parts.append(f"{DETAILS.get(name, name)}: {shown[:200]}{'…' if len(shown) > 200 else ''}")
    return " · ".join(parts)
