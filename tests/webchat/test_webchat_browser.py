"""The web chat page in headless Chromium: a citizen completes a report with a place and a photo.

Once against the scripted assistant (proves the page: chips, the map offered by the location
question, a click on the map, the browser's position, a photo), once against the real stack started
as `make run` starts it (proves the whole path down to the report code from the backend). The map's
behaviour at phone and desktop sizes, with tiles from a local stand-in and without, is at the end.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import yaml
from aiohttp import web
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.geocode import LANDMARKS_FILE
from bot.settings import get_settings
from tests.support.browser import OUTPUT, PIN, SIZES, ChatPage, chromium
from tests.support.conversation import COMPLAINT
from tests.support.images import image, jpeg
from tests.support.places import THUAN_HOA
from tests.support.servers import BackgroundLoop, free_port, serve
from tests.support.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # browser: Chromium, see tests/support/services.py



@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "chromium")
    yield driver
    driver.quit()


def photo_file(path: Path) -> Path:
    """A photo on the citizen's phone, to pick in the file dialog."""
    path.write_bytes(jpeg((250, 210, 60), (480, 360)))
    return path


def test_page_completes_a_report_with_the_scripted_assistant(webchat, page_url, fake_backend, browser, tmp_path):
    page = ChatPage(browser, page_url, timeout=20)
    try:
        page.say(COMPLAINT)
        assert page.find(".msg.bot img").get_attribute("naturalWidth") != "0"  # bot `image` shown
        page.click_chip("Đúng")
        assert not page.map_open(), "on a phone the map waits until the citizen asks for it"
        page.click_chip("Chọn trên bản đồ")
        page.open_map()

        page.find("#map").click()  # the middle of the fitted map is inside some unit of Huế
        # Some unit of Huế, after the landmark when the click fell on one's dot.
        assert re.search(r"ở ([^,]+, )?(Phường|Xã) ", page.find("#map-hint").text)
        assert "Thuận Hóa" in page.use_my_position()
        page.screenshot("webchat-scripted-map.png")
        page.send_pin()
        assert not page.map_open()
        assert browser.find_elements(By.CSS_SELECTOR, ".msg.user")[-1].text == "Vị trí: Phường Thuận Hóa"

        page.upload(photo_file(tmp_path / "den-duong.jpg"))
        page.click_chip("Xong")
        page.click_chip("Gửi")
        page.report_code()  # shown to the citizen
    finally:
        page.screenshot("webchat-scripted.png")

    (sender,) = {m.sender_id for m in webchat.assistant.received if m.text == COMPLAINT}
    received = webchat.assistant.received_from(sender)
    assert [m.text for m in received] == [COMPLAINT, "/affirm", "/share_location", "/send_photo", "/affirm", "/affirm"]
    pin = next(m for m in received if m.text == "/share_location")
    assert pin.metadata["location"] == {"latitude": PIN["latitude"], "longitude": PIN["longitude"]}
    assert len(fake_backend) == 1


def test_buttons_of_earlier_questions_stop_answering_once_the_assistant_replied(page_url, browser):
    page = ChatPage(browser, page_url, timeout=20)
    page.say(COMPLAINT)
    page.say("ý mình là đèn đường")  # typed, not pressed: the question comes again, with its buttons
    groups = browser.find_elements(By.CSS_SELECTOR, ".chips")
    assert len(groups) == 2
    enabled = [[c.is_enabled() for c in g.find_elements(By.CSS_SELECTOR, ".chip")] for g in groups]
    assert not any(enabled[0]) and all(enabled[1]), enabled


def test_emergency_numbers_are_called_with_one_tap(page_url, browser):
    page = ChatPage(browser, page_url, timeout=20)
    page.say("cháy")
    links = browser.find_elements(By.CSS_SELECTOR, ".msg.bot a")
    assert [(a.text, a.get_attribute("href")) for a in links] == [
        ("113", "tel:113"), ("114", "tel:114"), ("115", "tel:115")]
    assert "113 — Công an" in page.bot_texts()[-1]  # the text reads as before


def test_failed_send_keeps_the_typed_text(page_url, browser):
    page = ChatPage(browser, page_url, timeout=20)
    page.find("#text").send_keys("boom")
    page.find("#send").click()
    error = WebDriverWait(browser, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, ".msg.error"))
    assert "thử lại" in error.text
    assert page.find("#text").get_attribute("value") == "boom"
    assert "failed" in page.find(".msg.user").get_attribute("class")


def test_reload_keeps_the_conversation_and_new_conversation_starts_afresh(webchat, page_url, browser):
    page = ChatPage(browser, page_url, timeout=20)
    page.say(COMPLAINT)
    sender = browser.execute_script("return localStorage.getItem('hue-webchat-sender')")

    browser.refresh()
    assert COMPLAINT in [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg.user")]
    page.click_chip("Đúng")  # a button restored from the saved log still answers
    assert [m.text for m in webchat.assistant.received_from(f"web:{sender}")] == [COMPLAINT, "/affirm"]

    page.find("#restart").click()
    browser.switch_to.alert.accept()
    WebDriverWait(browser, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".msg.user"))
    assert browser.execute_script("return localStorage.getItem('hue-webchat-sender')") != sender


def test_a_photo_sent_is_still_shown_after_a_reload(webchat, page_url, fake_backend, browser, tmp_path):
    page = ChatPage(browser, page_url, timeout=20)
    page.say(COMPLAINT)
    page.upload(photo_file(tmp_path / "rac.jpg"))  # 480×360
    kept = lambda d: (d.find_element(By.CSS_SELECTOR, ".msg.photo img").get_attribute("src")  # noqa: E731
                      .startswith("data:image/jpeg"))
    WebDriverWait(browser, 20).until(kept, "the preview copied to be kept with the log")

    browser.refresh()
    [shown] = browser.find_elements(By.CSS_SELECTOR, ".msg.photo img")
    assert shown.get_attribute("src").startswith("data:image/jpeg")
    assert (shown.get_attribute("naturalWidth"), shown.get_attribute("naturalHeight")) == ("320", "240")
    assert shown.get_attribute("alt") == "Ảnh bạn gửi: rac.jpg"
    page.screenshot("webchat-photo-after-reload.png")


# The real stack ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_stack(tmp_path_factory):
    """Backend + action server + Rasa, started by `python -m bot.cli run`; its output is kept in
    test-output/webchat-stack.log."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        try:
            yield stack
        finally:
            OUTPUT.mkdir(exist_ok=True)
            (OUTPUT / "webchat-stack.log").write_text(stack.output(), encoding="utf-8")


def test_a_message_the_assistant_sends_later_appears_on_the_open_page(real_stack, browser):
    # As the outbox tells a citizen the code of a report delivered late: Rasa's proactive message.
    notice = "Phản ánh của bạn đã đến cơ quan phụ trách. Mã phản ánh: PA000042."
    page = ChatPage(browser, real_stack.webchat_url, timeout=90)
    page.say("xin chào")
    sender = browser.execute_script("return localStorage.getItem('hue-webchat-sender')")
    real_stack.say_unprompted(f"web:{sender}", notice)
    page.wait_for_bot_text(notice)
    assert page.bot_texts().count(notice) == 1


def test_report_end_to_end_on_the_real_stack(real_stack, browser, tmp_path):
    page = ChatPage(browser, real_stack.webchat_url, timeout=90)
    try:
        page.say(COMPLAINT)
        page.click_chip("Đúng")
        # The assistant may ask for the place, offer the wards the street crosses, or ask to
        # confirm the address it read: a pin from the phone answers all of them.
        page.open_map()
        assert "Thuận Hóa" in page.use_my_position()
        page.send_pin()
        page.upload(photo_file(tmp_path / "den-duong.jpg"))
        page.click_chip("Xong")
        page.click_chip("Gửi")
        code = page.report_code()
    finally:
        page.screenshot("webchat-real-stack.png")

    # The code the citizen was shown names their report on the backend, with the pin and the photo.
    report = real_stack.report(code)
    assert report["description"] == COMPLAINT and report["ward"] == "Phường Thuận Hóa"
    assert (report["lat"], report["long"]) == pytest.approx(THUAN_HOA, abs=1e-4)
    [photo_url] = report["media_urls"]
    photo = requests.get(photo_url, timeout=10)
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")


# The map at phone and desktop sizes ---------------------------------------------------------

TILE_CREDIT = "Bản đồ nền thử nghiệm"


@pytest.fixture(params=list(SIZES))
def sized_browser(request, tmp_path):
    driver = chromium(tmp_path / "chromium", request.param)
    yield driver
    driver.quit()


@pytest.fixture
def tile_server(monkeypatch):
    """A stand-in tile server on a free port (one green PNG for every tile), named by MAP_TILE_URL;
    its `requested` tile paths."""
    requested = []
    tile = image("PNG", (256, 256), (170, 215, 160))

    async def serve_tile(request: web.Request) -> web.Response:
        requested.append(request.path)
        return web.Response(body=tile, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{z}/{x}/{y}.png", serve_tile)
    loop = BackgroundLoop()
    runner, url = loop.run(serve(app))
    monkeypatch.setenv("MAP_TILE_URL", url + "/{z}/{x}/{y}.png")
    monkeypatch.setenv("MAP_TILE_ATTRIBUTION", TILE_CREDIT)
    get_settings.cache_clear()
    yield requested
    loop.run(runner.cleanup())
    loop.close()


def box(driver, css: str) -> dict:
    return driver.execute_script("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                                 "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};", css)


def latest_message_in_view(driver) -> bool:
    """The newest message is whole inside the chat's visible area, and not under the map."""
    log, last = box(driver, "#log"), box(driver, "#log > :last-child")
    inside = log["top"] <= last["top"] and last["bottom"] <= log["bottom"] + 1
    panel = driver.find_element(By.ID, "map-panel")
    if panel.is_displayed():
        area = box(driver, "#map-panel")
        inside = inside and (last["bottom"] <= area["top"] + 1 or last["right"] <= area["left"] + 1)
    return inside


def test_the_map_with_tiles_opens_when_asked_and_closes_when_done(webchat, page_url, tile_server, sized_browser):
    driver, size = sized_browser, sized_browser.size_name
    page = ChatPage(driver, page_url, timeout=20)
    height = driver.execute_script("return window.innerHeight")
    assert height == SIZES[size][1]
    assert not page.map_open()  # closed at first, at every size
    page.say(COMPLAINT)
    page.click_chip("Đúng")
    if size == "phone":
        assert not page.map_open(), "on a phone the location question offers the map, never opens it"
        page.click_chip("Chọn trên bản đồ")
    page.open_map()
    page._until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map img.leaflet-tile-loaded"), "a tile")
    assert tile_server, "the tiles come from MAP_TILE_URL"
    assert TILE_CREDIT in page.find(".leaflet-control-attribution").text
    assert not page.find("#map-note").is_displayed()  # tiles: nothing to apologise for
    assert latest_message_in_view(driver), "the question must stay visible beside or above the map"
    assert "Vấn đề ở đâu" in page.bot_texts()[-1]
    if size == "phone":
        panel = box(driver, "#map-panel")
        assert panel["bottom"] - panel["top"] <= height / 2 + 1, "the map takes half the screen at most"
    else:
        assert box(driver, "#map-panel")["left"] >= box(driver, "#log")["right"] - 1, "beside the chat"
    page.screenshot(f"webchat-map-{size}-tiles.png")

    page.find("#map").click()
    page.send_pin()
    assert page.map_open() == (size == "desktop"), "a phone gets its screen back once the place is sent"
    assert latest_message_in_view(driver)
    page.screenshot(f"webchat-map-{size}-place-sent.png")

    page.click_chip("Bỏ qua")
    page.click_chip("Gửi")
    page.report_code()
    assert not page.map_open(), "the report is sent: the map has done its work"
    page.find("#location-button").click()
    assert not driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon"), "no stale pin of the sent report"
    assert not page.find("#map-send").is_enabled()
    page.screenshot(f"webchat-map-{size}-report-sent.png")


def test_the_map_closes_when_the_report_is_cancelled(webchat, page_url, tile_server, sized_browser):
    page = ChatPage(sized_browser, page_url, timeout=20)
    page.say(COMPLAINT)
    page.click_chip("Đúng")
    if not page.map_open():
        page.click_chip("Chọn trên bản đồ")
    page.open_map()
    page.find("#map").click()  # a pin chosen, then the citizen gives up
    page.say("hủy")
    assert not page.map_open()
    assert latest_message_in_view(sized_browser)
    assert "Đã hủy" in page.bot_texts()[-1]
    page.screenshot(f"webchat-map-{sized_browser.size_name}-cancelled.png")


def test_without_tiles_the_map_shows_names_to_find_a_place_by(webchat, page_url, monkeypatch, sized_browser):
    monkeypatch.setenv("MAP_TILE_URL", f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png")  # nothing listens
    get_settings.cache_clear()
    page = ChatPage(sized_browser, page_url, timeout=20)
    page.open_map()
    page._until(lambda d: d.find_element(By.ID, "map-note").is_displayed(), "the note that the base map is missing")
    assert "bản đồ nền" in page.find("#map-note").text
    landmarks = len(yaml.safe_load(LANDMARKS_FILE.read_text(encoding="utf-8")))
    page._until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".place-label")) == landmarks, "the landmarks")
    page.screenshot(f"webchat-map-{sized_browser.size_name}-no-tiles.png")
    shown = [e for e in sized_browser.find_elements(By.CSS_SELECTOR, ".map-label span") if e.is_displayed()]
    assert len(shown) >= 10, "the units' names are written on the map"
    boxes = [e.rect for e in shown]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
                and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]], "names piled on each other"
    # Closer in (the phone's position, in the city), the landmarks' names show too.
    page.use_my_position()
    page._until(lambda d: any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, ".place-label span")),
                "a landmark's name")
    page.screenshot(f"webchat-map-{sized_browser.size_name}-no-tiles-zoomed.png")
