"""The Zalo OA channel through Rasa's app factory, the real client against a stand-in of the
Zalo API, photos stored on the real routing backend."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from typing import Any, Dict, Optional

import aiohttp
import pytest

from bot.messages import SEND_PHOTO, SHARE_LOCATION
from bot.settings import Settings
from channels.limits import MAX_TEXT_CHARS, TOO_FAST, TOO_LONG, TOO_MANY_PHOTOS
from channels.state import open_state
from channels.zalo.api import ZaloApi
from channels.zalo.channel import UNSUPPORTED, ZaloInput
from tests.support.images import jpeg
from tests.support.rasa_app import CATEGORY_BUTTONS, RasaApp
from tests.support.services import REDIS_URL
from tests.support.zalo import APP_ID, USER, ZaloStandin, event, post_event

OA_SECRET = "oa-secret-key"
APP_SECRET = "app-secret"


@pytest.fixture
async def zalo_api():
    async with ZaloStandin("access-1", "refresh-1", APP_ID, APP_SECRET) as standin:
        yield standin


def zalo_settings(backend: Settings, api: ZaloStandin, **more: Any) -> Settings:
    return dataclasses.replace(
        backend, zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET,
        zalo_access_token="access-1", zalo_refresh_token="refresh-1", zalo_app_secret=APP_SECRET,
        zalo_api_base_url=api.url, zalo_oauth_url=api.oauth_url, **more,
    )


@pytest.fixture
async def rasa(backend, zalo_api):
    channel = ZaloInput(zalo_settings(backend, zalo_api))
    async with RasaApp(channel) as app:
        yield app


async def post(app: RasaApp, payload: Dict[str, Any], secret: Optional[str] = OA_SECRET, **signature: Any) -> int:
    """Posts `payload` signed with `secret` (None: unsigned), or with `signature_header=`."""
    return await post_event(app.url, payload, secret, **signature)


async def settled(app: RasaApp) -> None:
    await app.channel.events.background.drain()


async def test_missing_or_wrong_signature_is_rejected_and_nothing_processed(rasa, zalo_api):
    text = event("user_send_text", "m1", text="xin chào")
    assert await post(rasa, text, secret=None) == 401
    assert await post(rasa, text, signature_header="mac=" + "0" * 64) == 403
    assert await post(rasa, text, secret="other") == 403
    await settled(rasa)
    assert rasa.assistant.received == [] and zalo_api.messages == []


async def test_text_reaches_assistant_and_buttons_become_a_numbered_list(rasa, zalo_api):
    rasa.assistant.reply = lambda m: (
        [{"text": "Đèn đường, đúng không ạ?", "buttons": CATEGORY_BUTTONS}] if m.text == "đèn đường hỏng"
        else [{"text": "Dạ."}]
    )
    assert await post(rasa, event("user_send_text", "m1", text="đèn đường hỏng")) == 200
    await settled(rasa)
    [message] = rasa.assistant.received
    assert message.sender_id == f"zalo:{USER}"
    assert message.text == "đèn đường hỏng"
    assert message.metadata == {"channel": "zalo", "user_id": USER}
    sent = zalo_api.messages[0]
    assert sent["recipient"] == {"user_id": USER}
    assert "1. ✅ Đúng\n2. Giao thông" in sent["message"]["text"]
    # Answering with a number sends that button's payload.
    await post(rasa, event("user_send_text", "m2", text="2"))
    await settled(rasa)
    assert rasa.assistant.received[-1].text == '/inform{"category":"giao_thong"}'
    # The last bot message had no buttons: a later "2" is just text.
    await post(rasa, event("user_send_text", "m3", text="2"))
    await settled(rasa)
    assert rasa.assistant.received[-1].text == "2"


async def test_the_same_event_twice_is_handled_once(rasa):
    text = event("user_send_text", "m1", text="xin chào")
    assert await post(rasa, text) == 200
    assert await post(rasa, text) == 200
    await settled(rasa)
    assert len(rasa.assistant.received) == 1


async def test_webhook_answers_at_once_even_when_the_assistant_is_slow(rasa, zalo_api):
    async def slow(message):
        await asyncio.sleep(3)
        await message.output_channel.send_response(message.sender_id, {"text": "Dạ"})

    rasa.assistant.handle_message = slow
    started = time.monotonic()
    assert await post(rasa, event("user_send_text", "m1", text="xin chào")) == 200
    assert time.monotonic() - started < 2
    await settled(rasa)
    assert zalo_api.texts() == ["Dạ"]


async def test_location_with_coordinates_as_strings(rasa):
    location = event("user_send_location", "m1", attachments=[{
        "type": "location",
        "payload": {"coordinates": {"latitude": "16.4637", "longitude": "107.5909"}},
    }])
    await post(rasa, location)
    await settled(rasa)
    [message] = rasa.assistant.received
    assert message.text == SHARE_LOCATION
    assert message.metadata["location"] == {"latitude": 16.4637, "longitude": 107.5909}


async def test_image_is_downloaded_and_stored_on_the_backend(rasa, zalo_api):
    zalo_api.files["a.jpg"] = jpeg("green")
    image = event("user_send_image", "m1", text="cống tắc", attachments=[
        {"type": "image", "payload": {"url": zalo_api.file_url("a.jpg"),
                                      "thumbnail": zalo_api.file_url("a.jpg")}},
    ])
    await post(rasa, image)
    await settled(rasa)
    [message] = rasa.assistant.received
    assert message.text == SEND_PHOTO and message.metadata["caption"] == "cống tắc"
    [photo] = message.metadata["photos"]
    async with aiohttp.ClientSession() as http:
        async with http.get(photo["url"]) as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"\xff\xd8")


async def test_an_image_that_cannot_be_read_gets_a_reason_not_the_assistant(rasa, zalo_api):
    zalo_api.files["a.jpg"] = b"<html>not an image</html>"
    image = event("user_send_image", "m1", attachments=[
        {"type": "image", "payload": {"url": zalo_api.file_url("a.jpg")}},
    ])
    await post(rasa, image)
    await settled(rasa)
    assert rasa.assistant.received == []
    assert "JPEG, PNG hoặc WebP" in zalo_api.texts()[-1]


async def test_stickers_get_a_friendly_answer_and_other_events_are_ignored(rasa, zalo_api):
    assert await post(rasa, event("user_send_sticker", "m1", attachments=[])) == 200
    assert await post(rasa, event("follow", "m2")) == 200
    assert await post(rasa, event("oa_send_text", "m3", text="Dạ")) == 200
    await settled(rasa)
    assert rasa.assistant.received == []
    assert zalo_api.texts() == [UNSUPPORTED]


async def test_expired_token_is_refreshed_and_the_message_sent_again(rasa, zalo_api, caplog):
    caplog.set_level(logging.INFO)
    rasa.assistant.reply = lambda m: [{"text": "Dạ, mình nghe."}]
    zalo_api.expire_token = True
    await post(rasa, event("user_send_text", "m1", text="xin chào"))
    await settled(rasa)
    assert zalo_api.texts() == ["Dạ, mình nghe."]
    [refresh] = zalo_api.refreshes
    assert refresh == {"app_id": APP_ID, "grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert "access token refreshed" in caplog.text
    # The new pair is kept: the single-use refresh token is not used twice.
    zalo_api.expire_token = True
    await post(rasa, event("user_send_text", "m2", text="còn đó không"))
    await settled(rasa)
    assert [r["refresh_token"] for r in zalo_api.refreshes] == ["refresh-1", "refresh-2"]
    assert "access-" not in caplog.text and "refresh-1" not in caplog.text


async def test_images_and_long_texts_on_the_way_out(rasa, zalo_api):
    long_text = "\n".join(f"Dòng {i:03d} của một câu trả lời rất dài." for i in range(100))
    rasa.assistant.reply = lambda m: [{"text": long_text}, {"image": "http://x.vn/a.jpg"}]
    await post(rasa, event("user_send_text", "m1", text="xem"))
    await settled(rasa)
    *texts, image = zalo_api.messages
    assert len(texts) >= 2 and all(len(t["message"]["text"]) <= 2000 for t in texts)
    assert image["message"]["attachment"]["payload"]["elements"] == [
        {"media_type": "image", "url": "http://x.vn/a.jpg"}
    ]


async def test_channel_is_off_when_its_variables_are_unset(caplog, backend):
    caplog.set_level(logging.INFO)
    async with RasaApp(ZaloInput(backend)) as app:
        text = event("user_send_text", "m1", text="xin chào")
        assert await post(app, text) == 503
    assert app.assistant.received == []
    assert "Zalo channel is off" in caplog.text


@pytest.mark.parametrize("body", [b"[]", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
async def test_a_body_that_is_no_event_is_refused_and_the_channel_goes_on(rasa, zalo_api, body):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa.url}/webhooks/zalo/webhook", data=body,
                             headers={"X-ZEvent-Signature": "mac=" + "0" * 64}) as response:
            assert response.status in (403, 413)  # 413: larger than any event, not even parsed
    assert await post(rasa, event("user_send_text", "m1", text="xin chào")) == 200
    await settled(rasa)
    assert [m.text for m in rasa.assistant.received] == ["xin chào"]


@pytest.mark.parametrize("age_s", [2 * 3600, -3600])
async def test_a_signed_event_from_hours_ago_or_from_the_future_is_not_handled(rasa, zalo_api, age_s):
    # A captured event replayed later would otherwise reach the assistant again.
    old = event("user_send_text", f"m-{age_s}", text="đèn đường hỏng")
    old["timestamp"] = str(int((time.time() - age_s) * 1000))
    assert await post(rasa, old) == 200
    assert await post(rasa, event("user_send_text", "m-now", text="xin chào")) == 200
    await settled(rasa)
    assert [m.text for m in rasa.assistant.received] == ["xin chào"]


async def test_an_event_delivered_again_after_a_restart_is_not_handled_again(backend, zalo_api):
    settings = zalo_settings(backend, zalo_api)
    hello = event("user_send_text", "m1", text="đèn đường hỏng")
    async with RasaApp(ZaloInput(settings)) as first:
        assert await post(first, hello) == 200
        await settled(first)
    async with RasaApp(ZaloInput(settings)) as restarted:
        assert await post(restarted, hello) == 200
        assert await post(restarted, event("user_send_text", "m2", text="còn đó không")) == 200
        await settled(restarted)
    assert [m.text for m in first.assistant.received] == ["đèn đường hỏng"]
    assert [m.text for m in restarted.assistant.received] == ["còn đó không"]


async def test_a_refreshed_token_survives_a_restart_until_the_environment_gives_new_ones(
    backend, zalo_api, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = zalo_settings(backend, zalo_api)
    async with RasaApp(ZaloInput(settings)) as first:
        first.assistant.reply = lambda m: [{"text": "Dạ, mình nghe."}]
        zalo_api.expire_token = True
        await post(first, event("user_send_text", "m1", text="xin chào"))
        await settled(first)
    # ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN still hold the spent pair: the kept one is used.
    async with RasaApp(ZaloInput(settings)) as restarted:
        restarted.assistant.reply = lambda m: [{"text": "Mình vẫn ở đây."}]
        await post(restarted, event("user_send_text", "m2", text="còn đó không"))
        await settled(restarted)
    assert zalo_api.texts() == ["Dạ, mình nghe.", "Mình vẫn ở đây."]
    assert [r["refresh_token"] for r in zalo_api.refreshes] == ["refresh-1"]

    # An operator puts a new pair in the environment: it is newer than the kept one.
    zalo_api.access_token = "access-new"
    renewed = dataclasses.replace(settings, zalo_access_token="access-new", zalo_refresh_token="refresh-new")
    async with RasaApp(ZaloInput(renewed)) as reconfigured:
        reconfigured.assistant.reply = lambda m: [{"text": "Dạ."}]
        await post(reconfigured, event("user_send_text", "m3", text="alo"))
        await settled(reconfigured)
    assert zalo_api.texts()[-1] == "Dạ." and len(zalo_api.refreshes) == 1
    assert "access-2" not in caplog.text and "refresh-2" not in caplog.text


@pytest.mark.redis
async def test_two_replicas_on_one_redis_share_buttons_and_handled_events(backend, zalo_api):
    settings = zalo_settings(backend, zalo_api, lock_store_url=REDIS_URL)
    user, ids = uuid.uuid4().hex[:12], uuid.uuid4().hex  # of their own: Redis outlives the test
    async with RasaApp(ZaloInput(settings)) as one, RasaApp(ZaloInput(settings)) as two:
        one.assistant.reply = lambda m: [{"text": "Đèn đường, đúng không ạ?", "buttons": CATEGORY_BUTTONS}]
        complaint = event("user_send_text", f"{ids}-1", user=user, text="đèn đường hỏng")
        await post(one, complaint)
        await settled(one)
        # Zalo redelivers the event to the other replica: handled once.
        await post(two, complaint)
        # The citizen answers "2", and that reaches the other replica.
        await post(two, event("user_send_text", f"{ids}-2", user=user, text="2"))
        await settled(two)
    assert [m.text for m in one.assistant.received] == ["đèn đường hỏng"]
    assert [m.text for m in two.assistant.received] == ['/inform{"category":"giao_thong"}']


async def test_a_text_too_long_or_a_flood_is_answered_on_zalo_and_never_reaches_the_assistant(backend, zalo_api):
    async with RasaApp(ZaloInput(zalo_settings(backend, zalo_api, sender_messages_per_minute=3))) as rasa:
        await post(rasa, event("user_send_text", "long", text="x" * (MAX_TEXT_CHARS + 1)))
        await settled(rasa)
        assert zalo_api.texts() == [TOO_LONG]
        for n in range(5):  # 1 + 5 > 3 in a minute: the citizen is told once, then nothing more
            await post(rasa, event("user_send_text", f"m{n}", text="alo"))
        await settled(rasa)
        assert [m.text for m in rasa.assistant.received] == ["alo", "alo"]
        assert zalo_api.texts()[1:] == [TOO_FAST]


async def test_photos_past_the_sender_s_limit_are_not_stored_and_the_citizen_is_told(backend, zalo_api):
    zalo_api.files["a.jpg"] = jpeg("green")
    image = {"type": "image", "payload": {"url": zalo_api.file_url("a.jpg")}}
    async with RasaApp(ZaloInput(zalo_settings(backend, zalo_api, sender_photos_per_hour=2))) as rasa:
        await post(rasa, event("user_send_image", "m1", attachments=[image, image]))
        await post(rasa, event("user_send_image", "m2", attachments=[image]))
        await settled(rasa)
    [message] = rasa.assistant.received
    assert len(message.metadata["photos"]) == 2
    assert zalo_api.texts() == [TOO_MANY_PHOTOS]
    assert len(list(backend.media_dir.iterdir())) == 2


@pytest.mark.parametrize("store", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_replicas_whose_token_expired_at_once_refresh_it_once_and_all_send(store, data_dir, caplog):
    """Zalo's refresh token works once: two replicas refreshing together would spend it twice, and
    the second's message would be lost. One refreshes, the other takes the pair it kept."""
    app_id = f"app-{uuid.uuid4().hex[:8]}"  # keys of their own in the shared Redis
    async with ZaloStandin("access-1", "refresh-1", app_id, APP_SECRET) as standin:
        standin.expire_token = True
        standin.refresh_delay_s = 0.5  # both replicas are refreshing at the same time
        settings = Settings(data_dir=data_dir, lock_store_url=REDIS_URL if store == "redis" else None,
                            zalo_app_id=app_id, zalo_access_token="access-1", zalo_refresh_token="refresh-1",
                            zalo_app_secret=APP_SECRET, zalo_api_base_url=standin.url,
                            zalo_oauth_url=standin.oauth_url)
        states = [open_state(settings) for _ in range(3)]
        replicas = [ZaloApi(settings, state, f"zalo:{app_id}") for state in states]
        try:
            refusals = await asyncio.gather(*(replica.send(USER, {"text": f"tin {i}"})
                                              for i, replica in enumerate(replicas)))
            kept = json.loads(await states[0].get(f"zalo:{app_id}:tokens") or "{}")
        finally:
            await states[0].delete(f"zalo:{app_id}:tokens")  # kept without expiry
            for replica, state in zip(replicas, states, strict=True):
                await replica.close()
                await state.close()
    assert refusals == [None, None, None]
    assert sorted(standin.texts()) == ["tin 0", "tin 1", "tin 2"]
    assert [form["refresh_token"] for form in standin.refreshes] == ["refresh-1"]
    assert (kept["access_token"], kept["refresh_token"]) == ("access-2", "refresh-2")
    assert "refused to refresh" not in caplog.text
