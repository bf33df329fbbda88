"""The console's admin section (`/console/admin/`, accounts with role admin only): the inbox of
messages the assistant did not understand, labelled or discarded one group at a time or in bulk;
training a new model and its decision, the models' history and rollback; a dashboard; the audit log.

The work is done by the admins' service (`admin_client`), called as the signed-in admin. Every form
posts, then comes back to its page (post/redirect/get) with what happened said once on top; a
service that cannot be reached is said on the page rather than as a bare error.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set, Tuple

from aiohttp import web
from aiohttp_session import get_session
from multidict import MultiMapping

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

STATUSES = {"open": "Chờ xử lý", "labelled": "Đã gán nhãn", "discarded": "Đã bỏ qua"}
REASONS = {
    "fallback": "Trợ lý không hiểu",
    "out_of_scope": "Ngoài phạm vi",
    "low_intent": "Ý định chưa chắc",
    "low_category": "Loại phản ánh chưa chắc",
    "corrected_category": "Người dân sửa loại",
    "corrected_place": "Người dân sửa địa điểm",
    "denied": "Người dân trả lời \"không phải\"",
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
}
STAGES = {"training": "Huấn luyện", "scoring": "Chấm điểm", "loading": "Nạp vào máy chủ trợ lý"}
DECISIONS = {
    "live": "Đang dùng",
    "refused": "Bị từ chối",
    "previous": "Đã dùng trước đây",
    "rolled_back": "Đã quay lại từ mô hình này",
}
SCORES = (
    ("intent_accuracy", "Độ chính xác ý định"),
    ("category_accuracy", "Độ chính xác loại phản ánh"),
    ("emergency_recall", "Nhận ra tin khẩn cấp (recall)"),
)
ACTIONS = {
    "label": "Gán nhãn",
    "discard": "Bỏ qua",
    "retrain": "Huấn luyện",
    "model_live": "Đưa mô hình vào sử dụng",
    "model_refused": "Từ chối mô hình mới",
    "rollback": "Quay lại mô hình trước",
}

# What the service's audit details are called (others are shown by their own name).
DETAILS = {"keys": "nhóm", "intent": "ý định", "category": "loại", "address": "địa chỉ", "written": "đã ghi",
           "discarded": "đã bỏ qua", "model": "mô hình", "previous": "thay cho", "live": "đang dùng",
           "reason": "lý do", "job": "lần huấn luyện"}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PREFIX.rstrip("/"), _to_inbox)
    router.add_get(PREFIX, inbox)
    router.add_post(f"{PREFIX}inbox/label", label)
    router.add_post(f"{PREFIX}inbox/discard", discard)
    router.add_get(f"{PREFIX}training", training)
    router.add_get(f"{PREFIX}training/job", job_json)
    router.add_post(f"{PREFIX}training/retrain", retrain)
    router.add_post(f"{PREFIX}training/rollback", rollback)
    router.add_get(f"{PREFIX}models/{{name}}", model_page)
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


async def _back(request: web.Request, to: str, text: str, error: bool = False) -> web.Response:
    """After a form: `text` said once on the page `to`."""
    (await get_session(request))[_NOTICE] = {"text": text, "error": error}
    raise web.HTTPSeeOther(to)


def _field(form: MultiMapping[Any], name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def _keys(form: MultiMapping[Any]) -> List[str]:
    keys = [value.strip() for value in form.getall("key", []) if isinstance(value, str) and value.strip()]
    return list(dict.fromkeys(keys))


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
    categories = {c["code"]: c["name"] for c in options.get("categories", [])}
    intents = [(name, f"{name} — {INTENTS[name]}" if name in INTENTS else name) for name in options.get("intents", [])]
    groups = [_group(group, categories, {name for name, _ in intents}) for group in found.get("groups", [])]
    total = int(found.get("total_groups", len(groups)))
    return await _page(request, "admin_inbox.html", "inbox", {
        "groups": groups, "status": status, "statuses": STATUSES, "page": page,
        "pages": max(1, -(-total // PER_PAGE)), "total_groups": total,
        "total_messages": int(found.get("total_messages", 0)), "intents": intents, "categories": categories,
    })


def _group(group: Dict[str, Any], categories: Dict[str, str], intents: Set[str]) -> Dict[str, Any]:
    guess = group.get("guess") or {}
    hint = group.get("hint") or {}
    text = str(group.get("text", ""))
    shown_guess = []
    if guess.get("intent"):
        shown_guess.append(f"{guess['intent']} ({_share(guess.get('intent_confidence'))})")
    if guess.get("category"):
        name = categories.get(guess["category"], guess["category"])
        shown_guess.append(f"{name} ({_share(guess.get('category_confidence'))})")
    hint_text = ", ".join(_hint(name, str(value), categories) for name, value in hint.items())
    # The place the citizen typed after saying the one understood was wrong, when the message has it.
    address = str(hint.get("address") or "")
    # What the citizen chose beats the model's guess; either only pre-fills the form.
    category = hint.get("category") or guess.get("category") or ""
    intent = hint.get("intent") or ("report_issue" if hint.get("category") else guess.get("intent")) or ""
    return {
        "key": str(group.get("key", "")), "text": text, "count": int(group.get("count", 0)),
        "variants": [v for v in group.get("variants", []) if v != text],
        "reasons": [(REASONS.get(reason, reason), n) for reason, n in (group.get("reasons") or {}).items()],
        "guess": " · ".join(shown_guess), "hint": hint_text, "previous": group.get("previous") or "",
        "channels": ", ".join(f"{name} ({n})" for name, n in (group.get("channels") or {}).items()),
        "last_seen": _when(group.get("last_seen")),
        "intent": intent if intent in intents else "", "category": category if category in categories else "",
        "address": address if address and address in text else "",
    }


def _hint(name: str, value: str, categories: Dict[str, str]) -> str:
    if name == "category":
        return categories.get(value, value)
    return f"địa chỉ \"{value}\"" if name == "address" else f"{name}: {value}"


async def label(request: web.Request) -> web.Response:
    user = await admin_user(request)
    form = await request.post()
    keys, intent = _keys(form), _field(form, "intent")
    category, address = _field(form, "category") or None, _field(form, "address") or None
    if not keys:
        return await _back(request, PREFIX, "Chưa chọn tin nhắn nào để gán nhãn.", error=True)
    if len(keys) > MAX_KEYS:
        return await _back(request, PREFIX, TOO_MANY, error=True)
    if not intent:
        return await _back(request, PREFIX, "Cần chọn ý định (intent) để gán nhãn.", error=True)
    try:
        done = await client(request, user.login).label(keys, intent, category, address)
    except AdminProblem as problem:
        return await _back(request, PREFIX, problem.message, error=True)
    files = sorted({entry["file"] for entry in done.get("written", []) if isinstance(entry, dict)})
    what = f"{intent}/{category}" if category else intent
    where = f" Đã ghi vào {', '.join(files)}." if files else " Các câu này đã có sẵn trong dữ liệu huấn luyện."
    log.info("console: %s labelled %d group(s) as %s", user.login, len(keys), what)
    return await _back(request, PREFIX, f"Đã gán nhãn {done.get('labelled', 0)} nhóm tin nhắn là {what}.{where}")


async def discard(request: web.Request) -> web.Response:
    user = await admin_user(request)
    keys = _keys(await request.post())
    if not keys:
        return await _back(request, PREFIX, "Chưa chọn tin nhắn nào để bỏ qua.", error=True)
    if len(keys) > MAX_KEYS:
        return await _back(request, PREFIX, TOO_MANY, error=True)
    try:
        done = await client(request, user.login).discard(keys)
    except AdminProblem as problem:
        return await _back(request, PREFIX, problem.message, error=True)
    log.info("console: %s discarded %d group(s)", user.login, len(keys))
    return await _back(request, PREFIX, f"Đã bỏ qua {done.get('discarded', 0)} nhóm tin nhắn.")


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
        "model": job.get("model"), "decision": job.get("decision"), "reason": job.get("reason") or "",
    }


def _stage(stage: object) -> str:
    steps = list(STAGES)
    if stage not in steps:
        return "Xong" if stage == "done" else str(stage or "")
    return f"Bước {steps.index(stage) + 1}/{len(steps)}: {STAGES[str(stage)]}"


def _report(report: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not report:
        return None
    candidate, live = report.get("candidate") or {}, report.get("live") or {}
    scores = []
    for key, name in SCORES:
        new, old = candidate.get(key), live.get(key)
        change = new - old if isinstance(new, (int, float)) and isinstance(old, (int, float)) else None
        scores.append({"name": name, "candidate": _share(new), "live": _share(old), "change": _points(change),
                       "trend": _trend(change)})
    per_intent = []
    for row in report.get("per_intent", []):
        new, old = row.get("candidate"), row.get("live")
        change = new - old if isinstance(new, (int, float)) and isinstance(old, (int, float)) else None
        per_intent.append({"intent": row.get("intent"), "n": row.get("n"), "candidate": _share(new),
                           "live": _share(old), "change": _points(change), "trend": _trend(change)})
    return {
        "name": report.get("name"), "decision": report.get("decision"),
        "decision_label": DECISIONS.get(str(report.get("decision")), report.get("decision") or ""),
        "reason": report.get("reason") or "", "scores": scores, "per_intent": per_intent,
        "examples": (candidate.get("examples"), live.get("examples")), "changed": report.get("changed", []),
    }


def _points(change: Optional[float]) -> str:
    if change is None:
        return numbers.MISSING
    return ("+" if change > 0 else "") + numbers.decimal(change * 100) + " điểm"


def _trend(change: Optional[float]) -> str:
    if change is None or abs(change) < 1e-9:
        return "same"
    return "better" if change > 0 else "worse"


def _history(history: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{
        "name": model.get("name"), "trained_at": _when(model.get("trained_at")),
        "scores": [_share((model.get("scores") or {}).get(key)) for key, _ in SCORES],
        "decision": model.get("decision"), "decision_label": DECISIONS.get(str(model.get("decision")), ""),
        "reason": model.get("reason") or "", "went_live_at": _when(model.get("went_live_at")),
    } for model in history.get("models", [])]


async def training(request: web.Request) -> web.Response:
    user = await admin_user(request)
    admin = client(request, user.login)
    try:
        job, history = await asyncio.gather(admin.latest_job(), admin.models())
        done = job is not None and job.get("state") == "done" and job.get("model")
        report = await admin.report(str(job["model"])) if done and job else None
    except AdminProblem as problem:
        return await _problem(request, "training", problem)
    models = _history(history)
    return await _page(request, "admin_training.html", "training", {
        "job": _job(job), "report": _report(report), "models": models, "live": history.get("live"),
        "score_names": [name for _, name in SCORES],
        "can_rollback": any(model["decision"] == "previous" for model in models),
    })


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
    return await _back(request, to, f"Đã quay lại mô hình {done.get('live')} (thay cho {done.get('previous')}).")


async def model_page(request: web.Request) -> web.Response:
    user = await admin_user(request)
    try:
        report = await client(request, user.login).report(request.match_info["name"])
    except AdminProblem as problem:
        return await _problem(request, "training", problem)
    if report is None:
        raise web.HTTPNotFound(text="Không tìm thấy mô hình này.")
    return await _page(request, "admin_model.html", "training", {"report": _report(report)})


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


def _day(row: Dict[str, Any]) -> Dict[str, Any]:
    reports = row.get("reports") or {}
    return {"date": _date(row.get("date")), "messages": numbers.count(int(row.get("messages", 0))),
            "understood": _share(row.get("understood_share")), "fallback": _share(row.get("fallback_rate")),
            "reports": numbers.count(sum(reports.values())),
            "by_channel": ", ".join(f"{name}: {n}" for name, n in sorted(reports.items()))}


def _date(value: object) -> str:
    try:
        return f"{datetime.strptime(str(value), '%Y-%m-%d'):%d/%m}"
    except ValueError:
        return str(value)


def _weighted(rows: List[Dict[str, Any]], figure: str) -> Optional[float]:
    weighed = [(row["messages"], row[figure]) for row in rows
               if isinstance(row.get(figure), (int, float)) and row.get("messages")]
    total = sum(n for n, _ in weighed)
    return sum(n * share for n, share in weighed) / total if total else None


def _totals(rows: List[Dict[str, Any]]) -> Dict[str, str]:
    return {
        "messages": numbers.count(sum(int(row.get("messages", 0)) for row in rows)),
        "understood": numbers.percent(_weighted(rows, "understood_share")),
        "fallback": numbers.percent(_weighted(rows, "fallback_rate")),
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
    try:
        entries = await client(request, user.login).audit(AUDIT_LIMIT)
    except AdminProblem as problem:
        return await _problem(request, "audit", problem)
    return await _page(request, "admin_audit.html", "audit", {"entries": [{
        "at": _when(entry.get("at")), "who": entry.get("who", ""),
        "action": ACTIONS.get(str(entry.get("action")), entry.get("action", "")),
        "detail": _detail(entry.get("detail")),
    } for entry in entries], "limit": AUDIT_LIMIT})


def _detail(detail: object) -> str:
    if not isinstance(detail, dict):
        return ""
    parts = []
    for name, value in detail.items():
        if value is None or value == []:
            continue
        items = value if isinstance(value, list) else [value]
        # A written example is {"file", "text"}: "file: text".
        shown = ", ".join(": ".join(map(str, item.values())) if isinstance(item, dict) else str(item)
                          for item in items)
        parts.append(f"{DETAILS.get(name, name)}: {shown[:200]}{'…' if len(shown) > 200 else ''}")
    return " · ".join(parts)
