"""Who may change a report's state: operators any report, an agency its own, the assistant none.
On SQLite and on PostgreSQL (the `settings` fixture of conftest.py)."""
import dataclasses

import pytest

from backend import create_app
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY, SettingsError, load_settings
from tests.support.open311 import API, create_at_phu_xuan, post_state, show
from tests.support.stack import run_module

ASSISTANT_KEY = "assistant-key"
OPERATOR_KEY = "operator-key"
PHU_XUAN_COMMITTEE_KEY = "ubnd-phu-xuan-key"  # ubnd_19753: rubbish at Phú Xuân
PHU_XUAN_POLICE_KEY = "ca-phu-xuan-key"  # ca_19753: public order at Phú Xuân


@pytest.fixture
async def client(aiohttp_client, settings):
    keys = dataclasses.replace(
        settings,
        backend_api_keys=(ASSISTANT_KEY,),
        backend_operator_keys=("another-operator-key", OPERATOR_KEY),
        backend_agency_keys=(("ubnd_19753", PHU_XUAN_COMMITTEE_KEY), ("ca_19753", PHU_XUAN_POLICE_KEY)),
    )
    return await aiohttp_client(create_app(keys))


async def change(client, code: str, key: str, state: str = "resolved"):
    # A note, so that a resolution needs no photo of the work done.
    return await post_state(client, code, state, key, note="Đã xử lý, không chụp ảnh được")


async def assert_403(response, *words: str):
    assert response.status == 403, await response.text()
    [error] = await response.json()
    assert error["code"] == 403
    for word in words:
        assert word in error["description"]


async def test_the_assistants_key_files_and_reads_but_may_not_change_state(client):
    code = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY, account_id="telegram:7")
    await assert_403(await change(client, code, ASSISTANT_KEY), "trạng thái", "may not change")
    report = await show(client, code)
    assert (report["state"], report["status"]) == ("received", "open")
    response = await client.get(f"{API}/requests.json", params={"account_id": "telegram:7"},
                                headers={"X-Api-Key": ASSISTANT_KEY})
    assert [r["service_request_id"] for r in await response.json()] == [code]


async def test_an_operator_changes_any_report_and_reads_like_the_assistant(client):
    rubbish = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY, account_id="telegram:8")
    brawl = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY, service_code="an_ninh_trat_tu")
    for code in (rubbish, brawl):
        response = await change(client, code, OPERATOR_KEY, "in_progress")
        assert response.status == 200, await response.text()
        assert (await show(client, code))["state"] == "in_progress"
    response = await client.get(f"{API}/requests.json", params={"account_id": "telegram:8"},
                                headers={"X-Api-Key": OPERATOR_KEY})
    assert [r["service_request_id"] for r in await response.json()] == [rubbish]


async def test_an_agency_changes_its_own_reports_only(client):
    rubbish = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY)
    brawl = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY, service_code="an_ninh_trat_tu")
    assert (await show(client, brawl))["agency_responsible"] != (await show(client, rubbish))["agency_responsible"]

    response = await change(client, rubbish, PHU_XUAN_COMMITTEE_KEY)
    assert response.status == 200, await response.text()
    assert (await show(client, rubbish))["state"] == "resolved"
    await assert_403(await change(client, brawl, PHU_XUAN_COMMITTEE_KEY), "cơ quan", "agency")
    assert (await show(client, brawl))["state"] == "received"

    response = await change(client, brawl, PHU_XUAN_POLICE_KEY, "assigned")
    assert response.status == 200, await response.text()
    await assert_403(await change(client, rubbish, PHU_XUAN_POLICE_KEY, "rejected"))
    assert (await show(client, rubbish))["state"] == "resolved"
    # An agency's key files nothing and reads no one's reports.
    response = await client.get(f"{API}/requests.json", params={"account_id": "telegram:1"},
                                headers={"X-Api-Key": PHU_XUAN_COMMITTEE_KEY})
    assert response.status == 403


@pytest.mark.parametrize("key", ["", "wrong", DEV_OPERATOR_KEY, DEV_API_KEY, OPERATOR_KEY + " "])
async def test_other_keys_are_refused(client, key):
    code = await create_at_phu_xuan(client, api_key=ASSISTANT_KEY)
    # With BACKEND_OPERATOR_KEYS set, the public development operator key is no key at all.
    await assert_403(await change(client, code, key), "api_key")
    assert (await show(client, code))["state"] == "received"


async def test_without_operator_keys_the_development_operator_key_changes_state(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    code = await create_at_phu_xuan(client)
    await assert_403(await change(client, code, DEV_API_KEY), "may not change")
    response = await change(client, code, DEV_OPERATOR_KEY)
    assert response.status == 200, await response.text()
    assert (await show(client, code))["state"] == "resolved"


def test_agency_keys_are_parsed_from_the_environment():
    settings = load_settings({"BACKEND_AGENCY_KEYS": " ubnd_19753=k1 ,ioc=k2,ubnd_19753=k3,",
                              "BACKEND_OPERATOR_KEYS": "o1,o2"})
    assert settings.backend_agency_keys == (("ubnd_19753", "k1"), ("ioc", "k2"), ("ubnd_19753", "k3"))
    assert settings.effective_backend_operator_keys == ("o1", "o2")
    assert load_settings({}).effective_backend_operator_keys == (DEV_OPERATOR_KEY,)
    # Production keys for the assistant but none for operators: the public key opens nothing.
    assert load_settings({"BACKEND_API_KEYS": "a1"}).effective_backend_operator_keys == ()


@pytest.mark.parametrize(
    "value, words",
    [
        ("secret-key", ["BACKEND_AGENCY_KEYS", "entry 1", "agency_id=key"]),
        ("ioc=", ["BACKEND_AGENCY_KEYS", "entry 1", "ioc"]),
        ("=secret-key", ["BACKEND_AGENCY_KEYS", "agency_id=key"]),
        ("ioc=secret-key,hepco=secret-key", ["BACKEND_AGENCY_KEYS", "entry 2", "hepco", "ioc"]),
    ],
)
def test_bad_agency_keys_are_refused_naming_the_entry(value, words):
    with pytest.raises(SettingsError) as error:
        load_settings({"BACKEND_AGENCY_KEYS": value})
    for word in words:
        assert word in str(error.value)
    assert "secret-key" not in str(error.value)  # keys never reach a log


@pytest.mark.parametrize(
    "value, words",
    [
        ("ubnd_99999=secret-key", ["BACKEND_AGENCY_KEYS", "entry 1", "ubnd_99999"]),
        ("ioc=k1,so_xay_dungg=secret-key", ["BACKEND_AGENCY_KEYS", "entry 2", "so_xay_dungg"]),
    ],
)
def test_an_agency_key_for_no_agency_of_the_directory_stops_the_backend(value, words):
    settings = load_settings({"BACKEND_AGENCY_KEYS": value})
    with pytest.raises(SettingsError) as error:
        create_app(settings)
    for word in words:
        assert word in str(error.value)
    assert "secret-key" not in str(error.value)  # keys never reach a log


def test_the_backend_alone_names_an_unknown_agency_and_stops(tmp_path):
    result = run_module("backend", env={"BACKEND_AGENCY_KEYS": "ioc=k1,so_xay_dungg=secret-key",
                                        "DATA_DIR": str(tmp_path)}, timeout_s=60)
    assert result.returncode != 0
    assert "so_xay_dungg" in result.stderr and "Traceback" not in result.stderr
    assert "secret-key" not in result.stderr + result.stdout
