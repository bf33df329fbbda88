"""The console over HTTP, on SQLite and PostgreSQL: who gets in, for how long, which forms count,
and what an agency account may see and change. (The operator's day in a browser:
test_console_browser.py; the accounts CLI: test_console_accounts.py.)"""
from __future__ import annotations

import dataclasses
import re
import time

import pytest
from cryptography.fernet import Fernet

from backend import create_app
from backend.appkeys import SESSIONS, SETTINGS
from backend.console import security
from backend.queries import get_report
from bot.report_codes import report_number
from bot.settings import Settings, SettingsError, load_settings
from tests.support.console import ConsoleUser, account
from tests.support.images import jpeg
from tests.support.open311 import create_at_phu_xuan, show

PHONE = "0905123456"


@pytest.fixture
async def console(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    await account(client.app, "ioc.lan")
    await account(client.app, "ubnd.phuxuan", "agency", "ubnd_19753")
    return client


async def agency_of(client, code: str) -> str:
    async with client.app[SESSIONS]() as session:
        return (await get_report(session, report_number(code))).agency_id


async def test_anonymous_people_are_sent_to_sign_in(console):
    code = await create_at_phu_xuan(console)
    for path in ("/console/", f"/console/reports/{code}"):
        response = await console.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"].startswith("/console/login?next=")
    response = await console.post(f"/console/reports/{code}/state", data={"state": "in_progress"})
    assert response.status == 403  # no session, so no CSRF token: refused before anything else
    assert (await show(console, code))["state"] == "received"


async def test_sign_in_shows_the_list_and_sign_out_ends_it(console):
    code = await create_at_phu_xuan(console, description="Rác chất đống đầu kiệt 12")
    user = ConsoleUser(console)
    response = await user.sign_in("ioc.lan", "wrong password!", status=401)
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in await response.text()
    response = await user.sign_in("ioc.lan")
    assert response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console/" in cookie
    assert "Secure" not in cookie  # the public URL is http here
    page = await user.page("/console/")
    assert code in page and "Rác chất đống đầu kiệt 12" in page
    assert (await user.post("/console/logout", {})).status == 302
    response = await console.get("/console/", allow_redirects=False)
    assert response.status == 302 and "/console/login" in response.headers["Location"]


async def test_cookies_are_secure_behind_https(aiohttp_client, settings):
    client = await aiohttp_client(create_app(dataclasses.replace(
        settings, backend_public_url="https://phananh.example.vn")))
    response = await client.get("/console/login")
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_session_unused_for_the_idle_time_is_over(console, monkeypatch):
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    await user.page("/console/")
    later = time.time() + console.app[SETTINGS].console_idle_minutes * 60 + 5
    monkeypatch.setattr(security, "clock", lambda: later)
    response = await console.get("/console/", allow_redirects=False)
    assert response.status == 302 and "expired=1" in response.headers["Location"]
    page = await user.page(response.headers["Location"])
    assert "Phiên làm việc đã hết hạn" in page


async def test_forms_without_the_sessions_csrf_token_are_refused(console):
    code = await create_at_phu_xuan(console)
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    await user.page(f"/console/reports/{code}")
    response = await user.post(f"/console/reports/{code}/state", {"state": "in_progress"}, csrf=False)
    assert response.status == 403
    assert "Biểu mẫu đã hết hạn hoặc không hợp lệ" in await response.text()
    response = await user.post(f"/console/reports/{code}/state", {"state": "in_progress", "csrf_token": "x" * 43},
                               csrf=False)
    assert response.status == 403
    assert (await show(console, code))["state"] == "received"
    response = await user.post(f"/console/reports/{code}/state", {"state": "in_progress"})
    assert response.status == 303
    assert (await show(console, code))["state"] == "in_progress"


async def test_too_many_wrong_passwords_close_the_door_for_a_while(console):
    user = ConsoleUser(console)
    for _ in range(security.FAILURES_PER_LOGIN):
        await user.sign_in("ioc.lan", "not the password", status=401)
    response = await user.sign_in("ioc.lan", status=429)  # even the right password, for now
    assert "sai quá nhiều lần" in await response.text()


async def test_an_agency_account_works_only_its_own_reports(console):
    ours = await create_at_phu_xuan(console, description="Rác ở chợ", phone=PHONE, account_id="telegram:42")
    theirs = await create_at_phu_xuan(console, service_code="an_ninh_trat_tu", description="Đánh nhau")
    assert (await agency_of(console, ours), await agency_of(console, theirs)) == ("ubnd_19753", "ca_19753")
    user = ConsoleUser(console)
    await user.sign_in("ubnd.phuxuan")
    page = await user.page("/console/?state=&agency_id=ca_19753")  # asking for another agency's list
    assert ours in page and theirs not in page
    page = await user.page(f"/console/reports/{ours}")
    assert "Rác ở chợ" in page
    assert PHONE not in page and "telegram:42" not in page  # an agency calls nobody: the IOC does
    assert "Chuyển cơ quan xử lý" not in page
    await user.page(f"/console/reports/{theirs}", status=403)
    response = await user.post(f"/console/reports/{theirs}/state", {"state": "in_progress"})
    assert response.status == 403
    response = await user.post(f"/console/reports/{ours}/reassign", {"agency_id": "ioc", "reason": "Sai"})
    assert response.status == 403
    assert (await show(console, theirs))["state"] == "received"
    assert (await agency_of(console, ours)) == "ubnd_19753"
    response = await user.post(f"/console/reports/{ours}/state", {"state": "in_progress", "note": "Đang dọn"})
    assert response.status == 303
    assert (await show(console, ours))["state"] == "in_progress"


async def test_an_operator_sees_the_phone_moves_resolves_with_a_photo_and_reassigns(console):
    code = await create_at_phu_xuan(console, phone=PHONE)
    other = await create_at_phu_xuan(console)
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    assert PHONE in await user.page(f"/console/reports/{code}")
    assert (await user.post(f"/console/reports/{code}/state", {"state": "in_progress"})).status == 303
    response = await user.post(f"/console/reports/{code}/state", {"state": "resolved", "note": "Đã dọn"})
    assert response.status == 400
    assert "Cần ảnh sau khi xử lý, hoặc ghi rõ lý do không có ảnh" in await response.text()
    response = await user.post(f"/console/reports/{code}/state",
                               {"state": "resolved", "note": "Đã dọn sạch", "photo": jpeg(size=(800, 600))})
    assert response.status == 303
    report = await show(console, code)
    assert report["state"] == "resolved"
    assert "Đã dọn sạch" in await user.page(f"/console/reports/{code}")
    async with console.app[SESSIONS]() as session:
        [*_, resolved] = (await get_report(session, report_number(code))).updates
    assert resolved.media_url and resolved.actor == "operator"
    assert (await console.get(resolved.media_url.split("8000", 1)[-1])).status == 200
    response = await user.post(f"/console/reports/{other}/reassign",
                               {"agency_id": "hepco", "reason": "Rác sinh hoạt do HEPCO thu gom"})
    assert response.status == 303
    assert await agency_of(console, other) == "hepco"
    assert "Rác sinh hoạt do HEPCO thu gom" in await user.page(f"/console/reports/{other}")


async def test_a_refused_form_keeps_what_was_typed_and_a_saved_one_says_so(console):
    code = await create_at_phu_xuan(console, address_string="12 Lê Lợi, Phường Phú Xuân")
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    page = await user.page(f"/console/reports/{code}")
    place = re.search(r"<dt>Địa điểm</dt><dd>([^<]*)", page).group(1)
    assert place.count("Phú Xuân") == 1, f"the place names its ward once: {place}"
    assert (await user.post(f"/console/reports/{code}/state", {"state": "in_progress"})).status == 303
    response = await user.post(f"/console/reports/{code}/state",
                               {"state": "resolved", "note": "Đã thay bóng đèn ở cột số 7"})
    assert response.status == 400
    page = await response.text()
    assert 'value="resolved" required checked' in page, "the state chosen stays chosen"
    assert "Đã thay bóng đèn ở cột số 7</textarea>" in page
    response = await user.post(f"/console/reports/{code}/state",
                               {"state": "resolved", "note": "Đã thay bóng đèn", "no_photo_reason": "Máy ảnh hỏng"})
    assert response.status == 303 and response.headers["Location"].endswith("?done=state")
    assert "Đã cập nhật trạng thái." in await user.page(response.headers["Location"])
    assert "Đã cập nhật" not in await user.page(f"/console/reports/{code}")


async def test_the_list_filters_pages_and_marks_overdue_reports(console):
    codes = [await create_at_phu_xuan(console) for _ in range(22)]
    brawl = await create_at_phu_xuan(console, service_code="an_ninh_trat_tu")
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    page = await user.page("/console/?service_code=an_ninh_trat_tu")
    assert brawl in page and codes[0] not in page and "Quá hạn" not in page
    first = await user.page("/console/?state=open&service_code=moi_truong")
    second = await user.page("/console/?state=open&service_code=moi_truong&page=2")
    assert "Trang 1/2" in first and sum(code in first + second for code in codes) == 22
    async with console.app[SESSIONS]() as session, session.begin():
        report = await get_report(session, report_number(brawl))
        report.expected_at = report.requested_at.replace(year=2020)
    assert "Quá hạn" in await user.page("/console/?service_code=an_ninh_trat_tu")


def test_the_cookie_key_is_made_once_kept_private_and_settable(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    key = security.secret_key(settings)
    assert security.secret_key(settings) == key  # a restart keeps everyone signed in
    assert (tmp_path / "data" / security.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    given = Fernet.generate_key().decode()
    assert security.secret_key(load_settings({"CONSOLE_SECRET_KEY": given, "DATA_DIR": str(tmp_path)})) == given


@pytest.mark.parametrize("env", [{"CONSOLE_SECRET_KEY": "not-a-key"}, {"MAP_TILE_URL": "https://tiles.example/a.png"},
                                 {"CONSOLE_IDLE_MINUTES": "0"}])
def test_unusable_console_settings_stop_the_start(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_settings(env)


def test_tiles_can_be_turned_off():
    assert load_settings({"MAP_TILE_URL": "off"}).map_tile_url is None
    assert "{z}" in (load_settings({}).map_tile_url or "")


async def test_malformed_requests_get_a_page_never_a_500(console):
    user = ConsoleUser(console)
    await user.sign_in("ioc.lan")
    for path in ("/console/reports/%00", "/console/reports/PA999999", "/console/?page=-1&state=%00&ward_code=x"):
        response = await console.get(path)
        assert response.status in (200, 404), (path, response.status)
        assert response.content_type == "text/html"
    broken = await console.post("/console/reports/PA000001/state", data=b"--x\r\nbroken",
                                headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status in (400, 403) and broken.content_type == "text/html"
