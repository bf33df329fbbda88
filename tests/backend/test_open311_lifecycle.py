"""A report's lifecycle through the API: state changes kept in its history and the updates feed,
moves refused, resolution with a photo of the work, reassignment, the citizen's rating and reopen.
On SQLite and on PostgreSQL (the `settings` fixture of conftest.py)."""
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from backend import create_app
from backend.appkeys import MEDIA, SESSIONS
from backend.queries import Refused, change_state, rate, report_updates
from backend.sweep import remove_orphans
from bot.report_codes import report_number
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY
from tests.support.open311 import API, create_at_phu_xuan, post_state, show, upload_photo

ASSISTANT_KEY = "assistant-key"
OPERATOR_KEY = "operator-key"
COMMITTEE_KEY = "ubnd-phu-xuan-key"  # ubnd_19753: rubbish at Phú Xuân
POLICE_KEY = "ca-phu-xuan-key"  # ca_19753
CITIZEN = "telegram:42"


@pytest.fixture
async def client(aiohttp_client, settings):
    keys = dataclasses.replace(
        settings,
        backend_api_keys=(ASSISTANT_KEY,),
        backend_operator_keys=(OPERATOR_KEY,),
        backend_agency_keys=(("ubnd_19753", COMMITTEE_KEY), ("ca_19753", POLICE_KEY)),
    )
    return await aiohttp_client(create_app(keys))


async def filed(client) -> str:
    return await create_at_phu_xuan(client, api_key=ASSISTANT_KEY, account_id=CITIZEN)


async def changed(client, code, state, key=OPERATOR_KEY, **fields) -> dict:
    response = await post_state(client, code, state, key, **fields)
    assert response.status == 200, await response.text()
    [report] = await response.json()
    return report


async def refused(response, status: int = 400, *words: str) -> None:
    assert response.status == status, await response.text()
    [error] = await response.json()
    assert error["code"] == status
    for word in words:
        assert word in error["description"]


async def feed(client, key=ASSISTANT_KEY, **params):
    return await client.get(f"{API}/servicerequestupdates.json", params=params, headers={"X-Api-Key": key})


async def resolved(client, code: str) -> dict:
    return await changed(client, code, "resolved", note="Đã thu gom xong, xe không mang máy ảnh")


async def rating(client, code: str, key=ASSISTANT_KEY, **fields):
    return await client.post(f"{API}/requests/{code}/rating.json", data={"api_key": key, **fields})


async def test_every_change_is_in_the_history_and_the_feed_oldest_first(client):
    code = await filed(client)
    other = await filed(client)
    assert (await show(client, code))["updates"] == []  # creation is the report itself
    await changed(client, code, "assigned", COMMITTEE_KEY)
    await changed(client, other, "rejected", note="Trùng phản ánh PA000001")
    await changed(client, code, "in_progress", COMMITTEE_KEY, note="Đã cử xe thu gom")
    photo = await upload_photo(client, COMMITTEE_KEY)
    report = await changed(client, code, "resolved", COMMITTEE_KEY, media_url=photo)

    history = report["updates"]
    assert [(u["state"], u["status"], u["description"], u["media_url"]) for u in history] == [
        ("assigned", "open", None, None),
        ("in_progress", "open", "Đã cử xe thu gom", None),
        ("resolved", "closed", None, photo),
    ]
    assert {u["service_request_id"] for u in history} == {code}
    assert (await show(client, code))["updates"] == history

    response = await feed(client)  # the last 24 hours
    assert response.status == 200, await response.text()
    items = await response.json()
    assert [(i["service_request_id"], i["state"]) for i in items] == [
        (code, "assigned"), (other, "rejected"), (code, "in_progress"), (code, "resolved")
    ]
    assert [i["update_id"] for i in items] == sorted(i["update_id"] for i in items)
    assert items[-1] == history[-1]
    # Nothing about the citizen or who acted.
    assert set(items[0]) == {"update_id", "service_request_id", "updated_datetime", "status", "state",
                             "description", "media_url", "kind", "agency_responsible"}
    assert {i["kind"] for i in items} == {"state"}

    for key in (OPERATOR_KEY, POLICE_KEY):  # any role reads it
        assert await (await feed(client, key)).json() == items
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert await (await feed(client, start_date="2000-01-01", end_date=tomorrow)).json() == items
    assert await (await feed(client, start_date=tomorrow)).json() == []
    assert await (await feed(client, end_date="2000-01-01T00:00:00Z")).json() == []


@pytest.mark.parametrize("params, key, status", [
    ({}, "", 403),
    ({}, "wrong", 403),
    ({}, DEV_API_KEY, 403),  # with real keys set the development one opens nothing
    ({"start_date": "yesterday"}, ASSISTANT_KEY, 400),
    ({"end_date": "9999-12-31T23:00:00-05:00"}, ASSISTANT_KEY, 400),
])
async def test_the_feed_refuses(client, params, key, status):
    await refused(await feed(client, key, **params), status)


@pytest.mark.parametrize("path, last, refused_state", [
    (["in_progress"], "in_progress", "assigned"),  # no way back
    (["resolved"], "resolved", "in_progress"),  # closed: only its citizen reopens it
    (["rejected"], "rejected", "resolved"),
    (["assigned", "in_progress"], "in_progress", "received"),
])
async def test_moves_the_lifecycle_does_not_allow_are_refused(client, path, last, refused_state):
    code = await filed(client)
    for state in path:
        await changed(client, code, state, note="Ghi chú")
    await refused(await post_state(client, code, refused_state, OPERATOR_KEY, note="Ghi chú"), 400,
                  "Không thể chuyển", f"cannot go from {last} to {refused_state}")
    report = await show(client, code)
    assert report["state"] == last and len(report["updates"]) == len(path)


async def test_resolving_needs_a_photo_of_the_work_or_a_note_saying_why_not(client, tmp_path):
    code = await filed(client)
    await refused(await post_state(client, code, "resolved", COMMITTEE_KEY), 400, "Cần ảnh kết quả", "media_url")
    # Only a photo this backend checked and stores is shown to the citizen.
    for url in ("https://example.com/after.jpg", f"{API}/media/nothere.jpg", "not a url"):
        await refused(await post_state(client, code, "resolved", COMMITTEE_KEY, media_url=url), 400, "media.json")
    assert (await show(client, code))["state"] == "received"

    report = await changed(client, code, "resolved", COMMITTEE_KEY, note="Đã sửa, máy ảnh hỏng")
    assert (report["state"], report["updates"][-1]["description"]) == ("resolved", "Đã sửa, máy ảnh hỏng")


async def test_an_operator_reassigns_with_a_reason_an_agency_may_not(client):
    code = await filed(client)
    await changed(client, code, "in_progress", COMMITTEE_KEY)
    wrong_agency = {"agency": "ca_19753", "note": "Việc của công an phường"}
    await refused(await post_state(client, code, "", COMMITTEE_KEY, **wrong_agency), 403, "Chỉ trung tâm")
    await refused(await post_state(client, code, "", OPERATOR_KEY, agency="ca_19753"), 400, "lý do")
    await refused(await post_state(client, code, "", OPERATOR_KEY, agency="ca_99999", note="x"), 400, "agency")
    assert (await show(client, code))["agency_responsible"] == "UBND phường Phú Xuân"

    report = await changed(client, code, "", OPERATOR_KEY, **wrong_agency)
    assert report["state"] == "assigned" and report["agency_responsible"] != "UBND phường Phú Xuân"
    assert report["updates"][-1]["description"] == "Việc của công an phường"
    # The feed names the new agency, so that the citizen hears who has it now.
    assert report["updates"][-1]["agency_responsible"] == report["agency_responsible"]
    assert "Việc của công an phường" in report["status_notes"]
    # From now on the report is the police's to work, no longer the committee's.
    await refused(await post_state(client, code, "in_progress", COMMITTEE_KEY), 403)
    await changed(client, code, "in_progress", POLICE_KEY)


async def test_only_the_reports_account_rates_a_resolved_report(client):
    code = await filed(client)
    await refused(await rating(client, code, account_id=CITIZEN, rating="5"), 400, "chưa được xử lý xong")
    await resolved(client, code)
    await refused(await rating(client, code, account_id="telegram:43", rating="5"), 403, "Chỉ người gửi")
    await refused(await rating(client, code, OPERATOR_KEY, account_id=CITIZEN, rating="5"), 403)
    for bad in ("0", "6", "4.5", ""):
        await refused(await rating(client, code, account_id=CITIZEN, rating=bad), 400, "từ 1 đến 5")
    await refused(await rating(client, "PA999999", account_id=CITIZEN, rating="5"), 404)

    response = await rating(client, code, account_id=CITIZEN, rating="4", comment="Sạch sẽ rồi")
    assert response.status == 200, await response.text()
    [report] = await response.json()
    assert (report["state"], report["rating"], report["rating_comment"], report["reopened"]) == (
        "resolved", 4, "Sạch sẽ rồi", 0)
    assert await show(client, code) == report
    # A rating is no news to the citizen: neither in the history nor in the feed.
    assert [u["state"] for u in report["updates"]] == ["resolved"]
    assert [i["state"] for i in await (await feed(client)).json()] == ["resolved"]


@pytest.mark.parametrize("verdict", [{"fixed": "false"}, {"rating": "2", "comment": "Vẫn còn rác"}])
async def test_not_fixed_or_a_low_rating_reopens_once(client, verdict):
    code = await filed(client)
    await resolved(client, code)
    response = await rating(client, code, account_id=CITIZEN, **verdict)
    assert response.status == 200, await response.text()
    [report] = await response.json()
    assert (report["state"], report["status"], report["reopened"]) == ("assigned", "open", 1)
    assert report["agency_responsible"] == "UBND phường Phú Xuân"  # back to the same agency
    assert [u["state"] for u in report["updates"]] == ["resolved", "assigned"]
    assert "chưa được khắc phục" in report["updates"][-1]["description"]
    assert [i["state"] for i in await (await feed(client)).json()] == ["resolved", "assigned"]

    await resolved(client, code)  # worked again, resolved again; unhappy again: once is enough
    [report] = await (await rating(client, code, account_id=CITIZEN, **verdict)).json()
    assert (report["state"], report["reopened"]) == ("resolved", 1)


async def test_a_late_verdict_reopens_nothing_and_the_window_is_a_setting(client):
    code = await filed(client)
    number = report_number(code)
    sessions = client.server.app[SESSIONS]
    resolved_at = datetime.now(timezone.utc).replace(tzinfo=None)
    async with sessions() as session, session.begin():
        await change_state(session, number, "resolved", "Đã xử lý", resolved_at, actor="operator")

    async def verdict(days_later: float, window: int):
        async with sessions() as session, session.begin():
            return await rate(session, number, CITIZEN, 1, "Chưa sửa", True, resolved_at + timedelta(days=days_later),
                              reopen_window_days=window, reopen_limit=1)

    assert (await verdict(7.01, 7)).state == "resolved"
    report = await verdict(7.01, 8)
    assert (report.state, report.reopened, report.resolved_at) == ("assigned", 1, None)
    async with sessions() as session:
        kinds = [(u.kind, u.actor) for u in await report_updates(session, number)]
    assert kinds == [("state", "operator"), ("rating", "citizen"), ("rating", "citizen"), ("reopen", "citizen")]
    async with sessions() as session, session.begin():
        with pytest.raises(Refused):  # a reopened report goes on by state changes, not ratings
            await rate(session, number, CITIZEN, 5, None, True, resolved_at, reopen_window_days=7, reopen_limit=1)


async def test_the_sweep_keeps_the_photo_of_the_work_done(client):
    code = await filed(client)
    kept = await upload_photo(client, COMMITTEE_KEY)
    orphan = await upload_photo(client, COMMITTEE_KEY)
    await changed(client, code, "resolved", COMMITTEE_KEY, media_url=kept)
    app = client.server.app
    assert await remove_orphans(app, older_than_s=-60) == 1  # every photo counts as old enough
    media = app[MEDIA]
    assert media.path_of(kept.rsplit("/", 1)[-1]) is not None
    assert media.path_of(orphan.rsplit("/", 1)[-1]) is None
    assert (await client.get(kept[kept.index("/media/"):])).status == 200


async def test_the_development_operator_key_works_the_lifecycle_too(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    code = await create_at_phu_xuan(client, account_id=CITIZEN)
    await changed(client, code, "resolved", DEV_OPERATOR_KEY, note="Đã xử lý")
    response = await rating(client, code, DEV_API_KEY, account_id=CITIZEN, rating="5")
    assert response.status == 200, await response.text()
