"""The assistant's Open311 client against the real backend, a failing server and no server."""
import asyncio

import pytest
from aiohttp import ClientSession, web

from backend import create_app
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.settings import DEV_API_KEY, Settings
from tests.support.images import phone_photo
from tests.support.places import DA_NANG, PHU_XUAN
from tests.support.servers import free_port


@pytest.fixture
async def open311(aiohttp_server, settings):
    server = await aiohttp_server(create_app(settings))
    async with Open311Client(str(server.make_url("/open311/v2")), DEV_API_KEY) as client:
        yield client


async def test_full_round_trip(open311):
    services = await open311.services()
    assert "chieu_sang" in {s["service_code"] for s in services}

    url = await open311.upload_media(phone_photo(), "p.jpg", "image/jpeg")
    created = await open311.create_request(
        service_code="chieu_sang", description="Đèn đường tắt cả tuần",
        lat=PHU_XUAN[0], long=PHU_XUAN[1], media_urls=[url], account_id="web:abc", phone=None,
    )
    code = created["service_request_id"]
    assert code in created["service_notice"]  # what the citizen is told quotes their code

    report = await open311.get_request(f"pa-{code[2:]}")
    assert report["service_request_id"] == code and report["media_urls"] == [url]
    assert await open311.get_request("PA999999") is None
    assert await open311.get_request("../services") is None

    mine = await open311.list_requests(account_id="web:abc", status=["open", "closed"])
    assert [r["service_request_id"] for r in mine] == [code]
    assert await open311.list_requests(account_id="web:someone-else") == []


async def test_refusals_become_backend_rejected_with_a_vietnamese_message(open311):
    with pytest.raises(BackendRejected) as caught:
        await open311.create_request(service_code="chieu_sang", description="x", lat=DA_NANG[0], long=DA_NANG[1])
    assert caught.value.code == 400
    assert "outside Huế" in caught.value.description
    assert str(caught.value).startswith("Hệ thống tiếp nhận không nhận yêu cầu: Vị trí này nằm ngoài")
    assert "outside" not in str(caught.value)


async def test_a_wrong_key_is_rejected_but_not_blamed_on_the_citizen(aiohttp_server, settings):
    server = await aiohttp_server(create_app(settings))
    async with Open311Client(str(server.make_url("/open311/v2")), "not-the-key") as client:
        with pytest.raises(BackendRejected) as caught:
            await client.create_request(service_code="khac", description="x", lat=PHU_XUAN[0], long=PHU_XUAN[1])
    assert caught.value.code == 403
    assert "api" not in str(caught.value) and "not-the-key" not in str(caught.value)


async def test_nothing_listening_is_backend_unavailable():
    async with Open311Client(f"http://127.0.0.1:{free_port()}/open311/v2", "k", retries=1) as client:
        with pytest.raises(BackendUnavailable) as caught:
            await client.get_request("PA000001")
        assert "vui lòng thử lại" in str(caught.value)
        with pytest.raises(BackendUnavailable):
            await client.create_request(service_code="khac", description="x", address_string="Huế")


def _counting_app(handler):
    """A server that counts the calls per method and answers each with `handler`."""
    calls = {"GET": 0, "POST": 0}

    async def count(request):
        calls[request.method] += 1
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/open311/v2/{tail:.*}", count)
    return app, calls


async def test_5xx_retries_reads_but_never_reposts_a_create(aiohttp_server):
    async def broken(request):
        return web.json_response([{"code": 500, "description": "boom"}], status=500)

    app, calls = _counting_app(broken)
    server = await aiohttp_server(app)
    async with Open311Client(str(server.make_url("/open311/v2")), "k", retries=2) as client:
        with pytest.raises(BackendUnavailable):
            await client.list_requests(status="open")
        with pytest.raises(BackendUnavailable):
            await client.create_request(service_code="khac", description="x", address_string="Huế")
    assert calls == {"GET": 3, "POST": 1}


async def test_a_slow_server_times_out_as_unavailable(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(2)
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/open311/v2/services.json", slow)
    server = await aiohttp_server(app)
    async with Open311Client(str(server.make_url("/open311/v2")), "k", timeout_s=0.2, retries=0) as client:
        with pytest.raises(BackendUnavailable):
            await client.services()


async def test_a_timeout_retries_reads_but_never_reposts_a_create(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(1)
        return web.json_response([{"service_request_id": "PA000001"}])

    app, calls = _counting_app(slow)
    server = await aiohttp_server(app)
    async with Open311Client(str(server.make_url("/open311/v2")), "k", timeout_s=0.2, retries=2) as client:
        with pytest.raises(BackendUnavailable) as read:
            await client.list_requests()
        with pytest.raises(BackendUnavailable) as create:
            await client.create_request(service_code="khac", description="x", address_string="Huế")
    assert "TimeoutError" in read.value.detail and "TimeoutError" in create.value.detail
    # The slow server may well have stored the report: a second POST would file it twice.
    assert calls == {"GET": 3, "POST": 1}


async def test_a_dropped_connection_retries_reads_but_never_reposts_a_create(aiohttp_server):
    async def hang_up(request):
        request.transport.close()
        return web.Response()

    app, calls = _counting_app(hang_up)
    server = await aiohttp_server(app)
    async with Open311Client(str(server.make_url("/open311/v2")), "k", retries=2) as client:
        with pytest.raises(BackendUnavailable):
            await client.get_request("PA000001")
        with pytest.raises(BackendUnavailable):
            await client.create_request(service_code="khac", description="x", address_string="Huế")
    assert calls == {"GET": 3, "POST": 1}


async def test_a_create_is_retried_when_the_connection_was_never_made(aiohttp_server, caplog):
    async def created(request):
        return web.json_response([{"service_request_id": "PA000001"}], status=201)

    app, calls = _counting_app(created)
    port = free_port()

    async def start_later():
        # During the first backoff (0.2 s): only the retry can reach the server.
        await asyncio.sleep(0.05)
        await aiohttp_server(app, port=port)

    starting = asyncio.create_task(start_later())
    async with Open311Client(f"http://127.0.0.1:{port}/open311/v2", "k", retries=3) as client:
        answer = await client.create_request(service_code="khac", description="x", address_string="Huế")
    await starting
    assert answer["service_request_id"] == "PA000001"
    assert calls == {"GET": 0, "POST": 1}
    assert "POST requests.json: cannot connect (ClientConnectorError), retry 1 of 3" in caplog.text


def test_from_settings_uses_the_assistant_side_settings():
    client = Open311Client.from_settings(
        Settings(backend_url="https://ioc.example/open311/v2/", backend_api_key="secret")
    )
    assert client.base_url == "https://ioc.example/open311/v2"
    assert "secret" not in repr(client)


async def test_a_create_with_a_key_is_retried_after_a_timeout_and_files_one_report(aiohttp_server, settings):
    # The real backend behind a door that answers the first create only after the client gave up.
    backend = await aiohttp_server(create_app(settings))
    posts = []

    async def late_first_answer(request):
        posts.append(dict(await request.post()))
        async with ClientSession() as session:
            async with session.post(backend.make_url("/open311/v2/requests.json"), data=posts[-1]) as answer:
                body, status = await answer.json(), answer.status
        if len(posts) == 1:
            await asyncio.sleep(1)
        return web.json_response(body, status=status)

    door = web.Application()
    door.router.add_post("/open311/v2/requests.json", late_first_answer)
    server = await aiohttp_server(door)
    async with Open311Client(str(server.make_url("/open311/v2")), DEV_API_KEY, timeout_s=0.5, retries=2) as client:
        created = await client.create_request(service_code="khac", description="Cống tắc", lat=PHU_XUAN[0],
                                              long=PHU_XUAN[1], idempotency_key="web:1|1764748800.5")
    assert [p["idempotency_key"] for p in posts] == ["web:1|1764748800.5"] * 2
    async with Open311Client(str(backend.make_url("/open311/v2")), DEV_API_KEY) as client:
        stored = await client.list_requests()
    assert [r["service_request_id"] for r in stored] == [created["service_request_id"]]


async def test_a_create_with_a_key_is_retried_after_a_5xx(aiohttp_server):
    answers = iter([web.json_response([{"code": 502, "description": "proxy"}], status=502),
                    web.json_response([{"service_request_id": "PA000001"}], status=201)])

    async def flaky(request):
        return next(answers)

    app, calls = _counting_app(flaky)
    server = await aiohttp_server(app)
    async with Open311Client(str(server.make_url("/open311/v2")), "k", retries=2) as client:
        created = await client.create_request(service_code="khac", description="x", address_string="Huế",
                                              idempotency_key="zalo:7|1764748800.5")
    assert created["service_request_id"] == "PA000001" and calls == {"GET": 0, "POST": 2}
