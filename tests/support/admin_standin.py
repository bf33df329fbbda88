"""A stand-in of the admins' service (`python -m bot.admin.server`) that keeps to its HTTP API (the
design of issue 11) with data held in memory, and remembers what it was asked and by whom: the
console's tests check what the console sends and shows without training anything."""
from __future__ import annotations

import copy
import hmac
import json
from typing import Any, Dict, List, Optional

from aiohttp import web

from tests.support.servers import Standin

TOKEN = "admin-token-for-tests"
CATEGORIES = [{"code": "moi_truong", "name": "Môi trường, vệ sinh"},
              {"code": "chieu_sang", "name": "Chiếu sáng công cộng"}, {"code": "cay_xanh", "name": "Cây xanh"},
              {"code": "giao_thong", "name": "Giao thông, hạ tầng đường"}]
INTENTS = ["report_issue", "check_status", "emergency", "inform", "greet", "out_of_scope"]
SCORES_LIVE = {"intent_accuracy": 0.9, "category_accuracy": 0.8, "emergency_recall": 1.0,
               "emergency_recall_with_question": 1.0, "examples": 120}
SCORES_NEW = {"intent_accuracy": 0.93, "category_accuracy": 0.85, "emergency_recall": 1.0,
              "emergency_recall_with_question": 1.0, "examples": 120}
NOT_EMERGENCY = ("Trợ lý đã hiểu tin này là tin khẩn cấp. Nếu chắc chắn không phải, hãy xác nhận "
                 "(confirm_emergency) rồi gán nhãn lại.")
PASSED_GATE = ("live", "previous", "rolled_back")


def group(key: str, text: str, count: int, reasons: Dict[str, int], **more: Any) -> Dict[str, Any]:
    return {"key": key, "text": text, "variants": [text], "count": count, "reasons": reasons,
            "guess": {"intent": "nlu_fallback", "intent_confidence": 0.31, "category": None,
                      "category_confidence": None},
            "hint": None, "previous": "Chào bạn! Bạn muốn phản ánh điều gì?", "channels": {"telegram": count},
            "last_seen": "2026-12-03T09:15:00+00:00", **more}


def sample_groups() -> List[Dict[str, Any]]:
    return [
        group("den duong kiet 45 nguyen hue toi om", "đèn đường kiệt 45 Nguyễn Huệ tối om", 7,
              {"fallback": 5, "low_intent": 2}, variants=["đèn đường kiệt 45 Nguyễn Huệ tối om",
                                                         "den duong kiet 45 nguyen hue toi om"]),
        group("cay do chan duong le loi", "cây đổ chắn đường Lê Lợi", 4, {"corrected_category": 4},
              guess={"intent": "report_issue", "intent_confidence": 0.88, "category": "giao_thong",
                     "category_confidence": 0.41}, hint={"category": "cay_xanh"},
              previous="Mình hiểu đây là phản ánh về Giao thông, hạ tầng đường. Đúng không ạ?"),
        group("xe rac khong den kiet 5 le loi", "xe rác không đến kiệt 5 Lê Lợi", 2, {"corrected_place": 2},
              hint={"address": "kiệt 5 Lê Lợi"}),
        group("bao gio co ket qua", "bao giờ có kết quả", 1, {"out_of_scope": 1}),
        group("cot dien do sap de len nha", "cột điện đổ sắp đè lên nhà", 1, {"low_intent": 1},
              guess={"intent": "emergency", "intent_confidence": 0.46, "category": None,
                     "category_confidence": None}),
    ]


class AdminStandin(Standin):
    """Answers as the service would; `requests` lists (method, path, who, body) of each call."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.groups = sample_groups()
        self.status: Dict[str, str] = {}
        self.decisions: Dict[str, Dict[str, Any]] = {}
        self.requests: List[tuple] = []
        self.audit: List[Dict[str, Any]] = []
        self.jobs: List[Dict[str, Any]] = []
        self.models: List[Dict[str, Any]] = [
            {"name": "hue-phan-anh-20261201-080000", "trained_at": "2026-12-01T08:00:00+00:00",
             "scores": SCORES_LIVE, "decision": "live", "reason": None, "went_live_at": "2026-12-01T08:01:00+00:00"}]
        self.polls_to_finish = 3  # GET /jobs/latest answers "running" that many times, then done
        self.next_decision = "live"

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._checked)
        app.router.add_get("/health", lambda request: web.json_response({"ok": True}))
        app.router.add_get("/inbox", self._inbox)
        app.router.add_get("/options", lambda request: web.json_response(
            {"intents": INTENTS, "categories": CATEGORIES}))
        app.router.add_post("/inbox/label", self._label)
        app.router.add_post("/inbox/discard", self._discard)
        app.router.add_post("/inbox/undo", self._undo)
        app.router.add_post("/retrain", self._retrain)
        app.router.add_get("/jobs/latest", self._latest)
        app.router.add_get("/models", self._models)
        app.router.add_get("/models/{name}", self._report)
        app.router.add_post("/rollback", self._rollback)
        app.router.add_post("/models/{name}/live", self._put_live)
        app.router.add_get("/dashboard", self._dashboard)
        app.router.add_get("/audit", self._audit)

    @web.middleware
    async def _checked(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path == "/health":
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given, f"Bearer {self.token}"):
            return web.json_response({"error": "Sai mã truy cập."}, status=401)
        who = request.headers.get("X-Admin-User")
        if request.method == "POST" and not who:
            return web.json_response({"error": "Thiếu X-Admin-User."}, status=400)
        body = await request.json() if request.method == "POST" else None
        self.requests.append((request.method, request.path_qs, who, body))
        return await handler(request)

    def _record(self, who: str, action: str, detail: Dict[str, Any]) -> None:
        """An audit entry; each a minute after the one before, from 11:10 UTC (18:10 in Huế)."""
        at = f"2026-12-03T11:{10 + len(self.audit):02d}:00+00:00"
        self.audit.insert(0, {"at": at, "who": who, "action": action, "detail": detail})

    async def _inbox(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "open")
        limit, offset = int(request.query.get("limit", 100)), int(request.query.get("offset", 0))
        found = [{**g, "decision": self.decisions.get(g["key"]) if status != "open" else None}
                 for g in self.groups if self.status.get(g["key"], "open") == status]
        return web.json_response({"groups": found[offset:offset + limit], "total_groups": len(found),
                                  "total_messages": sum(g["count"] for g in found)})

    def _open(self, keys: List[str], still_open: bool = True) -> List[Dict[str, Any]]:
        known = {g["key"]: g for g in self.groups if (self.status.get(g["key"], "open") == "open") == still_open}
        if not keys or any(key not in known for key in keys):
            raise web.HTTPNotFound(text=json.dumps({"error": "Không tìm thấy nhóm tin nhắn này."}),
                                   content_type="application/json")
        return [known[key] for key in keys]

    async def _label(self, request: web.Request) -> web.Response:
        body = await request.json()
        groups = self._open(body["keys"])
        if body["intent"] == "report_issue" and not body.get("category"):
            return web.json_response({"error": "Phản ánh cần chọn loại phản ánh."}, status=400)
        address = body.get("address")
        if address and (len(groups) != 1 or address not in groups[0]["text"]):
            return web.json_response({"error": "Địa chỉ phải là một đoạn của câu."}, status=400)
        if (body["intent"] != "emergency" and not body.get("confirm_emergency")
                and any(g["guess"].get("intent") == "emergency" for g in groups)):
            return web.json_response({"error": NOT_EMERGENCY}, status=409)
        who, written = request.headers["X-Admin-User"], []
        for g in groups:
            self.status[g["key"]] = "labelled"
            text = g["text"].replace(address, f"[{address}](address)") if address else g["text"]
            name = f"nlu_report_{body['category']}.yml" if body["intent"] == "report_issue" else "nlu.yml"
            written.append({"file": f"nlu/data/{name}", "text": text})
            self.decisions[g["key"]] = {"intent": body["intent"], "category": body.get("category"),
                                        "address": address, "by": who, "at": "2026-12-03T10:00:00+00:00",
                                        "written": written[-1]}
        self._record(who, "label", {"keys": body["keys"], "texts": [g["text"] for g in groups],
                                    "intent": body["intent"]})
        return web.json_response({"labelled": len(groups), "written": written})

    async def _discard(self, request: web.Request) -> web.Response:
        body = await request.json()
        groups = self._open(body["keys"])
        for g in groups:
            self.status[g["key"]] = "discarded"
            self.decisions[g["key"]] = {"intent": None, "category": None, "address": None,
                                        "by": request.headers["X-Admin-User"], "at": "2026-12-03T10:00:00+00:00"}
        self._record(request.headers["X-Admin-User"], "discard", {"keys": body["keys"],
                                                                   "texts": [g["text"] for g in groups]})
        return web.json_response({"discarded": len(body["keys"])})

    async def _undo(self, request: web.Request) -> web.Response:
        body = await request.json()
        removed = []
        for g in self._open(body["keys"], still_open=False):
            self.status.pop(g["key"])
            written = self.decisions.pop(g["key"]).get("written")
            if written:
                removed.append(written)
        self._record(request.headers["X-Admin-User"], "undo", {"keys": body["keys"]})
        return web.json_response({"reopened": len(body["keys"]), "removed": removed})

    async def _retrain(self, request: web.Request) -> web.Response:
        if self.jobs and self.jobs[-1]["state"] == "running":
            return web.json_response({"error": "Đang có một lần huấn luyện chạy."}, status=409)
        job = {"id": len(self.jobs) + 1, "state": "running", "stage": "training", "progress": 0.1,
               "message": "Đang huấn luyện mô hình mới…", "started_by": request.headers["X-Admin-User"],
               "started_at": "2026-12-03T10:00:00+00:00", "finished_at": None, "model": None, "decision": None,
               "reason": None, "polls": 0}
        self.jobs.append(job)
        self._record(job["started_by"], "retrain", {"job": job["id"]})
        return web.json_response(self._shown(job), status=202)

    @staticmethod
    def _shown(job: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in job.items() if k != "polls"}

    async def _latest(self, request: web.Request) -> web.Response:
        if not self.jobs:
            return web.json_response({"error": "Chưa có lần huấn luyện nào."}, status=404)
        job = self.jobs[-1]
        if job["state"] == "running":
            job["polls"] += 1
            if job["polls"] >= self.polls_to_finish:
                self._finish(job)
            else:
                job.update(stage="scoring", progress=0.7, message="Đang chấm điểm trên tập kiểm tra…")
        return web.json_response(self._shown(job))

    def _finish(self, job: Dict[str, Any]) -> None:
        name = f"hue-phan-anh-20261203-10000{job['id']}"
        live = self.next_decision == "live"
        reason = ("Không kém hơn mô hình đang dùng." if live
                  else "Độ chính xác loại phản ánh giảm 6,0 điểm, quá mức cho phép 1,0 điểm.")
        scores = SCORES_NEW if live else {**SCORES_LIVE, "category_accuracy": 0.74}
        if live:
            for model in self.models:
                if model["decision"] == "live":
                    model["decision"] = "previous"
                    self._record(job["started_by"], "model_live", {"model": name, "previous": model["name"]})
        self.models.insert(0, {"name": name, "trained_at": "2026-12-03T10:01:00+00:00", "scores": scores,
                               "decision": self.next_decision, "reason": reason,
                               "went_live_at": "2026-12-03T10:02:00+00:00" if live else None})
        job.update(state="done", stage="done", progress=1.0, message="Xong.", model=name,
                   decision=self.next_decision, reason=reason, finished_at="2026-12-03T10:02:00+00:00")

    async def _models(self, request: web.Request) -> web.Response:
        live = next((m["name"] for m in self.models if m["decision"] == "live"), None)
        return web.json_response({"live": live, "models": self.models})

    async def _report(self, request: web.Request) -> web.Response:
        model = next((m for m in self.models if m["name"] == request.match_info["name"]), None)
        if model is None:
            return web.json_response({"error": "Không có mô hình này."}, status=404)
        return web.json_response({
            "name": model["name"], "candidate": model["scores"], "live": SCORES_LIVE,
            "per_intent": [{"intent": "report_issue", "n": 60, "live": 0.9, "candidate": 0.95},
                           {"intent": "emergency", "n": 12, "live": 1.0, "candidate": 1.0}],
            "changed": [{"text": "cây đổ chắn đường Lê Lợi", "expected": "report_issue/cay_xanh",
                         "live_answer": "report_issue/giao_thong", "candidate_answer": "report_issue/cay_xanh",
                         "effect": "better"},
                        {"text": "đường Lê Lợi ngập sâu", "expected": "report_issue/cap_thoat_nuoc",
                         "live_answer": "report_issue/cap_thoat_nuoc", "candidate_answer": "report_issue/giao_thong",
                         "effect": "worse"},
                        {"text": "xin chào ạ", "expected": "greet", "live_answer": "thank",
                         "candidate_answer": "nlu_fallback", "effect": "changed"}],
            "decision": model["decision"], "reason": model["reason"]})

    async def _rollback(self, request: web.Request) -> web.Response:
        previous = next((m for m in self.models if m["decision"] == "previous"), None)
        live = next((m for m in self.models if m["decision"] == "live"), None)
        if previous is None or live is None:
            return web.json_response({"error": "Không có mô hình trước để quay lại."}, status=409)
        previous["decision"], live["decision"] = "live", "rolled_back"
        previous["went_live_at"] = "2026-12-03T11:30:00+00:00"
        self._record(request.headers["X-Admin-User"], "rollback", {"live": previous["name"], "previous": live["name"]})
        return web.json_response({"live": previous["name"], "previous": live["name"]})

    async def _put_live(self, request: web.Request) -> web.Response:
        model = next((m for m in self.models if m["name"] == request.match_info["name"]), None)
        if model is None:
            return web.json_response({"error": "Không có mô hình này."}, status=404)
        if model["decision"] not in PASSED_GATE:
            return web.json_response({"error": "Mô hình này chưa từng qua kiểm tra."}, status=409)
        live = next((m for m in self.models if m["decision"] == "live"), None)
        if live is not None and live is not model:
            live["decision"] = "previous"
        model["decision"], model["went_live_at"] = "live", "2026-12-03T11:45:00+00:00"
        previous = live["name"] if live else None
        self._record(request.headers["X-Admin-User"], "model_live", {"model": model["name"], "previous": previous})
        return web.json_response({"live": model["name"], "previous": previous})

    async def _dashboard(self, request: web.Request) -> web.Response:
        days = int(request.query.get("days", 30))
        rows = [{"date": f"2026-12-{d:02d}", "messages": 40 + 7 * d, "typed": 33 + 7 * d,
                 "understood_share": 0.8 + d / 100,
                 "fallback_rate": 0.12 - d / 200, "reports": {"telegram": d + 3, "zalo": 2, "web": d % 2}}
                for d in range(1, min(days, 3) + 1)]
        return web.json_response({"days": rows, "top_missed": [
            {"text": g["text"], "count": g["count"]} for g in self.groups[:3]], "totals": {}})

    async def _audit(self, request: web.Request) -> web.Response:
        return web.json_response(copy.deepcopy(self.audit[: int(request.query.get("limit", 100))]))

    def asked(self, method: str, path: str) -> Optional[tuple]:
        """The last request of `method` on `path` (without its query)."""
        return next((r for r in reversed(self.requests) if r[0] == method and r[1].split("?")[0] == path), None)
