"""Console accounts: the table, its reads and writes, and their passwords' argon2 hashes.

An account is a person (an IOC operator, an agency's officer, an admin), never a shared key: it is
disabled rather than deleted, so that the history can still say who did what.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..schema import Base

OPERATOR, AGENCY, ADMIN = "operator", "agency", "admin"
ROLES = (OPERATOR, AGENCY, ADMIN)
MIN_PASSWORD = 10
MAX_PASSWORD = 256
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

# argon2id with the library's defaults (RFC 9106's low-memory profile).
_HASHER = PasswordHasher()
# Verified against when the login is unknown, so that the time taken does not tell which logins exist.
_UNKNOWN_HASH = _HASHER.hash("not a password of any account")


class ConsoleAccount(Base):
    __tablename__ = "console_accounts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    login = Column(String(64), nullable=False, unique=True, index=True)
    password_hash = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False)
    agency_id = Column(String(64))  # agency accounts only: the agency whose reports it works
    created_at = Column(DateTime, nullable=False)
    disabled = Column(Boolean, nullable=False, default=False)


class AccountError(ValueError):
    """What an admin asked for cannot be done; the message says why (in Vietnamese)."""


@dataclass(frozen=True)
class Identity:
    """Who is signed in to the console, as the pages need it."""

    account_id: int
    login: str
    role: str
    agency_id: Optional[str]

    @property
    def is_operator(self) -> bool:
        """Operators and admins work every report; an agency account only its agency's."""
        return self.role in (OPERATOR, ADMIN)


def identity_of(account: ConsoleAccount) -> Identity:
    return Identity(account.id, account.login, account.role, account.agency_id)


def session_identity(account: ConsoleAccount) -> str:
    """What a session remembers of its account: its id, and a digest of its password hash, so
    that a new password ends the sessions opened with the old one."""
    return f"{account.id}:{_digest(account.password_hash)}"


async def account_of_session(session: AsyncSession, identity: str) -> Optional[ConsoleAccount]:
    """The active account a session's identity names, if its password has not changed since."""
    number, _, digest = identity.partition(":")
    account = await active_account(session, int(number)) if number.isdigit() else None
    if account is None or not hmac.compare_digest(digest, _digest(account.password_hash)):
        return None
    return account


def _digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def check_login(login: str) -> str:
    login = login.strip().lower()
    if not _LOGIN.match(login):
        raise AccountError("Tên đăng nhập chỉ gồm chữ thường không dấu, số, dấu . _ - (2 đến 64 ký tự).")
    return login


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"Mật khẩu cần từ {MIN_PASSWORD} đến {MAX_PASSWORD} ký tự.")
    return password


async def by_login(session: AsyncSession, login: str) -> Optional[ConsoleAccount]:
    query = select(ConsoleAccount).where(ConsoleAccount.login == login.strip().lower())
    return (await session.execute(query)).scalar_one_or_none()


async def active_account(session: AsyncSession, account_id: int) -> Optional[ConsoleAccount]:
    account = await session.get(ConsoleAccount, account_id)
    return account if account is not None and not account.disabled else None


async def add_account(
    session: AsyncSession, login: str, password: str, role: str, agency_id: Optional[str], now: datetime
) -> ConsoleAccount:
    """A new account; `agency_id` (already checked against the directory) for agency accounts only."""
    login = check_login(login)
    if role not in ROLES:
        raise AccountError(f"Vai trò phải là một trong: {', '.join(ROLES)}.")
    if (role == AGENCY) != bool(agency_id):
        raise AccountError("Tài khoản cơ quan cần mã cơ quan (--agency); các vai trò khác thì không.")
    if await by_login(session, login) is not None:
        raise AccountError(f"Tên đăng nhập {login} đã có.")
    account = ConsoleAccount(
        login=login, password_hash=_HASHER.hash(check_password(password)), role=role,
        agency_id=agency_id if role == AGENCY else None, created_at=now, disabled=False,
    )
    session.add(account)
    await session.flush()
    return account


async def set_password(session: AsyncSession, login: str, password: str) -> ConsoleAccount:
    account = await _existing(session, login)
    account.password_hash = _HASHER.hash(check_password(password))
    await session.flush()
    return account


async def disable(session: AsyncSession, login: str) -> ConsoleAccount:
    account = await _existing(session, login)
    account.disabled = True
    await session.flush()
    return account


async def all_accounts(session: AsyncSession) -> List[ConsoleAccount]:
    return list((await session.execute(select(ConsoleAccount).order_by(ConsoleAccount.login))).scalars())


async def authenticate(session: AsyncSession, login: str, password: str) -> Optional[ConsoleAccount]:
    """The active account with this login and password, else None (whatever was wrong)."""
    account = await by_login(session, login)
    stored = account.password_hash if account is not None else _UNKNOWN_HASH
    try:
        # A deliberately slow hash (tens of milliseconds): off the event loop, which serves everyone.
        await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled:
        return None
    if _HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = _HASHER.hash(password)
    return account


async def _existing(session: AsyncSession, login: str) -> ConsoleAccount:
    account = await by_login(session, login)
    if account is None:
        raise AccountError(f"Không có tài khoản {login.strip().lower()}.")
    return account
