"""The console's admin section over HTTP, against a stand-in of the admins' service that keeps to its
API: who gets in, what an admin sees and does (label one message with its address, twenty in bulk,
discard, undo, train, roll back and forward), what reaches the service in their name, and what the
page says when the service is not configured, not reachable or refuses. (In a browser against the
real service: test_console_admin_browser.py.)"""
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
POLE = "cot dien do sap de len nha"  # the assistant's guess: an emergency
NEW_MODEL, OLD_MODEL = "hue-phan-anh-20261203-100001", "hue-phan-anh-20261201-080000"
NEW_LABEL, OLD_LABEL = "Mô hình huấn luyện lúc 17:00 03/12/2026", "Mô hình huấn luyện lúc 15:00 01/12/2026"


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


def card(page: str, key: str) -> str:
    """The inbox card (its facts and its form) of the group `key`."""
    start = page.rindex('<li class="card group"', 0, page.index(f'value="{key}"'))
    ends = [at for at in (page.find('<li class="card group"', start + 1), page.find("</ol>", start)) if at > 0]
    return page[start:min(ends)]


def selected(html: str, name: str) -> str:
    """The value pre-selected in the select `name` of `html` ("" when none is)."""
    select = html[html.index(f'<select name="{name}"'):]
    found = re.search(r'<option value="([^"]*)" selected>', select[:select.index("</select>")])
    return found.group(1) if found else ""


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
    for path in PAGES[:-1]:
        assert '<link rel="icon" href="data:,">' in await admin.page(path)  # no 404 for /favicon.ico


async def test_forms_need_the_sessions_csrf_token(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    for path in ("/console/admin/inbox/label", "/console/admin/training/retrain"):
        response = await admin.post(path, {"key": LAMP, "intent": "greet"}, csrf=False)
        assert response.status == 403
    assert not [r for r in service.requests if r[0] == "POST"]


async def test_the_inbox_shows_groups_by_count_with_what_the_assistant_guessed(console, service):
    page = await (await admin_of(console)).page("/console/admin/")
    assert "5 nhóm · 15 tin nhắn" in page
    positions = [page.index(text) for text in ("đèn đường kiệt 45 Nguyễn Huệ tối om", "cây đổ chắn đường Lê Lợi",
                                               "xe rác không đến kiệt 5 Lê Lợi", "bao giờ có kết quả")]
    assert positions == sorted(positions)
    assert "7×" in page and "den duong kiet 45 nguyen hue toi om" in page  # the spelling without marks
    assert "Trợ lý không hiểu (5)" in page and "Người dân sửa loại (4)" in page
    assert "phản ánh sự việc (88,0%) · Giao thông, hạ tầng đường (41,0%)" in page
    assert "Người dân sửa thành</dt><dd>Cây xanh" in page
    assert "Mình hiểu đây là phản ánh về Giao thông, hạ tầng đường. Đúng không ạ?" in page
    # The citizen's correction pre-fills that group's form; the options are the service's, in words.
    tree = card(page, TREE)
    assert (selected(tree, "intent"), selected(tree, "category")) == ("report_issue", "cay_xanh")
    assert '<option value="check_status">hỏi tình trạng phản ánh (check_status)</option>' in page
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
    assert notice(page) == ("Đã gán nhãn 1 nhóm tin nhắn là phản ánh sự việc · Chiếu sáng công cộng. "
                            "Đã ghi vào nlu/data/nlu_report_chieu_sang.yml.")
    method, _, who, body = service.asked("POST", "/inbox/label")
    assert who == "admin.minh"
    assert body == {"keys": [LAMP], "intent": "report_issue", "category": "chieu_sang",
                    "address": "kiệt 45 Nguyễn Huệ", "confirm_emergency": False}
    assert "đèn đường kiệt 45" not in page and "4 nhóm" in page  # gone from what waits
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
    assert notice(page).startswith("Đã gán nhãn 20 nhóm tin nhắn là phản ánh sự việc · Môi trường, vệ sinh.")
    assert service.asked("POST", "/inbox/label")[3]["keys"] == chosen  # one call, in the page's order
    assert "2 nhóm" in page
    form = [("key", "rac o cho 20"), ("key", "rac o cho 21"), ("csrf_token", admin.csrf)]
    page = await after(admin, await console.post("/console/admin/inbox/discard", data=form, allow_redirects=False))
    assert notice(page) == "Đã bỏ qua 2 nhóm tin nhắn."
    assert "Không có tin nhắn nào ở mục này." in page
    assert [entry["action"] for entry in service.audit] == ["discard", "label"]
    audit = await admin.page("/console/admin/audit")
    assert audit.count("admin.minh") >= 2 and "Bỏ qua" in audit and "Gán nhãn" in audit
    assert "câu: rác ở chợ 20, rác ở chợ 21" in audit  # as citizens wrote it, not the folded keys
    assert "rac o cho" not in audit


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
    page = await after(admin, await admin.post("/console/admin/inbox/discard", {"key": "already gone"}))
    assert notice(page) == "Không tìm thấy nhóm tin nhắn này."
    assert "5 nhóm" in page  # nothing changed


async def test_a_refused_label_keeps_the_admins_choices_beside_the_group(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    chosen = {"key": LAMP, "form": "group", "intent": "report_issue", "category": "chieu_sang", "address": "Lê Lợi"}
    page = await after(admin, await admin.post("/console/admin/inbox/label", chosen))
    lamp = card(page, LAMP)
    assert '<p class="error group-error" role="alert">Địa chỉ phải là một đoạn của câu.</p>' in lamp
    assert (selected(lamp, "intent"), selected(lamp, "category")) == ("report_issue", "chieu_sang")
    assert 'value="Lê Lợi"' in lamp
    assert "group-error" not in card(page, TREE) and "<p class=\"error" not in page[page.index('id="bulk"'):]
    page = await admin.page("/console/admin/")  # said once: the form is the group's own again
    assert "group-error" not in page and 'value="Lê Lợi"' not in page
    # The bulk form keeps its own choices, and says why beside them.
    response = await console.post("/console/admin/inbox/label", data=[
        ("key", LAMP), ("key", TREE), ("intent", "report_issue"), ("csrf_token", admin.csrf)], allow_redirects=False)
    page = await after(admin, response)
    bulk = page[page.index('id="bulk"'):]
    assert "Phản ánh cần chọn loại phản ánh." in bulk and selected(bulk, "intent") == "report_issue"
    assert "group-error" not in card(page, LAMP)


async def test_only_the_citizens_correction_or_a_sure_guess_is_preselected(console, service):
    service.groups = [
        group("unsure", "rác quá trời", 3, {"low_intent": 3}, guess={
            "intent": "report_issue", "intent_confidence": 0.45, "category": "moi_truong", "category_confidence": 0.4}),
        group("sure intent", "đèn hư rồi", 2, {"low_category": 2}, guess={
            "intent": "report_issue", "intent_confidence": 0.9, "category": "chieu_sang", "category_confidence": 0.3}),
        group(TREE, "cây đổ chắn đường Lê Lợi", 1, {"corrected_category": 1}, guess={
            "intent": "report_issue", "intent_confidence": 0.9, "category": "giao_thong", "category_confidence": 0.8},
            hint={"category": "cay_xanh"}),
    ]
    page = await (await admin_of(console)).page("/console/admin/")
    unsure = card(page, "unsure")
    assert "phản ánh sự việc (45,0%) · Môi trường, vệ sinh (40,0%)" in unsure  # the guess, as text only
    assert (selected(unsure, "intent"), selected(unsure, "category")) == ("", "")
    sure = card(page, "sure intent")
    assert (selected(sure, "intent"), selected(sure, "category")) == ("report_issue", "")
    tree = card(page, TREE)
    assert (selected(tree, "intent"), selected(tree, "category")) == ("report_issue", "cay_xanh")


async def test_an_emergency_is_labelled_otherwise_only_when_the_admin_is_sure(console, service):
    admin = await admin_of(console)
    page = await admin.page("/console/admin/")
    pole = card(page, POLE)
    assert "Trợ lý đoán đây là <strong>tin khẩn cấp</strong>" in pole
    assert "khẩn cấp (46,0%)" in pole and selected(pole, "intent") == ""
    assert 'name="confirm_emergency" value="yes">' in pole
    assert "Tôi chắc chắn đây không phải tin khẩn cấp" in page[page.index('id="bulk"'):]
    assert "tin khẩn cấp" not in card(page, LAMP)
    chosen = {"key": POLE, "form": "group", "intent": "report_issue", "category": "giao_thong"}
    page = await after(admin, await admin.post("/console/admin/inbox/label", chosen))
    pole = card(page, POLE)
    assert "Trợ lý đã hiểu tin này là tin khẩn cấp." in pole  # the service's 409, beside the group
    assert (selected(pole, "intent"), selected(pole, "category")) == ("report_issue", "giao_thong")
    assert service.asked("POST", "/inbox/label")[3]["confirm_emergency"] is False
    page = await after(admin, await admin.post("/console/admin/inbox/label", {**chosen, "confirm_emergency": "yes"}))
    assert notice(page).startswith("Đã gán nhãn 1 nhóm tin nhắn là phản ánh sự việc · Giao thông, hạ tầng đường.")
    assert service.asked("POST", "/inbox/label")[3]["confirm_emergency"] is True


async def test_a_message_whose_citizen_was_asked_about_danger_asks_the_admin_to_be_sure(console, service):
    [lamp] = [g for g in service.groups if g["key"] == LAMP]
    lamp["guess"]["danger_asked"] = True
    page = await (await admin_of(console)).page("/console/admin/")
    shown = card(page, LAMP)
    assert "Trợ lý đã hỏi người gửi <strong>có ai đang gặp nguy hiểm không</strong>" in shown
    assert 'name="confirm_emergency" value="yes">' in shown
    assert "Tôi chắc chắn đây không phải tin khẩn cấp" in page[page.index('id="bulk"'):]


async def test_a_decision_is_shown_with_who_and_when_and_undone(console, service):
    admin = await admin_of(console)
    await admin.page("/console/admin/")
    await admin.post("/console/admin/inbox/label", {
        "key": LAMP, "intent": "report_issue", "category": "chieu_sang", "address": "kiệt 45 Nguyễn Huệ"})
    await admin.post("/console/admin/inbox/discard", {"key": TREE})
    page = await admin.page("/console/admin/?status=labelled")
    lamp = card(page, LAMP)
    assert ("Đã gán nhãn: phản ánh sự việc (report_issue) · Chiếu sáng công cộng · "
            "địa chỉ “kiệt 45 Nguyễn Huệ”") in lamp
    assert "bởi admin.minh lúc 17:00 03/12/2026" in lamp and ">Hoàn tác</button>" in lamp
    assert 'name="intent"' not in page  # decided: nothing to label
    response = await admin.post("/console/admin/inbox/undo", {"key": LAMP, "status": "labelled"})
    page = await after(admin, response, "/console/admin/?status=labelled")
    assert notice(page) == ("Đã hoàn tác: 1 nhóm tin nhắn trở lại mục “Chờ xử lý”. Đã xóa khỏi dữ liệu huấn luyện: "
                            "“đèn đường [kiệt 45 Nguyễn Huệ](address) tối om” (nlu/data/nlu_report_chieu_sang.yml).")
    assert service.asked("POST", "/inbox/undo")[2:] == ("admin.minh", {"keys": [LAMP]})
    assert "Không có tin nhắn nào ở mục này." in page
    discarded = card(await admin.page("/console/admin/?status=discarded"), TREE)
    assert "Đã bỏ qua" in discarded and "bởi admin.minh" in discarded
    response = await admin.post("/console/admin/inbox/undo", {"key": TREE, "status": "discarded"})
    page = await after(admin, response, "/console/admin/?status=discarded")
    assert notice(page) == "Đã hoàn tác: 1 nhóm tin nhắn trở lại mục “Chờ xử lý”."
    assert "5 nhóm" in await admin.page("/console/admin/")
    page = await after(admin, await admin.post("/console/admin/inbox/undo", {"key": TREE, "status": "labelled"}),
                       "/console/admin/?status=labelled")
    assert notice(page) == "Không tìm thấy nhóm tin nhắn này."  # already open: said, nothing done


async def test_training_a_model_shows_progress_then_the_decision_and_rolls_back(console, service):
    admin = await admin_of(console)
    page = await admin.page("/console/admin/training")
    assert "Chưa có lần huấn luyện nào." in page and OLD_MODEL in page and OLD_LABEL in page
    assert 'id="rollback"' not in page and "put-live" not in page  # nothing to go back or forward to yet
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
    live = page[page.index('id="live-model"'):page.index('id="latest-job"')]
    assert NEW_LABEL in live and "từ 17:02 03/12/2026" in live
    assert f'<p class="notice" id="job-outcome">{NEW_LABEL} đã qua kiểm tra và đang được dùng.' in page
    assert ('<td data-label="Mô hình cũ">90,0%</td><td data-label="Mới">93,0%</td>'
            '<td data-label="Thay đổi" class="trend-better">+3,0 điểm</td>') in page
    assert "Nhận ra tin khẩn cấp hoặc hỏi lại có ai gặp nguy hiểm" in page
    assert "Chấm trên 120 câu của tập kiểm tra" in page
    assert "<th scope=\"row\">phản ánh sự việc (report_issue)</th>" in page  # per intent, in words
    assert ("mô hình cũ: phản ánh sự việc · Giao thông, hạ tầng đường → mới: phản ánh sự việc · Cây xanh") in page
    effects = re.findall(r'<li class="(\w+)">\s*<span class="badge">([^<]+)</span>', page)
    assert effects == [("better", "Tốt hơn"), ("worse", "Kém hơn"), ("changed", "Khác đi")]
    assert page.count("Đã dùng trước đây") == 1 and 'id="rollback"' in page

    page = await after(admin, await admin.post("/console/admin/training/rollback", {}), "/console/admin/training")
    assert notice(page) == "Hãy đánh dấu ô xác nhận trước khi quay lại mô hình trước."
    assert service.asked("POST", "/rollback") is None
    page = await after(admin, await admin.post("/console/admin/training/rollback", {"confirm": "yes"}),
                       "/console/admin/training")
    assert notice(page) == (f"Đã quay lại mô hình huấn luyện lúc 15:00 01/12/2026 ({OLD_MODEL}), "
                            f"thay cho mô hình huấn luyện lúc 17:00 03/12/2026 ({NEW_MODEL}).")
    assert service.asked("POST", "/rollback")[2] == "admin.minh"
    # What is in use now comes first; the last training's outcome is history, no longer in green.
    live = page[page.index('id="live-model"'):page.index('id="latest-job"')]
    assert OLD_LABEL in live and "từ 18:30 03/12/2026" in live
    assert "Được quay lại bởi admin.minh lúc 18:12 03/12/2026, thay cho mô hình huấn luyện lúc 17:00" in live
    assert 'class="notice" id="job-outcome"' not in page and "nay không còn dùng" in page
    # The model rolled back from: when that happened (not when it had gone live), and a way back to it.
    row = page[page.index(f'<a href="/console/admin/models/{NEW_MODEL}">'):]
    row = row[:row.index("</tr>")]
    assert "Bị gỡ khi quay lại mô hình trước</span>" in row and "lúc 18:12 03/12/2026" in row
    assert "17:02" not in row and "Đưa lại vào sử dụng…" in row
    page = await admin.page(f"/console/admin/models/{NEW_MODEL}")
    assert "Bị gỡ khi quay lại mô hình trước" in page and ">Đưa lại vào sử dụng</button>" in page
    await admin.page("/console/admin/models/no-such-model", status=404)

    page = await after(admin, await admin.post(f"/console/admin/models/{NEW_MODEL}/live", {}),
                       "/console/admin/training")
    assert notice(page) == "Hãy đánh dấu ô xác nhận trước khi đưa mô hình vào sử dụng lại."
    assert service.asked("POST", f"/models/{NEW_MODEL}/live") is None
    page = await after(admin, await admin.post(f"/console/admin/models/{NEW_MODEL}/live", {"confirm": "yes"}),
                       "/console/admin/training")
    assert notice(page) == (f"Đã đưa lại vào sử dụng mô hình huấn luyện lúc 17:00 03/12/2026 ({NEW_MODEL}), "
                            f"thay cho mô hình huấn luyện lúc 15:00 01/12/2026 ({OLD_MODEL}).")
    assert service.asked("POST", f"/models/{NEW_MODEL}/live")[2:] == ("admin.minh", {})
    live = page[page.index('id="live-model"'):page.index('id="latest-job"')]
    assert NEW_LABEL in live and "Được đưa lại vào sử dụng bởi admin.minh lúc 18:13 03/12/2026." in live
    assert f'<p class="notice" id="job-outcome">{NEW_LABEL} đã qua kiểm tra và đang được dùng.' in page


async def test_a_worse_model_is_shown_refused_and_cannot_be_put_live(console, service):
    service.next_decision, service.polls_to_finish = "refused", 1
    admin = await admin_of(console)
    await admin.page("/console/admin/training")
    await admin.post("/console/admin/training/retrain", {})
    page = await admin.page("/console/admin/training")
    assert (f"{NEW_LABEL} không được đưa vào sử dụng: Độ chính xác loại phản ánh "
            "giảm 6,0 điểm, quá mức cho phép 1,0 điểm.") in page
    assert '<td data-label="Thay đổi" class="trend-worse">-6,0 điểm</td>' in page
    assert "Bị từ chối" in page and "put-live" not in page
    assert "put-live" not in await admin.page(f"/console/admin/models/{NEW_MODEL}")
    page = await after(admin, await admin.post(f"/console/admin/models/{NEW_MODEL}/live", {"confirm": "yes"}),
                       "/console/admin/training")
    assert notice(page) == "Mô hình này chưa từng qua kiểm tra."  # the service's 409, said


async def test_the_dashboard_draws_its_figures(console, service):
    page = await (await admin_of(console)).page("/console/admin/dashboard?days=7")
    assert service.asked("GET", "/dashboard")[1] == "/dashboard?days=7"
    assert "<dd>162</dd>" in page and "<dd>23</dd>" in page  # 47 + 54 + 61 messages, 15 + 6 + 2 reports
    # Understood, not understood, and the rest (unsure, out of scope) of the typed messages: 100% together.
    shares = re.findall(r"<dt>(Trợ lý hiểu|Không hiểu|Chưa chắc hoặc ngoài phạm vi)</dt><dd>([\d,]+)%</dd>", page)
    assert [name for name, _ in shares] == ["Trợ lý hiểu", "Không hiểu", "Chưa chắc hoặc ngoài phạm vi"]
    assert abs(sum(float(value.replace(",", ".")) for _, value in shares) - 100) < 0.15
    assert "cộng lại thành 100%" in page
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
