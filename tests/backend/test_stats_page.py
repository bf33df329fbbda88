"""The public page of figures `/stats/`: over HTTP (no login, the hand-made figures, no personal
data, bad dates refused in Vietnamese), and in headless Chromium at phone and desktop sizes
(screenshots in test-output/, to look at)."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from backend import create_app
from backend.appkeys import SESSIONS
from backend.stats_page.numbers import hours
from bot.settings import Settings
from tests.support.browser import OUTPUT, chromium
from tests.support.servers import BackgroundLoop, free_port, serve
from tests.support.stats_reports import PERSONAL, seed

JANUARY = {"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}


@pytest.fixture
async def seeded(client):
    await seed(client.app[SESSIONS])
    return client


async def test_the_page_shows_the_figures_without_login_nor_personal_data(seeded):
    response = await seeded.get("/stats/", params=JANUARY)
    assert response.status == 200
    page = await response.text()
    assert "01/01/2026" in page and "31/01/2026" in page
    assert "<dd>7</dd>" in page  # received
    assert "<dd>75,0%</dd>" in page  # on time
    assert "<dd>20,0 giờ</dd>" in page  # median
    assert "<dd>3,0/5</dd>" in page  # mean rating
    assert "Phường Phú Xuân" in page and "Môi trường, vệ sinh" in page
    for secret in PERSONAL:
        assert secret not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_last_month_and_this_year_are_periods_too(seeded):
    for period in ("last_month", "this_year", "this_month"):
        response = await seeded.get("/stats/", params={"period": period})
        assert response.status == 200
        assert "Tháng này" in await response.text()


async def test_dates_that_make_no_period_are_refused_in_vietnamese(client):
    response = await client.get("/stats/", params={"period": "custom", "from": "2026-02-01", "to": "2026-01-01"})
    assert response.status == 400
    page = await response.text()
    assert "Thời điểm bắt đầu phải trước thời điểm kết thúc." in page
    response = await client.get("/stats/", params={"period": "custom", "from": "ngày mai"})
    assert response.status == 400
    assert "không hợp lệ" in await response.text()


async def test_the_files_of_the_page_are_served(client):
    for name in ("stats.css", "stats.js"):
        response = await client.get(f"/stats/static/{name}")
        assert response.status == 200
    response = await client.get("/stats", allow_redirects=False)
    assert response.headers["Location"] == "/stats/"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The backend (SQLite) with the hand-made reports, served from a thread for the browser."""
    loop = BackgroundLoop()
    settings = Settings(data_dir=tmp_path_factory.mktemp("stats") / "data", backend_port=free_port())
    app = create_app(settings)
    runner, url = loop.run(serve(app, settings.backend_port))
    loop.run(seed(app[SESSIONS]))
    yield url
    loop.run(runner.cleanup())
    loop.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    """The whole page, as tall as it is, into test-output/<name>.png."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return document.documentElement.clientWidth")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    })
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.browser
@pytest.mark.parametrize("size,mobile", [((390, 844), True), ((1280, 900), False)], ids=["phone", "desktop"])
def test_the_page_in_a_browser(site, browser, size, mobile):
    width, height = size
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
    })
    url = f"{site}/stats/?" + requests.compat.urlencode(JANUARY)
    browser.get(url)
    find = browser.find_element
    assert find(By.TAG_NAME, "h1").text == "Số liệu phản ánh hiện trường thành phố Huế"
    totals = {e.find_element(By.TAG_NAME, "dt").text: e.find_element(By.TAG_NAME, "dd").text
              for e in browser.find_elements(By.CSS_SELECTOR, ".totals div")}
    assert totals["Tiếp nhận"] == "7" and totals["Đúng hạn"] == "75,0%"
    # Each chart's rows read as text: the label and the value beside its bar.
    rows = browser.find_elements(By.CSS_SELECTOR, "#chart-received li")
    assert [r.find_element(By.CLASS_NAME, "bar-value").text for r in rows] == ["4", "3"]
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-on-time li")
    # Nothing wider than the screen but the tables, which scroll inside their frame.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    # The custom dates show because "Tùy chọn" is chosen.
    assert find(By.ID, "from").is_displayed()

    # Sorting a table by its median column: slowest first, then fastest first; categories
    # without a median stay last either way.
    table = find(By.ID, "table-category")
    table.find_element(By.XPATH, ".//thead/tr/th[5]/button").click()
    names = [th.text for th in table.find_elements(By.CSS_SELECTOR, "tbody th")]
    assert names[:2] == ["Môi trường, vệ sinh", "Chiếu sáng công cộng"]
    table.find_element(By.XPATH, ".//thead/tr/th[5]/button").click()
    names = [th.text for th in table.find_elements(By.CSS_SELECTOR, "tbody th")]
    assert names[:2] == ["Chiếu sáng công cộng", "Môi trường, vệ sinh"]
    assert table.find_element(By.XPATH, ".//thead/tr/th[5]").get_attribute("aria-sort") == "ascending"
    screenshot(browser, f"stats-{'phone' if mobile else 'desktop'}")

    # Another period: "Tháng trước" hides the dates and shows that month.
    find(By.CSS_SELECTOR, "#period option[value='last_month']").click()
    assert not find(By.ID, "from").is_displayed()
    find(By.CSS_SELECTOR, ".period button[type=submit]").click()
    # The click only starts the navigation: under load the old page is still there for a while.
    WebDriverWait(browser, 30).until(lambda page: "period=last_month" in page.current_url)
    for secret in PERSONAL:
        assert secret not in browser.page_source


def test_times_under_an_hour_read_in_minutes():
    shown = [hours(value) for value in (None, 0.001, 0.5, 1.0, 30.25)]
    assert shown == ["–", "1 phút", "30 phút", "1,0 giờ", "30,2 giờ"]
