"""Public figures (`stats.json`) over the hand-made set of tests/support/stats_reports.py, whose
answers are worked out below, on SQLite and PostgreSQL; no personal data in them; bad periods
refused."""
from __future__ import annotations

import pytest

from backend.appkeys import SESSIONS
from tests.support.stats_reports import JANUARY, KIM_LONG, PERSONAL, PHU_XUAN, report, seed, utc

STATS = "/open311/v2/stats.json"


@pytest.fixture
async def seeded(client):
    await seed(client.app[SESSIONS])
    return client


async def figures(client, **query) -> dict:
    response = await client.get(STATS, params=query)
    assert response.status == 200, await response.text()
    return await response.json()


def by(entries, field):
    return {entry[field]: entry for entry in entries}


async def test_figures_of_a_month_in_total(seeded):
    stats = await figures(seeded, **JANUARY)
    assert stats["start_date"] == "2026-01-01T00:00:00+07:00"
    assert stats["end_date"] == "2026-02-01T00:00:00+07:00"
    assert stats["total"] == {
        "received": 7,  # 1-6 and 9
        "resolved": 4,  # 1, 2, 3, 5
        "on_time_share": 0.75,  # 1, 2, 5 of the 4
        "median_hours_to_resolve": 20.0,  # 4, 10, 30, 100
        "mean_rating": 3.0,  # 5, 2, 4, 1
        "rating_share": 0.75,  # 1, 2, 5 rated among the 4 resolved (9 was rated, then reopened)
        "reopened_share": 0.2857,  # 2 and 9 of the 7
    }


async def test_figures_per_category_agency_and_unit(seeded):
    stats = await figures(seeded, **JANUARY)
    categories = by(stats["by_category"], "code")
    assert categories["moi_truong"] == {
        "code": "moi_truong", "name": "Môi trường, vệ sinh", "received": 4, "resolved": 3,
        "on_time_share": 0.6667, "median_hours_to_resolve": 30.0, "mean_rating": 3.5, "rating_share": 0.6667,
        "reopened_share": 0.25,
    }
    assert categories["chieu_sang"]["received"] == 3
    assert categories["chieu_sang"]["on_time_share"] == 1.0
    assert categories["chieu_sang"]["median_hours_to_resolve"] == 4.0
    assert categories["chieu_sang"]["mean_rating"] == 2.5
    assert categories["chieu_sang"]["reopened_share"] == 0.3333
    # Every category is listed, those without reports with 0 and no figures, most reports first.
    assert stats["by_category"][0]["code"] == "moi_truong"
    quiet = categories["giao_thong"]
    assert (quiet["received"], quiet["on_time_share"], quiet["median_hours_to_resolve"]) == (0, None, None)

    agencies = by(stats["by_agency"], "agency_id")
    assert set(agencies) == {"ubnd_19753", "ioc", "cong_trinh_do_thi"}
    assert agencies["ubnd_19753"]["name"] == "Cơ quan ubnd_19753"
    assert (agencies["ubnd_19753"]["received"], agencies["ubnd_19753"]["resolved"]) == (3, 2)
    assert agencies["ubnd_19753"]["median_hours_to_resolve"] == 20.0
    assert agencies["ioc"]["on_time_share"] == 0.0

    units = by(stats["by_unit"], "unit_code")
    assert len(units) == 40
    assert units[PHU_XUAN]["name"] == "Phường Phú Xuân"
    assert (units[PHU_XUAN]["received"], units[PHU_XUAN]["resolved"]) == (3, 3)
    assert units[PHU_XUAN]["median_hours_to_resolve"] == 30.0
    assert (units[KIM_LONG]["received"], units[KIM_LONG]["resolved"]) == (4, 1)
    assert units[KIM_LONG]["reopened_share"] == 0.25


async def test_no_personal_data_in_the_figures(seeded):
    body = (await (await seeded.get(STATS, params=JANUARY)).read()).decode()
    for secret in (*PERSONAL, "16.47"):
        assert secret not in body


async def test_an_empty_period_has_counts_and_no_figures(seeded):
    stats = await figures(seeded, start_date="2025-06-01", end_date="2025-06-30")
    assert stats["total"]["received"] == 0
    assert stats["total"]["on_time_share"] is None
    assert stats["by_agency"] == []


@pytest.mark.parametrize("query", [
    {"start_date": "hôm qua"},
    {"end_date": "2026-13-01"},
    {"start_date": "2026-02-01", "end_date": "2026-01-01"},
    {"start_date": "2026-01-01T00:00:00+07:00", "end_date": "2026-01-01T00:00:00+07:00"},
    {"end_date": "9999-12-31"},
    {"start_date": "0001-01-01"},
    {"start_date": "2026-01-01\x00"},
])
async def test_bad_periods_are_open311_errors(client, query):
    response = await client.get(STATS, params=query)
    assert response.status == 400
    [error] = await response.json()
    assert error["code"] == 400 and "/" in error["description"]


async def test_public_without_a_key_and_cached_for_a_minute(seeded):
    first = await figures(seeded, **JANUARY)
    async with seeded.app[SESSIONS]() as session, session.begin():
        session.add(report(10, utc(15), "moi_truong", "ioc", PHU_XUAN, "received"))
    response = await seeded.get(STATS, params=JANUARY)
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert await response.json() == first  # the new report shows within a minute, not at once


async def test_without_dates_this_month_until_now(client):
    stats = await figures(client)
    assert stats["start_date"].endswith("-01T00:00:00+07:00")
    assert stats["start_date"] < stats["end_date"]
    assert len(stats["by_category"]) == len((await (await client.get("/open311/v2/services.json")).json()))
