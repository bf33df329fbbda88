"""`python -m backend.accounts add|passwd|disable|list`: the console's accounts, for admins.

Passwords are asked with getpass on a terminal, else read from the first line of standard input
(`printf '%s\n' "$PASSWORD" | python -m backend.accounts add ...`): never on the command line,
which every user of the host can read in `ps`.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import datetime, timezone
from typing import List, Optional, Sequence

from bot.settings import SettingsError, get_settings

from . import db
from .console import accounts
from .directory import load_directory


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Mật khẩu: ")
    if confirm and getpass.getpass("Nhập lại mật khẩu: ") != password:
        raise accounts.AccountError("Hai lần nhập mật khẩu không khớp.")
    return password


async def _run(args: argparse.Namespace) -> List[str]:
    settings = get_settings()
    os.umask(0o077)  # a new SQLite database holds citizens' phone numbers
    engine = db.create_engine(settings.effective_database_url)
    try:
        await db.migrate(engine)
        async with db.session_factory(engine)() as session, session.begin():
            return await _command(session, args)
    finally:
        await engine.dispose()


async def _command(session, args: argparse.Namespace) -> List[str]:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if args.command == "add":
        if args.agency and args.agency not in load_directory().agency_ids():
            raise accounts.AccountError(f"Không có cơ quan mã {args.agency} trong backend/data/agencies.yml.")
        # Checked before the password is asked for, so a typo costs no typing.
        accounts.check_login(args.login)
        account = await accounts.add_account(
            session, args.login, _read_password(confirm=True), args.role, args.agency, now
        )
        return [f"Đã tạo tài khoản {account.login} ({account.role})."]
    if args.command == "passwd":
        account = await accounts.set_password(session, args.login, _read_password(confirm=True))
        return [f"Đã đổi mật khẩu của {account.login}."]
    if args.command == "disable":
        account = await accounts.disable(session, args.login)
        return [f"Đã khóa tài khoản {account.login}."]
    return [
        "\t".join((a.login, a.role, a.agency_id or "-", "khóa" if a.disabled else "hoạt động"))
        for a in await accounts.all_accounts(session)
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.accounts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="a new account (password asked, or read from stdin)")
    add.add_argument("login")
    add.add_argument("--role", choices=accounts.ROLES, required=True)
    add.add_argument("--agency", help="agency id of backend/data/agencies.yml (agency accounts)")
    passwd = commands.add_parser("passwd", help="a new password (asked, or read from stdin); open sessions end")
    passwd.add_argument("login")
    commands.add_parser("disable", help="no more logins; open sessions end").add_argument("login")
    commands.add_parser("list", help="login, role, agency, state")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = asyncio.run(_run(args))
    except (accounts.AccountError, SettingsError) as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
