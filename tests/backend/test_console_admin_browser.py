"""An admin's loop in the console, in headless Chromium at a phone's size and a desktop's.

Against the real admins' service (`python -m bot.admin.server`, on this test's data and a copy of the
training files): messages the assistant did not understand, stored as the Rasa server stores them,
are labelled one with its address picked by selecting it in the text (after a complaint without its
category and an address not in the sentence were refused, the choices kept), one the assistant took
for an emergency only once the admin agrees, two in bulk, one discarded, one undone; the training
file gets the example (and is as before once undone), the dashboard and the audit log show it, and
an operator is refused. The training page's progress, decision, rollback and roll forward are shown
against the stand-in of the service: a real retraining trains for half a minute and loads a Rasa
server (tests/admin/test_retrain.py). Screenshots in test-output/."""
from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend import accounts as cli
from bot.settings import PROJECT_ROOT
from tests.admin.conftest import training_dir  # noqa: F401  (a fixture: the copy of the training files)
from tests.support.admin_standin import TOKEN, AdminStandin
from tests.support.browser import OUTPUT, SIZES, chromium
from tests.support.console import PASSWORD
from tests.support.open311 import RoutingBackend
from tests.support.servers import BackgroundLoop, free_port
from tests.support.stack import child_env
from tests.support.tracker_store import store_said
from tools.processes import start_group, stop_group, wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAMP = "đèn đường kiệt 45 Nguyễn Huệ tối om"
ADDRESS = "kiệt 45 Nguyễn Huệ"
SHOCK = "có người bị điện giật ngoài cột điện"


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    yield background
    background.close()


@pytest.fixture
def admin_service(data_dir, training_dir, tmp_path, loop) -> Iterator[str]:  # noqa: F811
    """The real admins' service on this test's data, with what citizens wrote already stored."""
    unsure = [(LAMP, "nlu_fallback", 0.2, None, "telegram"), (LAMP, "nlu_fallback", 0.25, None, "zalo"),
              ("den duong kiet 45 nguyen hue toi om", "nlu_fallback", 0.3, None, "telegram"),
              ("rác ở chợ Đông Ba bốc mùi", "report_issue", 0.3, "moi_truong", "telegram"),
              ("rác ở chợ Đông Ba bốc mùi", "report_issue", 0.35, "moi_truong", "web"),
              ("rác tràn ra đường kiệt 5", "report_issue", 0.4, "moi_truong", "zalo"),
              ("cho hỏi giá vé tàu ra Hà Nội", "out_of_scope", 0.9, None, "web"),
              (SHOCK, "emergency", 0.45, None, "telegram")]
    for text, intent, confidence, category, channel in unsure:
        loop.run(store_said(data_dir, text, intent, confidence, category=category, category_confidence=0.3,
                            channel=channel, previous="Chào bạn! Bạn muốn phản ánh điều gì?"))
    # Understood: counted on the dashboard, never in the inbox.
    for text, intent, category in (("xin chào", "greet", None), ("đường Lê Lợi có ổ gà lớn", "report_issue",
                                                                 "giao_thong"), ("cảm ơn nhé", "thank", None)):
        loop.run(store_said(data_dir, text, intent, 0.97, category=category, category_confidence=0.9))
    port = free_port()
    (tmp_path / "models").mkdir()
    env = {"ADMIN_API_TOKEN": TOKEN, "ADMIN_PORT": str(port), "DATA_DIR": str(data_dir),
           "TRAINING_DIR": str(training_dir), "MODELS_DIR": str(tmp_path / "models")}
    with open(tmp_path / "admin.log", "w") as log:
        process = start_group([sys.executable, "-m", "bot.admin.server"], cwd=PROJECT_ROOT, env=child_env(env),
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(f"{url}/health", [process], 90), (tmp_path / "admin.log").read_text()
        yield url
    finally:
        stop_group(process)


def serve_backend(loop: BackgroundLoop, data_dir: Path, admin_url: str, monkeypatch) -> Iterator[str]:
    """The backend with an admin and an operator account, calling the admins' service at `admin_url`."""
    for login, role in (("admin.minh", "admin"), ("ioc.lan", "operator")):
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
        assert cli.main(["add", login, "--role", role]) == 0
    server = RoutingBackend(data_dir)
    server.settings = dataclasses.replace(server.settings, admin_url=admin_url, admin_api_token=TOKEN,
                                          map_tile_url=None)
    loop.run(server.start())
    yield server.settings.effective_backend_public_url
    loop.run(server.stop())


@pytest.fixture
def backend(loop, data_dir, admin_service, monkeypatch) -> Iterator[str]:
    yield from serve_backend(loop, data_dir, admin_service, monkeypatch)


@pytest.fixture
def standin(loop) -> Iterator[AdminStandin]:
    service = loop.run(AdminStandin().start())
    service.polls_to_finish = 4  # the server-rendered page looks once, the page's script three times
    yield service
    loop.run(service.stop())


@pytest.fixture
def backend_with_standin(loop, data_dir, standin, monkeypatch) -> Iterator[str]:
    yield from serve_backend(loop, data_dir, standin.url, monkeypatch)


@pytest.fixture(params=list(SIZES))
def browser(request, tmp_path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "chromium", request.param)
    yield driver
    driver.quit()


class Admin:
    """What the admin does in the browser, and waits for."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver, self.base = driver, base
        # A form's answer replaces the page: an element read meanwhile is stale, and read again.
        self.wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,
                                                                  WebDriverException))

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.find("main").text

    def until(self, text: str) -> None:
        self.wait.until(lambda d: text in self.text(), f"the page to say {text!r}")

    def shot(self, step: str, at: str = "") -> None:
        """A screenshot of the screen, scrolled first to the element `at` (a CSS selector) if given."""
        if at:
            self.driver.execute_script("arguments[0].scrollIntoView()", self.find(at))
        OUTPUT.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(OUTPUT / f"console-admin-{self.driver.size_name}-{step}.png"))

    def sign_in(self, login: str, path: str = "/console/") -> None:
        self.driver.get(f"{self.base}{path}")
        self.find("input[name=login]").send_keys(login)
        self.find("input[name=password]").send_keys(PASSWORD)
        self.find("form.stack button").click()
        self.wait.until(lambda d: "Đăng nhập" not in d.title, "the sign-in")

    def sign_out(self) -> None:
        self.find(".who button").click()
        self.wait.until(lambda d: "Đăng nhập" in d.title, "the sign-out")

    def fits(self) -> None:
        """Nothing of the page lies beyond the screen's right edge (a phone cannot scroll to it)."""
        width = self.driver.execute_script("return window.innerWidth")
        assert self.driver.execute_script("return document.documentElement.scrollWidth") <= width
        for cell in self.driver.find_elements(By.CSS_SELECTOR, "td[data-label='Thay đổi']"):
            assert cell.rect["x"] + cell.rect["width"] <= width, cell.text

    def group(self, text: str):
        """The inbox card of the group whose text is `text` (while a page loads, maybe not there yet)."""
        for card in self.driver.find_elements(By.CSS_SELECTOR, "li.group"):
            if card.find_element(By.CSS_SELECTOR, ".sample").text == text:
                return card
        raise NoSuchElementException(f"no group {text!r} on the page")

    def refusal(self, text: str) -> str:
        """Waits for the page to come back with the reason beside the group `text`, and says it."""
        return self.wait.until(lambda d: self.group(text).find_element(By.CSS_SELECTOR, ".group-error").text,
                               f"the reason beside {text!r}")

    def select_in_text(self, card, span: str) -> None:
        """Selects `span` inside the card's message, as a mouse or a finger would."""
        self.driver.execute_script("""
            const node = arguments[0].firstChild, start = node.textContent.indexOf(arguments[1]);
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, start + arguments[1].length);
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);""", card.find_element(By.CSS_SELECTOR, ".sample"), span)


def test_an_admin_labels_what_the_assistant_did_not_understand(backend, browser, training_dir):  # noqa: F811
    admin = Admin(browser, backend)
    admin.sign_in("ioc.lan", "/console/admin/")
    assert "chỉ dành cho tài khoản quản trị" in admin.text()
    assert not browser.find_elements(By.LINK_TEXT, "Quản trị")
    admin.sign_out()

    admin.sign_in("admin.minh")
    browser.find_element(By.LINK_TEXT, "Quản trị").click()
    admin.until("5 nhóm · 8 tin nhắn")
    samples = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".sample")]
    assert samples[:2] == [LAMP, "rác ở chợ Đông Ba bốc mùi"]  # 3 messages, 2, then those said once
    assert set(samples[2:]) == {"rác tràn ra đường kiệt 5", "cho hỏi giá vé tàu ra Hà Nội", SHOCK}
    lamp = admin.group(LAMP)
    assert "3×" in lamp.text and "den duong kiet 45 nguyen hue toi om" in lamp.text
    assert "Chào bạn! Bạn muốn phản ánh điều gì?" in lamp.text
    # An unsure guess is no answer: the admin chooses.
    rubbish = admin.group("rác ở chợ Đông Ba bốc mùi")
    assert "phản ánh sự việc (35,0%)" in rubbish.text
    assert Select(rubbish.find_element(By.NAME, "intent")).first_selected_option.get_attribute("value") == ""
    admin.shot("1-inbox")

    # A complaint needs its category: the browser asks before anything is sent.
    before = (training_dir / "nlu/data/nlu_report_chieu_sang.yml").read_bytes()
    Select(lamp.find_element(By.NAME, "intent")).select_by_value("report_issue")
    lamp.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    assert lamp.find_element(By.NAME, "category").get_attribute("validationMessage")
    assert not browser.find_elements(By.ID, "notice")
    # An address that is not in the sentence: refused beside the group, the choices kept.
    Select(lamp.find_element(By.NAME, "category")).select_by_value("chieu_sang")
    lamp.find_element(By.NAME, "address").send_keys("Lê Lợi")
    lamp.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    assert "Lê Lợi" in admin.refusal(LAMP)  # the service's reason: not in the sentence
    lamp = admin.group(LAMP)
    assert Select(lamp.find_element(By.NAME, "intent")).first_selected_option.get_attribute("value") == "report_issue"
    assert Select(lamp.find_element(By.NAME, "category")).first_selected_option.get_attribute("value") == "chieu_sang"
    assert lamp.find_element(By.NAME, "address").get_attribute("value") == "Lê Lợi"
    admin.shot("2a-refused-beside-the-group")

    admin.select_in_text(lamp, ADDRESS)
    address = lamp.find_element(By.NAME, "address")
    admin.wait.until(lambda d: address.get_attribute("value") == ADDRESS, "the selection in the address field")
    admin.shot("2-address-picked")
    lamp.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    admin.until("Đã gán nhãn 1 nhóm tin nhắn là phản ánh sự việc · Chiếu sáng công cộng.")
    written = (training_dir / "nlu/data/nlu_report_chieu_sang.yml").read_text(encoding="utf-8")
    assert f"đèn đường [{ADDRESS}](address) tối om" in written
    assert "4 nhóm · 5 tin nhắn" in admin.text()

    # What the assistant took for an emergency is labelled otherwise only once the admin says so.
    shock = admin.group(SHOCK)
    assert "tin khẩn cấp" in shock.find_element(By.CSS_SELECTOR, ".emergency").text
    Select(shock.find_element(By.NAME, "intent")).select_by_value("report_issue")
    Select(shock.find_element(By.NAME, "category")).select_by_value("chieu_sang")
    shock.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    assert "khẩn cấp" in admin.refusal(SHOCK)
    admin.shot("2b-emergency-guard", at=".group-error")
    assert SHOCK not in (training_dir / "nlu/data/nlu_report_chieu_sang.yml").read_text(encoding="utf-8")
    shock = admin.group(SHOCK)
    Select(shock.find_element(By.NAME, "intent")).select_by_value("emergency")
    Select(shock.find_element(By.NAME, "category")).select_by_value("")
    shock.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    admin.until("Đã gán nhãn 1 nhóm tin nhắn là khẩn cấp.")
    assert "3 nhóm · 4 tin nhắn" in admin.text()

    # Two groups in one go; the buttons wait for a choice.
    bulk_buttons = browser.find_elements(By.CSS_SELECTOR, "#bulk button")
    assert not any(button.is_enabled() for button in bulk_buttons)
    for text in ("rác ở chợ Đông Ba bốc mùi", "rác tràn ra đường kiệt 5"):
        admin.group(text).find_element(By.CSS_SELECTOR, "input.pick").click()
    assert admin.find("#bulk-count").text == "Đã chọn 2 nhóm."
    browser.execute_script("window.scrollTo(0, 0)")
    jump = admin.find("#bulk-jump")
    admin.wait.until(lambda d: jump.is_displayed(), "the way to the bulk form")
    assert jump.text == "2 nhóm đã chọn ↓"  # the way to the form, from anywhere in the list
    jump.click()
    admin.wait.until(lambda d: not jump.is_displayed(), "the form in view")
    Select(admin.find("#bulk select[name=intent]")).select_by_value("report_issue")
    Select(admin.find("#bulk select[name=category]")).select_by_value("moi_truong")
    admin.shot("3-bulk-chosen")
    bulk_buttons[0].click()
    admin.until("Đã gán nhãn 2 nhóm tin nhắn là phản ánh sự việc · Môi trường, vệ sinh.")
    written = (training_dir / "nlu/data/nlu_report_moi_truong.yml").read_text(encoding="utf-8")
    assert "rác ở chợ Đông Ba bốc mùi" in written and "rác tràn ra đường kiệt 5" in written

    # An impatient double click discards once, and says so.
    discard = admin.group("cho hỏi giá vé tàu ra Hà Nội").find_element(By.XPATH, ".//button[text()='Bỏ qua']")
    ActionChains(browser).double_click(discard).perform()
    admin.until("Đã bỏ qua 1 nhóm tin nhắn.")
    assert not browser.find_elements(By.CSS_SELECTOR, "#notice.error")
    assert "Không có tin nhắn nào ở mục này." in admin.text()
    admin.shot("4-inbox-empty")
    browser.find_element(By.LINK_TEXT, "Đã gán nhãn").click()
    admin.until("4 nhóm · 7 tin nhắn")
    lamp = admin.group(LAMP)
    assert f"Đã gán nhãn: phản ánh sự việc (report_issue) · Chiếu sáng công cộng · địa chỉ “{ADDRESS}”" in lamp.text
    assert "bởi admin.minh lúc" in lamp.text
    admin.shot("4b-labelled")
    lamp.find_element(By.XPATH, ".//button[text()='Hoàn tác']").click()
    admin.until("Đã hoàn tác: 1 nhóm tin nhắn trở lại mục “Chờ xử lý”.")
    assert (training_dir / "nlu/data/nlu_report_chieu_sang.yml").read_bytes() == before  # as it was
    assert "3 nhóm · 4 tin nhắn" in admin.text()
    browser.find_element(By.LINK_TEXT, "Chờ xử lý").click()
    admin.until("1 nhóm · 3 tin nhắn")

    browser.find_element(By.LINK_TEXT, "Thống kê").click()
    admin.until("Tin nhắn mỗi ngày")
    assert admin.find("#totals").text.split("\n")[:2] == ["Tin nhắn", "11"]
    assert browser.find_elements(By.CSS_SELECTOR, "svg.columns rect")
    admin.shot("5-dashboard")
    admin.shot("5b-dashboard-lower", at="#top-missed")

    browser.find_element(By.LINK_TEXT, "Nhật ký").click()
    admin.until("Nhật ký quản trị")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    assert len(rows) == 5 and all("admin.minh" in row for row in rows)
    assert [row.split("admin.minh")[1].split()[0] for row in rows] == ["Hoàn", "Bỏ", "Gán", "Gán", "Gán"]
    assert LAMP in rows[0] and "cho hỏi giá vé tàu ra Hà Nội" in rows[1]  # the groups' texts, as written
    admin.shot("6-audit")

    browser.find_element(By.LINK_TEXT, "Huấn luyện").click()
    admin.until("Chưa có lần huấn luyện nào.")
    assert admin.find("#retrain button").is_enabled()


def test_training_shows_its_progress_then_the_decision_and_rolls_back(backend_with_standin, browser, standin):
    admin = Admin(browser, backend_with_standin)
    admin.sign_in("admin.minh", "/console/admin/training")
    admin.until("Chưa có lần huấn luyện nào.")
    admin.find("#retrain button").click()
    admin.until("Đã bắt đầu huấn luyện mô hình mới")
    assert admin.find("progress").get_attribute("value") == "70"
    assert not admin.find("#retrain button").is_enabled()
    admin.shot("7-training")
    # The page's script follows the job and shows the decision once it is made, without a click.
    admin.wait.until(lambda d: "đã qua kiểm tra và đang được dùng" in admin.text(), "the decision")
    assert "Đã bắt đầu huấn luyện" not in admin.text()  # said once, before
    scores = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#report table.scores tbody tr")]
    assert scores[0].split() == "Độ chính xác ý định 90,0% 93,0% +3,0 điểm".split()
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#report .changed .badge")] == [
        "Tốt hơn", "Kém hơn", "Khác đi"]
    assert "cây đổ chắn đường Lê Lợi" in admin.find("#report .changed").text
    admin.fits()
    admin.shot("8-decision")
    admin.shot("8b-scores", at="#report")
    admin.shot("8b2-per-intent", at="#report .per-intent")
    admin.shot("8c-models", at="#models")

    rollback = admin.find("#rollback button")
    rollback.click()  # not confirmed: the browser keeps the form
    assert standin.asked("POST", "/rollback") is None
    admin.find("#rollback input[name=confirm]").click()
    rollback.click()
    admin.until("Đã quay lại mô hình huấn luyện lúc 15:00 01/12/2026")
    assert standin.asked("POST", "/rollback")[2] == "admin.minh"
    assert "Mô hình huấn luyện lúc 15:00 01/12/2026" in admin.find("#live-model").text
    assert "Được quay lại bởi admin.minh" in admin.find("#live-model").text
    assert "nay không còn dùng" in admin.find("#job-outcome").text
    admin.fits()
    admin.shot("9-rolled-back")

    # And forward again, from the list of models: a tick, then the button.
    admin.find("details.put-live-row summary").click()
    admin.shot("10-put-live", at="details.put-live-row")
    admin.find("details.put-live-row input[name=confirm]").click()
    admin.find("details.put-live-row button").click()
    admin.until("Đã đưa lại vào sử dụng mô hình huấn luyện lúc 17:00 03/12/2026")
    assert standin.asked("POST", "/models/hue-phan-anh-20261203-100001/live")[2] == "admin.minh"
    assert "Được đưa lại vào sử dụng bởi admin.minh" in admin.find("#live-model").text
    admin.shot("11-put-live-again")
