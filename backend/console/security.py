"""Who is signed in to the console and what they may do: encrypted session cookies that expire
when idle, aiohttp-security's identity and permissions, CSRF tokens, and login attempts limited.
"""
from __future__ import annotations

import hmac
import os
import secrets
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_security import AbstractAuthorizationPolicy, SessionIdentityPolicy
from aiohttp_security import setup as setup_security
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cachetools import TTLCache
from cryptography.fernet import Fernet
from sqlalchemy.orm import sessionmaker

from bot.settings import Settings

from ..schema import Report
from .accounts import Identity, account_of_session, identity_of

COOKIE = "hue_console"
SECRET_FILE = "console_secret.key"
CSRF_FIELD = "csrf_token"
EXPIRED = "console_session_expired"  # request key: the session just ended for lack of use
# Session keys: the CSRF token of its forms, and when it was last used (epoch seconds).
_CSRF, _SEEN = "csrf", "seen"
# Permissions: any signed-in account works the console; only operators (and admins) reassign.
WORK, REASSIGN = "work", "reassign"

LOGIN_WINDOW_S = 15 * 60
FAILURES_PER_LOGIN = 5  # then that login waits, whoever tries it
FAILURES_PER_ADDRESS = 20  # then that address waits, whatever login it tries
_REMEMBERED = 10_000


def clock() -> float:
    """Seconds since the epoch: when a session was last used."""
    return time.time()


def secret_key(settings: Settings) -> str:
    """CONSOLE_SECRET_KEY, else a key generated once and kept in DATA_DIR (mode 0600), so that a
    restart keeps everyone signed in. Several backends behind one address need the setting."""
    if settings.console_secret_key:
        return settings.console_secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    key = Fernet.generate_key()
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key.decode("ascii")


def setup(app: web.Application, settings: Settings, sessions: Callable[[], sessionmaker],
          in_console: Callable[[web.Request], bool]) -> None:
    """Sessions (a middleware of `app` for the requests `in_console`) and aiohttp-security's
    policies; `sessions` gives the database's sessions once it is open."""
    storage = EncryptedCookieStorage(
        secret_key(settings),
        cookie_name=COOKIE,
        path="/console/",
        # The cookie and its Fernet token both die after the idle time; each request renews them.
        max_age=settings.console_idle_minutes * 60,
        httponly=True,
        samesite="Lax",
        secure=settings.effective_backend_public_url.startswith("https://"),
    )
    with_session = session_middleware(storage)

    @web.middleware
    async def console_sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await (with_session(request, handler) if in_console(request) else handler(request))

    app.middlewares.append(console_sessions)
    with warnings.catch_warnings():
        # aiohttp-security 0.4 keys the app with strings (0.5 ships a top-level `tests` package
        # that shadows the project's own): a warning at every start that says nothing to operators.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        setup_security(app, SessionIdentityPolicy(), AccountPolicy(sessions))


class AccountPolicy(AbstractAuthorizationPolicy):
    """The session's identity names an account (`accounts.session_identity`); an account disabled
    since, or whose password changed since, is nobody."""

    def __init__(self, sessions: Callable[[], sessionmaker]) -> None:
        self._sessions = sessions  # the database opens after the routes are set up

    async def authorized_userid(self, identity: str) -> Optional[Identity]:
        async with self._sessions()() as session:
            account = await account_of_session(session, identity)
        return identity_of(account) if account is not None else None

    async def permits(self, identity: Optional[str], permission: str, context: object = None) -> bool:
        user = await self.authorized_userid(identity) if identity else None
        return user is not None and may(user, permission, context)


def may(user: Identity, permission: str, report: object = None) -> bool:
    """Whether `user` may do `permission` (on `report`, when given): an agency account works only
    the reports routed to its agency and never reassigns."""
    if permission == REASSIGN:
        return user.is_operator
    if permission != WORK:
        return False
    return user.is_operator or not isinstance(report, Report) or report.agency_id == user.agency_id


async def fresh_session(request: web.Request, idle_s: float) -> Session:
    """The request's session, emptied when unused for `idle_s` seconds, and marked used now (so
    its cookie is sent again, with a new expiry). `request[EXPIRED]` tells that a session ended so
    (or its cookie, past its own expiry, could not be read)."""
    session = await get_session(request)
    now = clock()
    seen = session.get(_SEEN)
    if isinstance(seen, (int, float)) and now - seen > idle_s:
        session.invalidate()
        request[EXPIRED] = True
    elif session.new and request.cookies.get(COOKIE):
        request[EXPIRED] = True
    session[_SEEN] = now
    return session


def csrf_token(session: Session) -> str:
    """The session's token for its forms, created with the session."""
    if not isinstance(session.get(_CSRF), str):
        session[_CSRF] = secrets.token_urlsafe(32)
    return session[_CSRF]


def csrf_valid(session: Session, given: object) -> bool:
    expected = session.get(_CSRF)
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


def new_session(session: Session) -> None:
    """A sign-in or sign-out starts over: new CSRF token, nothing carried from before."""
    session.invalidate()
    session[_SEEN] = clock()
    csrf_token(session)


class LoginLimits:
    """Failed logins counted per login and per client address over a window; past either limit,
    every attempt (right or wrong) is refused until the window has passed."""

    def __init__(self) -> None:
        self._failures: TTLCache[str, int] = TTLCache(maxsize=_REMEMBERED, ttl=LOGIN_WINDOW_S)

    def blocked(self, login: str, address: str) -> bool:
        return (
            self._failures.get(f"login:{login}", 0) >= FAILURES_PER_LOGIN
            or self._failures.get(f"address:{address}", 0) >= FAILURES_PER_ADDRESS
        )

    def failed(self, login: str, address: str) -> None:
        for key in (f"login:{login}", f"address:{address}"):
            self._failures[key] = self._failures.get(key, 0) + 1

    def succeeded(self, login: str) -> None:
        self._failures.pop(f"login:{login}", None)
