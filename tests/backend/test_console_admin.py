"""The console's admin section over HTTP, against a stand-in of the admins' service that keeps to its
API: who gets in, what an admin sees and does (label one message with its address, twenty in bulk,
discard, train, roll back), what reaches the service in their name, and what the page says when
the service is not configured, not reachable or refuses. (In a browser against the real service:
test_console_admin_browser.py.)"""
from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import web

from backend import create_app
from backend.console import admin_client
from backend.console.admin import MAX_KEYS
from bot.settings import Settings
from tests.support.admin_standin import TOKEN, AdminStandin, group
from tests.support.console import ConsoleUser, account
from tests.support.servers import Standin, free_port

PAGES = ["/console/admin/", "/console/admin/training", "/console/admin/dashboard", "/console/admin/audit",
         "/console/admin/models/hue-phan-anh-20261201-080000", "/console/admin/training/job"]
LAMP = "den duong kiet 45 nguyen hue toi om"
TREE = "cay do chan duong le loi"


@pytest.fixture
async def service():
    async with AdminStandin() as standin:
        yield standin


async def console_for(aiohttp_client, tmp_path, **admin_settings):
    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", **admin_settings)))
    await account(client.app, "admin.minh", "admin")
    await account(client.app, "ioc.lan")
    await account(client.app, "ubnd.phuxuan", "agency", "ubnd_19753")
    return client


@pytest.fixture
async def console(aiohttp_client, tmp_path, service):
    return await console_for(aiohttp_client, tmp_path, admin_url=service.url, admin_api_token=TOKEN)


async def admin_of(console) -> ConsoleUser:
    user = ConsoleUser(console)
    await user.sign_in("admin.minh")
    return user


async def after(user: ConsoleUser, response, page: str = "/console/admin/") -> str:
    """The page a form's answer sends back to, with what happened on top."""
    assert response.status == 303, (response.status, (await response.text())[:300])
    assert response.headers["Location"] == page
    return await user.page(page)


def notice(page: str) -> str:
    found = re.search(r'id="notice">([^<]*)<', page)
    assert found, "the page says nothing of the last action"
    return found.group(1)


async def test_only_admins_get_in(console, service):
    for path in PAGES:
        response = await console.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].startswith("/console/login?next=")
    for login in ("ioc.lan", "ubnd.phuxuan"):
        user = ConsoleUser(console)
        await user.sign_in(login)
        assert "/console/admin/" not in await user.page("/console/")  # no link to what they cannot open
        for path in PAGES:
            assert "chỉ dành cho tài khoản quản trị" in await user.page(path, status=403)
        for path in ("/console/admin/inbox/label", "/console/admin/inbox/discard",
                     "/console/admin/training/retrain", "/console/admin/training/rollback"):
            response = await user.post(path, {"key": LAMP, "intent": "greet", "confirm": "yes"})
            assert response.status == 403
    assert not service.requests  # nothing reached the service on their behalf
    admin = await admin_of(console)
    assert 'href="/console/admin/"' in await admin.page("/console/")
    for path in PAGES:
        await admin.page(path)


async def test_forms_need_the_sessions_csrf_token(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    for path in ("/console/admin/inbox/label", "/console/admin/training/retrain"):
        response = await admin.post(path, {"key": LAMP, "intent": "greet"}, csrf=False)
        assert response.status == 403
    assert not [r for r in service.requests if r[0] == "POST"]


async def test_the_inbox_shows_groups_by_count_with_what_the_assistant_guessed(console, service):
    page = await (await admin_of(console)).page("/console/admin/")
    assert "4 nhóm · 14 tin nhắn" in page
    positions = [page.index(text) for text in ("đèn đường kiệt 45 Nguyễn Huệ tối om", "cây đổ chắn đường Lê Lợi",
                                               "xe rác không đến kiệt 5 Lê Lợi", "bao giờ có kết quả")]
    assert positions == sorted(positions)
    assert "7×" in page and "den duong kiet 45 nguyen hue toi om" in page  # the spelling without marks
    assert "Trợ lý không hiểu (5)" in page and "Người dân sửa loại (4)" in page
    assert "report_issue (88,0%) · Giao thông, hạ tầng đường (41,0%)" in page
    assert "Người dân sửa thành</dt><dd>Cây xanh" in page
    assert "Mình hiểu đây là phản ánh về Giao thông, hạ tầng đường. Đúng không ạ?" in page
    # The citizen's correction pre-fills that group's form; the options are the service's.
    tree_form = page[page.index(f'value="{TREE}"'):]
    tree_form = tree_form[:tree_form.index("</form>")]
    assert '<option value="report_issue" selected>' in tree_form
    assert '<option value="cay_xanh" selected>' in tree_form
    assert '<option value="check_status">check_status — hỏi tình trạng phản ánh</option>' in page
    # The place the citizen typed again, found in their message, is the address to confirm.
    assert 'Người dân sửa thành</dt><dd>địa chỉ &#34;kiệt 5 Lê Lợi&#34;' in page
    assert 'value="kiệt 5 Lê Lợi"' in page
    assert service.asked("GET", "/inbox")[2] == "admin.minh"


async def test_labelling_one_message_with_its_address(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    response = await admin.post("/console/admin/inbox/label", {
        "key": LAMP, "intent": "report_issue", "category": "chieu_sang", "address": "kiệt 45 Nguyễn Huệ"})
    page = await after(admin, response)
    assert notice(page) == ("Đã gán nhãn 1 nhóm tin nhắn là report_issue/chieu_sang. "
                            "Đã ghi vào nlu/data/nlu_report_chieu_sang.yml.")
    method, _, who, body = service.asked("POST", "/inbox/label")
    assert who == "admin.minh"
    assert body == {"keys": [LAMP], "intent": "report_issue", "category": "chieu_sang",
                    "address": "kiệt 45 Nguyễn Huệ"}
    assert "đèn đường kiệt 45" not in page and "3 nhóm" in page  # gone from what waits
    assert "đèn đường kiệt 45 Nguyễn Huệ tối om" in await admin.page("/console/admin/?status=labelled")
    assert "id=\"notice\"" not in await admin.page("/console/admin/")  # said once


async def test_twenty_messages_labelled_at_once_and_others_discarded(console, service):
    service.groups = [group(f"rac o cho {n}", f"rác ở chợ {n}", 30 - n, {"fallback": 1}) for n in range(22)]
    admin = await admin_of(console)
    page = await admin.page("/console/admin/")
    assert page.count('form="bulk"') == 22
    chosen = [f"rac o cho {n}" for n in range(20)]
    form = [("key", key) for key in chosen] + [("intent", "report_issue"), ("category", "moi_truong"),
                                               ("csrf_token", admin.csrf)]
    page = await after(admin, await console.post("/console/admin/inbox/label", data=form, allow_redirects=False))
    assert notice(page).startswith("Đã gán nhãn 20 nhóm tin nhắn là report_issue/moi_truong.")
    assert service.asked("POST", "/inbox/label")[3]["keys"] == chosen  # one call, in the page's order
    assert "2 nhóm" in page
    form = [("key", "rac o cho 20"), ("key", "rac o cho 21"), ("csrf_token", admin.csrf)]
    page = await after(admin, await console.post("/console/admin/inbox/discard", data=form, allow_redirects=False))
    assert notice(page) == "Đã bỏ qua 2 nhóm tin nhắn."
    assert "Không có tin nhắn nào ở mục này." in page
    assert [entry["action"] for entry in service.audit] == ["discard", "label"]
    audit = await admin.page("/console/admin/audit")
    assert audit.count("admin.minh") >= 2 and "Bỏ qua" in audit and "Gán nhãn" in audit


async def test_more_groups_than_one_action_takes_are_refused_whole(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    keys = [("key", f"group {n}") for n in range(MAX_KEYS + 1)]
    for path in ("/console/admin/inbox/label", "/console/admin/inbox/discard"):
        response = await console.post(path, data=keys + [("intent", "greet"), ("csrf_token", admin.csrf)],
                                      allow_redirects=False)
        assert notice(await after(admin, response)) == "Mỗi lần chỉ xử lý được tối đa 500 nhóm tin nhắn."
    assert not [r for r in service.requests if r[0] == "POST"]


async def test_what_cannot_be_done_is_said_on_the_page(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    page = await after(admin, await admin.post("/console/admin/inbox/label", {"intent": "greet"}))
    assert notice(page) == "Chưa chọn tin nhắn nào để gán nhãn."
    page = await after(admin, await admin.post("/console/admin/inbox/label", {"key": LAMP, "intent": "report_issue"}))
    assert notice(page) == "Phản ánh cần chọn loại phản ánh."  # the service's own words
    page = await after(admin, await admin.post("/console/admin/inbox/label", {
        "key": LAMP, "intent": "report_issue", "category": "chieu_sang", "address": "Lê Lợi"}))
    assert notice(page) == "Địa chỉ phải là một đoạn của câu."
    page = await after(admin, await admin.post("/console/admin/inbox/discard", {"key": "already gone"}))
    assert notice(page) == "Không tìm thấy nhóm tin nhắn này."
    assert "4 nhóm" in page  # nothing changed


async def test_training_a_model_shows_progress_then_the_decision_and_rolls_back(console, service):
    admin = await admin_of(console)
    page = await admin.page("/console/admin/training")
    assert "Chưa có lần huấn luyện nào." in page and "hue-phan-anh-20261201-080000" in page
    assert 'id="rollback"' not in page  # nothing to go back to yet
    response = await admin.post("/console/admin/training/retrain", {})
    page = await after(admin, response, "/console/admin/training")
    assert notice(page) == "Đã bắt đầu huấn luyện mô hình mới; tiến độ hiện bên dưới."
    assert 'data-poll="/console/admin/training/job"' in page and "Bước 2/3: Chấm điểm" in page
    assert re.search(r'<button type="submit" disabled>Huấn luyện mô hình mới', page)
    page = await after(admin, await admin.post("/console/admin/training/retrain", {}), "/console/admin/training")
    assert notice(page) == "Đang có một lần huấn luyện chạy."
    answer = await (await console.get("/console/admin/training/job")).json()
    assert answer["job"]["state"] == "done" and answer["job"]["decision"] == "live"  # third look: done

    page = await admin.page("/console/admin/training")
    assert "Mô hình mới hue-phan-anh-20261203-100001 đã được đưa vào sử dụng." in page
    assert "<td>90,0%</td><td>93,0%</td><td class=\"trend-better\">+3,0 điểm</td>" in page
    assert "Chấm trên 120 câu của tập kiểm tra" in page
    assert "report_issue/giao_thong → mới: report_issue/cay_xanh" in page
    assert page.count("Đã dùng trước đây") == 1 and 'id="rollback"' in page

    page = await after(admin, await admin.post("/console/admin/training/rollback", {}), "/console/admin/training")
    assert notice(page) == "Hãy đánh dấu ô xác nhận trước khi quay lại mô hình trước."
    assert service.asked("POST", "/rollback") is None
    page = await after(admin, await admin.post("/console/admin/training/rollback", {"confirm": "yes"}),
                       "/console/admin/training")
    assert notice(page) == ("Đã quay lại mô hình hue-phan-anh-20261201-080000 "
                            "(thay cho hue-phan-anh-20261203-100001).")
    assert service.asked("POST", "/rollback")[2] == "admin.minh"
    page = await admin.page("/console/admin/models/hue-phan-anh-20261203-100001")
    assert "Đã quay lại từ mô hình này" in page
    await admin.page("/console/admin/models/no-such-model", status=404)


async def test_a_worse_model_is_shown_refused_with_its_reason(console, service):
    service.next_decision, service.polls_to_finish = "refused", 1
    admin = await admin_of(console)
    await admin.page("/console/admin/training")
    await admin.post("/console/admin/training/retrain", {})
    page = await admin.page("/console/admin/training")
    assert ("Mô hình mới hue-phan-anh-20261203-100001 không được đưa vào sử dụng: Độ chính xác loại phản ánh "
            "giảm 6,0 điểm, quá mức cho phép 1,0 điểm.") in page
    assert '<td class="trend-worse">-6,0 điểm</td>' in page
    assert "Bị từ chối" in page


async def test_the_dashboard_draws_its_figures(console, service):
    page = await (await admin_of(console)).page("/console/admin/dashboard?days=7")
    assert service.asked("GET", "/dashboard")[1] == "/dashboard?days=7"
    assert "<dd>162</dd>" in page and "<dd>23</dd>" in page  # 47 + 54 + 61 messages, 15 + 6 + 2 reports
    assert page.count("<rect x=") == 6  # a column a day, two charts
    assert "<title>03/12: 61</title>" in page and "<title>03/12: 83,0%</title>" in page
    assert re.search(r'<span class="bar-label">telegram</span>.*?<span class="bar-value">15</span>', page, re.S)
    assert "đèn đường kiệt 45 Nguyễn Huệ tối om</span> <span class=\"count\">7×" in page
    await (await admin_of(console)).page("/console/admin/dashboard?days=abc")  # back to 30 days


@pytest.mark.parametrize("case", ["not configured", "not reachable", "wrong token"])
async def test_a_service_out_of_reach_is_said_plainly(aiohttp_client, tmp_path, service, case):
    settings = {"not configured": {"admin_url": service.url},
                "not reachable": {"admin_url": f"http://127.0.0.1:{free_port()}", "admin_api_token": TOKEN},
                "wrong token": {"admin_url": service.url, "admin_api_token": "not-the-token"}}[case]
    console = await console_for(aiohttp_client, tmp_path, **settings)
    admin = await admin_of(console)
    expected = {"not configured": "Khu quản trị chưa được cấu hình",
                "not reachable": "Không kết nối được dịch vụ quản trị",
                "wrong token": "ADMIN_API_TOKEN của máy chủ điều hành và của dịch vụ quản trị không khớp"}[case]
    for path in ("/console/admin/", "/console/admin/training", "/console/admin/dashboard", "/console/admin/audit"):
        page = await admin.page(path, status=503 if case == "not configured" else 502)
        assert expected in page and "not-the-token" not in page
    response = await admin.post("/console/admin/inbox/label", {"key": LAMP, "intent": "greet"})
    assert response.status == 303
    status = 503 if case == "not configured" else 502
    assert expected in notice(await admin.page(response.headers["Location"], status=status))
    response = await console.get("/console/admin/training/job")
    assert expected in (await response.json())["error"]
    assert "Phản ánh" in await admin.page("/console/")  # the rest of the console carries on


class Unwell(Standin):
    """An admin service that answers too slowly, or a proxy's page in its place."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{path:.*}", self.answer)

    async def answer(self, request: web.Request) -> web.Response:
        if self.how == "slow":
            await asyncio.sleep(3)
        return web.Response(status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html")


@pytest.mark.parametrize("how, status, expected", [
    ("slow", 504, "Dịch vụ quản trị không trả lời kịp (quá 0.5 giây)"),
    ("proxy page", 502, "Dịch vụ quản trị gặp lỗi (mã 502)"),
])
async def test_a_slow_or_broken_service_is_said_plainly(aiohttp_client, tmp_path, monkeypatch, how, status, expected):
    monkeypatch.setattr(admin_client, "TIMEOUT_S", 0.5)
    async with Unwell(how) as unwell:
        console = await console_for(aiohttp_client, tmp_path, admin_url=unwell.url, admin_api_token=TOKEN)
        admin = await admin_of(console)
        assert expected in await admin.page("/console/admin/training", status=status)
        response = await admin.post("/console/admin/training/retrain", {})
        assert expected in notice(await admin.page(response.headers["Location"], status=status))
