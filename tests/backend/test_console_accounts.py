"""`python -m backend.accounts`: an admin adds, lists, re-keys and disables console accounts, and
the console lets in exactly whom the CLI says (SQLite under DATA_DIR, as on a fresh machine)."""
from __future__ import annotations

import asyncio
import io

from backend import accounts as cli
from backend import create_app
from bot.settings import Settings
from tests.support.console import PASSWORD, ConsoleUser
from tests.support.stack import run_module

NEW_PASSWORD = "một mật khẩu mới hơn 456"


async def run(monkeypatch, capsys, *args: str, password: str = PASSWORD):
    """The CLI with `password` typed on standard input (as a script would pipe it); its exit code,
    output and errors. In a thread, as a process of its own would run it: it has its own loop."""
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n"))
    code = await asyncio.to_thread(cli.main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_the_cli_decides_who_signs_in(monkeypatch, capsys, data_dir, aiohttp_client):
    assert (await run(monkeypatch, capsys, "add", "Lan.IOC", "--role", "operator"))[:2] == (
        0, "Đã tạo tài khoản lan.ioc (operator).\n")
    assert (await run(monkeypatch, capsys, "add", "ubnd.px", "--role", "agency", "--agency", "ubnd_19753"))[0] == 0
    code, _, err = await run(monkeypatch, capsys, "add", "lan.ioc", "--role", "operator")
    assert code == 1 and "đã có" in err
    code, _, err = await run(monkeypatch, capsys, "add", "x.y", "--role", "agency", "--agency", "khong_co")
    assert code == 1 and "Không có cơ quan mã khong_co" in err
    code, _, err = await run(monkeypatch, capsys, "add", "x.y", "--role", "agency")
    assert code == 1 and "cần mã cơ quan" in err
    code, _, err = await run(monkeypatch, capsys, "add", "x.y", "--role", "admin", password="ngắn")
    assert code == 1 and "Mật khẩu cần từ 10" in err
    listed = run_module("backend.accounts", "list", env={"DATA_DIR": str(data_dir)})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["lan.ioc\toperator\t-\thoạt động", "ubnd.px\tagency\tubnd_19753\thoạt động"]

    client = await aiohttp_client(create_app(Settings(data_dir=data_dir)))
    user = ConsoleUser(client)
    await user.sign_in("lan.ioc")
    await user.page("/console/")

    assert (await run(monkeypatch, capsys, "passwd", "lan.ioc", password=NEW_PASSWORD))[0] == 0
    # The session opened with the old password is over.
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 302 and "/console/login" in response.headers["Location"]
    await ConsoleUser(client).sign_in("lan.ioc", PASSWORD, status=401)
    await ConsoleUser(client).sign_in("lan.ioc", NEW_PASSWORD)

    assert (await run(monkeypatch, capsys, "disable", "lan.ioc"))[:2] == (0, "Đã khóa tài khoản lan.ioc.\n")
    await ConsoleUser(client).sign_in("lan.ioc", NEW_PASSWORD, status=401)
    # The session opened before is over too: a disabled account is nobody.
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 302 and "/console/login" in response.headers["Location"]
    assert "khóa" in (await run(monkeypatch, capsys, "list"))[1]
