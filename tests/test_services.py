"""The categories come from the Open311 server the assistant reports to (bot/services.py): another
server's own list through the actions, the shipped list while it is down or talks nonsense, and
the time each answer is kept."""
from __future__ import annotations

import time
from typing import Callable

import pytest
from aiohttp import web
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions.common import catalogue
from bot.categories import category_names
from bot.services import FALLBACK_TTL_S, SERVICES_TTL_S, ServiceCatalogue, service_names
from bot.settings import Settings, get_settings
from tests.support.servers import free_port
from tests.support.trackers import DOMAIN, make_tracker, responses, run_action

# Another city's Open311 server: its own codes and names, one code shared with the spec.
OTHER_SERVICES = [
    {"service_code": "pothole", "service_name": "Ổ gà, hư hỏng mặt đường", "metadata": False, "type": "realtime"},
    {"service_code": "chieu_sang", "service_name": "Đèn đường hỏng", "metadata": False, "type": "realtime"},
    {"service_code": "graffiti", "service_name": "Vẽ bậy lên tường", "metadata": False, "type": "realtime"},
]
COMPLAINT = "đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"


Answer = Callable[[], web.Response]


def open311_stand_in(*answers: Answer):
    """An Open311 server whose services.json answers with `answers` in turn (the last one from
    then on); returns the app and the number of times it was asked."""
    asked = [0]

    async def services(request):
        asked[0] += 1
        return answers[min(asked[0], len(answers)) - 1]()

    app = web.Application()
    app.router.add_get("/open311/v2/services.json", services)
    return app, asked


@pytest.fixture
def point_actions_at(monkeypatch):
    """Sets BACKEND_URL for the actions (which read the environment), with nothing cached."""
    def point(url: str) -> None:
        monkeypatch.setenv("BACKEND_URL", url)
        get_settings.cache_clear()
        catalogue.cache_clear()

    yield point
    get_settings.cache_clear()
    catalogue.cache_clear()


async def ask_category(guess=None):
    _, said = await run_action(actions.ActionAskCategory(), make_tracker(
        COMPLAINT, "report_issue", slots={"description": COMPLAINT, "category_guess": guess}, requested="category"))
    return said[0]


async def choose_category(text: str, chosen=None) -> dict:
    entities = [{"entity": "category", "value": chosen}] if chosen else []  # a button: no extractor
    tracker = make_tracker(text, "inform", entities=entities, requested="category",
                           slots={"description": COMPLAINT, "category_guess": "chieu_sang"})
    events = await actions.ValidateReportForm().run(CollectingDispatcher(), tracker, DOMAIN)
    return {event["name"]: event["value"] for event in events}


async def test_another_servers_categories_are_the_buttons_and_the_names(aiohttp_server, point_actions_at):
    app, asked = open311_stand_in(lambda: web.json_response(OTHER_SERVICES))
    server = await aiohttp_server(app)
    point_actions_at(str(server.make_url("/open311/v2")))

    # The NLU's guess is on that server too: proposed under the server's name.
    question = await ask_category("chieu_sang")
    assert question["response"] == "utter_ask_category_guess"
    assert question["category_name"] == "Đèn đường hỏng"
    assert [(b["title"], b["payload"]) for b in question["buttons"]] == [
        ("✅ Đúng", "/affirm"),
        ("Ổ gà, hư hỏng mặt đường", '/inform{"category":"pothole"}'),
        ("Vẽ bậy lên tường", '/inform{"category":"graffiti"}'),
    ]
    # A guess the server does not offer is not proposed: the citizen picks from its list.
    question = await ask_category("moi_truong")
    assert question["response"] == "utter_ask_category_choice"
    assert [b["payload"] for b in question["buttons"]] == [
        '/inform{"category":"pothole"}', '/inform{"category":"chieu_sang"}', '/inform{"category":"graffiti"}']

    # A code the NLU never learnt is taken from its button, or from its name typed.
    assert (await choose_category('/inform{"category":"graffiti"}', "graffiti"))["category"] == "graffiti"
    assert (await choose_category("là vẽ bậy lên tường"))["category"] == "graffiti"
    # A spec code this server does not take is refused.
    assert (await choose_category('/inform{"category":"moi_truong"}', "moi_truong"))["category"] is None

    filled = {"description": COMPLAINT, "category": "pothole", "location": {"display": "kiệt 45 Nguyễn Huệ"},
              "photos": [], "photos_done": True}
    _, said = await run_action(actions.ActionAskConfirmed(), make_tracker("/affirm", "affirm", slots=filled,
                                                                          requested="confirmed"))
    assert said[0]["category_name"] == "Ổ gà, hư hỏng mặt đường"
    assert asked[0] == 1  # one services.json for the whole conversation


async def test_with_the_server_down_the_shipped_categories_are_offered(point_actions_at):
    point_actions_at(f"http://127.0.0.1:{free_port()}/open311/v2")
    question = await ask_category()
    assert responses([question]) == ["utter_ask_category_choice"]
    assert [b["title"] for b in question["buttons"]] == list(category_names().values())
    assert (await choose_category('/inform{"category":"cay_xanh"}', "cay_xanh"))["category"] == "cay_xanh"
    question = await ask_category("chieu_sang")
    assert question["category_name"] == "Chiếu sáng công cộng" and len(question["buttons"]) == 10


def catalogue_of(server, clock: Callable[[], float] = time.monotonic) -> ServiceCatalogue:
    settings = Settings(backend_url=str(server.make_url("/open311/v2")), backend_timeout_s=2)
    return ServiceCatalogue(lambda: settings, timer=clock)


@pytest.mark.parametrize("answer", [
    lambda: web.Response(text="<html>Bảo trì</html>", content_type="text/html"),
    lambda: web.json_response({"services": OTHER_SERVICES}),
    lambda: web.json_response([]),
    lambda: web.json_response([{"service_code": "", "service_name": "Không mã"}, {"service_code": "x"}, "pothole"]),
    lambda: web.json_response([{"code": 500, "description": "boom"}], status=500),
    lambda: web.json_response([{"code": 404, "description": "not here"}], status=404),
    lambda: web.json_response([{"code": 403, "description": "no key"}], status=403),
], ids=["html", "object", "empty", "no-valid-entry", "5xx", "404", "403"])
async def test_nonsense_or_an_error_gives_the_shipped_list(aiohttp_server, answer):
    app, _ = open311_stand_in(answer)
    server = await aiohttp_server(app)
    assert await catalogue_of(server).categories() == category_names()


def test_service_names_keep_the_servers_order_and_skip_broken_entries():
    payload = [OTHER_SERVICES[2], {"service_code": "x"}, None, {"service_code": 7, "service_name": "số"},
               {"service_code": "pothole", "service_name": "  Ổ gà  "}, OTHER_SERVICES[0]]
    assert service_names(payload) == {"graffiti": "Vẽ bậy lên tường", "pothole": "Ổ gà"}
    assert service_names({"service_code": "x", "service_name": "y"}) == {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_list_is_kept_for_a_while_and_a_failure_for_less(aiohttp_server):
    clock = Clock()
    app, asked = open311_stand_in(lambda: web.json_response([], status=503),
                                  lambda: web.json_response(OTHER_SERVICES))
    server = await aiohttp_server(app)
    services = catalogue_of(server, clock)

    assert await services.categories() == category_names()  # down at first
    clock.now += FALLBACK_TTL_S - 1
    assert await services.categories() == category_names() and asked[0] == 1
    clock.now += 2  # asked again soon after a failure
    assert (await services.categories())["graffiti"] == "Vẽ bậy lên tường" and asked[0] == 2
    clock.now += SERVICES_TTL_S - 1
    await services.categories()
    assert asked[0] == 2
    clock.now += 2
    await services.categories()
    assert asked[0] == 3
