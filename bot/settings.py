"""The one place that reads the environment.

Every other module takes a `Settings` (or calls `get_settings()`), so tests can build their own
without touching `os.environ`.
"""
from __future__ import annotations

import base64
import logging
import math
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Optional, Tuple
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Used only when BACKEND_API_KEYS is unset, i.e. on a developer's machine; printed at start.
DEV_API_KEY = "dev-key-hue-phan-anh"
# Used only when BACKEND_OPERATOR_KEYS is unset: may change any report's state; printed at start.
DEV_OPERATOR_KEY = "dev-operator-key-hue-phan-anh"


DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_ZALO_API_BASE_URL = "https://openapi.zalo.me"
DEFAULT_ZALO_OAUTH_URL = "https://oauth.zaloapp.com/v4/oa/access_token"
DEFAULT_MAP_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# OpenStreetMap's tile usage policy requires this credit on every map showing its tiles.
DEFAULT_MAP_TILE_ATTRIBUTION = "© OpenStreetMap contributors"


GEOCODERS = ("offline", "nominatim")
STREET_INDEX_FILE = "streets.json.gz"  # under DATA_DIR unless STREET_INDEX says otherwise


class SettingsError(ValueError):
    """A setting is present but unusable; the message says which and why."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default)
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name} must be a port between 1 and 65535, got {port}")
    return port


def _port_or_off(env: Mapping[str, str], name: str, default: int) -> int:
    """A port, or 0 for "off"."""
    return 0 if env.get(name, "").strip() == "0" else _port(env, name, default)


def _number(env: Mapping[str, str], name: str, default: float, fits: Callable[[float], bool], what: str) -> float:
    """The number `name`, `default` when unset; SettingsError unless it `fits` (`what` says how)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and fits(value)):
        raise SettingsError(f"{name} must be {what}, got {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, lambda value: value > 0, "a positive number of seconds")


def _choice(env: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: Tuple[str, ...]) -> Optional[str]:
    """A URL whose scheme is one of `schemes` (a prefix such as "postgresql" admits
    "postgresql+asyncpg"); a typo here would otherwise surface as a failure much later."""
    value = _opt(env, name)
    if value is None:
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme not in schemes or not (parts.netloc or scheme == "sqlite"):
        raise SettingsError(f"{name} must be a {' or '.join(schemes)} URL, got {_redact(value)!r}")
    return value


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _opt(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name, "").strip()
    return value or None


def _street_index(env: Mapping[str, str], data_dir: Path) -> Path:
    """STREET_INDEX, which must exist when set; unset: where `tools.import_osm` writes by default,
    which may not exist yet (the geocoder then works without street geometry)."""
    value = env.get("STREET_INDEX", "").strip()
    if not value:
        return data_dir / STREET_INDEX_FILE
    if not Path(value).is_file():
        raise SettingsError(f"STREET_INDEX must be a street index file (python -m tools.import_osm), "
                            f"got {value!r}, which does not exist")
    return Path(value)


def _list(env: Mapping[str, str], name: str) -> Tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _seconds_list(env: Mapping[str, str], name: str, default: Tuple[float, ...]) -> Tuple[float, ...]:
    """Comma-separated positive numbers of seconds, at least one."""
    parts = _list(env, name)
    if not parts:
        return default
    return tuple(_seconds({name: part}, name, 1.0) for part in parts)


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    """A number from 0 to 1 (a confidence, a share of examples)."""
    return _number(env, name, default, lambda value: 0 <= value <= 1, "a number from 0 to 1")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, got {value}")
    return value


def _fernet_key(env: Mapping[str, str], name: str) -> Optional[str]:
    """A Fernet key (32 bytes, URL-safe base64), as `python -c 'from cryptography.fernet import
    Fernet; print(Fernet.generate_key().decode())'` prints one."""
    value = _opt(env, name)
    if value is None:
        return None
    try:
        valid = len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        valid = False
    if not valid:
        raise SettingsError(f"{name} must be a Fernet key (32 bytes in URL-safe base64, 44 characters)")
    return value


def _tile_url(env: Mapping[str, str], name: str) -> Optional[str]:
    """A tile URL template with {z}, {x} and {y}; `off` for none (the map shows boundaries only)."""
    raw = env.get(name, "").strip()
    if not raw:
        return DEFAULT_MAP_TILE_URL
    if raw.lower() == "off":
        return None
    url = _url(env, name, ("http", "https"))
    if url is None or not all(part in url for part in ("{z}", "{x}", "{y}")):
        raise SettingsError(f"{name} must be an http(s) tile URL with {{z}}, {{x}} and {{y}}, or off")
    return url


def _origins(env: Mapping[str, str]) -> Tuple[str, ...]:
    """WEBCHAT_ORIGINS: web origins as browsers send them (`https://name[:port]`, nothing after)."""
    origins = []
    for origin in _list(env, "WEBCHAT_ORIGINS"):
        parts = urlsplit(origin.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise SettingsError(
                f"WEBCHAT_ORIGINS entries must be origins like https://phananh.example.vn, got {origin!r}"
            )
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(origins)


def _host_names(env: Mapping[str, str]) -> Tuple[str, ...]:
    """ALLOWED_HOSTS: bare names or addresses, as in a Host header without its port."""
    names = _list(env, "ALLOWED_HOSTS")
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?", name):
            raise SettingsError(f"ALLOWED_HOSTS entries must be host names without port or scheme, got {name!r}")
    return tuple(name.lower().strip("[]").rstrip(".") for name in names)


def _host_name(header: str) -> str:
    """The name in a Host header: lowercase, without its port, brackets or final dot."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:5005
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0].rstrip(".") if header.count(":") == 1 else header.rstrip(".")


def _agency_keys(env: Mapping[str, str]) -> Tuple[Tuple[str, str], ...]:
    """BACKEND_AGENCY_KEYS: `agency_id=key,...`. Messages name the entry by position and agency
    id, never the key. Whether each id is in the directory is the backend's to check at start
    (`backend.app.create_app`): only it reads agencies.yml."""
    entries = [part.strip() for part in env.get("BACKEND_AGENCY_KEYS", "").split(",") if part.strip()]
    if not entries:
        return ()
    pairs = []
    owner: dict = {}
    for number, entry in enumerate(entries, 1):
        agency, sep, key = (part.strip() for part in entry.partition("="))
        if not (sep and agency and key):
            which = f" ({agency}=…)" if sep and agency else ""
            raise SettingsError(
                f"BACKEND_AGENCY_KEYS entry {number}{which} must be agency_id=key (comma-separated entries)"
            )
        if owner.setdefault(key, agency) != agency:
            raise SettingsError(
                f"BACKEND_AGENCY_KEYS entry {number} gives {agency!r} the key of {owner[key]!r}: "
                "each agency needs its own key"
            )
        pairs.append((agency, key))
    return tuple(pairs)


def _telegram_api_base_url(env: Mapping[str, str]) -> str:
    url = _url(env, "TELEGRAM_API_BASE_URL", ("http", "https"))
    if url is None:
        return DEFAULT_TELEGRAM_API_BASE_URL
    url = url.rstrip("/")
    # The token is appended to this base, and files are served beside it under /file/bot<token>.
    if not url.endswith("/bot"):
        raise SettingsError(
            f"TELEGRAM_API_BASE_URL must end with /bot, like {DEFAULT_TELEGRAM_API_BASE_URL}, got {url!r}"
        )
    return url


def _telegram_webhook_secret(env: Mapping[str, str]) -> Optional[str]:
    secret = _opt(env, "TELEGRAM_WEBHOOK_SECRET")
    # setWebhook refuses any other secret, which would only show once the webhook is set.
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise SettingsError(
            "TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters A-Z a-z 0-9 _ - "
            "(for example the output of `openssl rand -hex 32`)"
        )
    return secret


def _unset(values: Mapping[str, Optional[str]]) -> Optional[str]:
    """Which of the variables in `values` are unset ("A and B are unset"); None if none is."""
    names = [name for name, value in values.items() if not value]
    if not names:
        return None
    if len(names) == 1:
        return f"{names[0]} is unset"
    return f"{', '.join(names[:-1])} and {names[-1]} are unset"


@dataclass(frozen=True)
class Settings:
    # Network
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    actions_port: int = 5055
    actions_url: Optional[str] = None  # where the Rasa server calls its actions; None: ACTIONS_PORT here
    backend_port: int = 8000
    rasa_api_token: Optional[str] = None

    # Where things live on disk
    data_dir: Path = PROJECT_ROOT / "data"
    models_dir: Path = PROJECT_ROOT / "models"

    # Routing backend (server side)
    database_url: Optional[str] = None  # None: SQLite file under data_dir
    backend_api_keys: Tuple[str, ...] = ()  # the assistant's: create, read, upload photos
    backend_operator_keys: Tuple[str, ...] = ()  # IOC operators: change any report's state
    backend_agency_keys: Tuple[Tuple[str, str], ...] = ()  # (agency_id, key): that agency's reports
    backend_public_url: Optional[str] = None  # base of photo URLs handed out; None: local URL

    # Routing backend (as the assistant sees it)
    backend_url: Optional[str] = None  # Open311 base; None: the local backend
    backend_api_key: Optional[str] = None
    backend_timeout_s: float = 10.0
    # Outbox (bot/outbox.py): waits after the 1st, 2nd... failure of a step; the last repeats
    outbox_retry_s: Tuple[float, ...] = (300.0, 1800.0)
    # Notifier (bot/notifier.py): how often it reads the Open311 server's updates feed
    notify_interval_s: float = 30.0
    # How long the outbox worker and the notifier wait for the Rasa server's HTTP API
    rasa_timeout_s: float = 10.0

    # Assistant stores; None: trackers in a SQLite file under data_dir, Rasa's in-process lock store
    tracker_store_url: Optional[str] = None
    lock_store_url: Optional[str] = None
    # The outbox, the notifier's notices and the followed reports (bot/local_store.py), shared by
    # every host; None: SQLite files under data_dir, one host only
    assistant_store_url: Optional[str] = None
    # With LOCK_STORE_URL: how soon a dead Rasa server's lock on a conversation is forgotten (a
    # living server renews its ticket while it waits or works: tools/rasa_server.py)
    lock_lifetime_s: int = 15
    actions_timeout_s: float = 60.0  # how long Rasa waits for a custom action

    # Geocoding: "offline" (shipped Huế data) or "nominatim" (needs internet)
    geocoder: str = GEOCODERS[0]
    # Streets with geometry (bot/streets.py), imported from an OSM extract; None or missing: names only
    street_index: Optional[Path] = None

    # Telegram
    telegram_token: Optional[str] = None
    telegram_webhook_secret: Optional[str] = None
    telegram_api_base_url: str = DEFAULT_TELEGRAM_API_BASE_URL
    telegram_public_url: Optional[str] = None  # https base where Telegram can reach /webhooks/...

    # Zalo Official Account
    zalo_app_id: Optional[str] = None
    zalo_oa_secret_key: Optional[str] = None
    zalo_access_token: Optional[str] = None
    zalo_refresh_token: Optional[str] = None
    zalo_app_secret: Optional[str] = None
    zalo_api_base_url: str = DEFAULT_ZALO_API_BASE_URL
    zalo_oauth_url: str = DEFAULT_ZALO_OAUTH_URL

    # Hostile input (channels/limits.py, tools/rasa_server.py, backend)
    webchat_origins: Tuple[str, ...] = ()  # other sites whose pages may call the web chat (CORS)
    allowed_hosts: Tuple[str, ...] = ()  # Host names served besides the local ones (`served_hosts`)
    sender_messages_per_minute: int = 20
    sender_photos_per_hour: int = 30
    backend_uploads_per_hour: int = 600  # photos a client address may upload to the backend

    # Report lifecycle (backend): "not fixed" or a low rating this soon after resolution reopens it
    reopen_window_days: int = 7
    reopen_limit: int = 1  # times one report may be reopened

    # Console of operators and agencies (backend/console/)
    console_secret_key: Optional[str] = None  # Fernet key of the session cookies; None: kept under data_dir
    console_idle_minutes: int = 480  # a console session unused this long is over
    # Maps of the console and the web chat
    map_tile_url: Optional[str] = DEFAULT_MAP_TILE_URL  # base map tiles; None: boundaries and names only
    map_tile_attribution: str = DEFAULT_MAP_TILE_ATTRIBUTION  # credit shown on the map, as the tiles' terms ask

    # Rasa servers as the other processes reach them. RASA_URL: where the workers (outbox,
    # notifier) call Rasa's API (one replica, or the load balancer); None: 127.0.0.1:RASA_PORT.
    # RASA_REPLICA_URLS: every replica, each of which loads a model that goes live.
    rasa_url: Optional[str] = None
    rasa_replica_urls: Tuple[str, ...] = ()

    # Where the workers serve /metrics for Prometheus (bot/metrics.py); 0: not served
    outbox_metrics_port: int = 9105
    notifier_metrics_port: int = 9106

    # Admins' service (bot/admin/): inbox, labelling, retraining; the console reaches it over HTTP
    admin_port: int = 5056
    admin_url: Optional[str] = None  # None: http://127.0.0.1:ADMIN_PORT
    admin_api_token: Optional[str] = None  # shared by the console and the admin service
    # The training data, configuration and held-out set the admins label and train from
    training_dir: Path = PROJECT_ROOT
    # A message whose intent or category is less sure than this goes to the admins' inbox
    inbox_min_confidence: float = 0.5
    # How far below the live model a new one may score (intent, category accuracy) and still go live
    retrain_margin: float = 0.01

    # Derived values -------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'backend.sqlite3'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def effective_backend_api_keys(self) -> Tuple[str, ...]:
        return self.backend_api_keys or (DEV_API_KEY,)

    @property
    def development_keys(self) -> bool:
        """No backend key of any role is set: a developer's machine, where the public development
        keys stand in. Once one role has real keys, a forgotten other role gets none."""
        return not (self.backend_api_keys or self.backend_operator_keys or self.backend_agency_keys)

    @property
    def effective_backend_operator_keys(self) -> Tuple[str, ...]:
        if self.backend_operator_keys or not self.development_keys:
            return self.backend_operator_keys
        return (DEV_OPERATOR_KEY,)

    @property
    def effective_backend_url(self) -> str:
        url = self.backend_url or f"http://127.0.0.1:{self.backend_port}/open311/v2"
        return url.rstrip("/")

    @property
    def effective_backend_api_key(self) -> str:
        return self.backend_api_key or self.effective_backend_api_keys[0]

    @property
    def effective_backend_public_url(self) -> str:
        return (self.backend_public_url or f"http://127.0.0.1:{self.backend_port}").rstrip("/")

    @property
    def effective_rasa_url(self) -> str:
        return (self.rasa_url or f"http://127.0.0.1:{self.rasa_port}").rstrip("/")

    @property
    def effective_rasa_replica_urls(self) -> Tuple[str, ...]:
        return tuple(url.rstrip("/") for url in self.rasa_replica_urls) or (self.effective_rasa_url,)

    @property
    def effective_admin_url(self) -> str:
        return (self.admin_url or f"http://127.0.0.1:{self.admin_port}").rstrip("/")

    @property
    def action_endpoint_url(self) -> str:
        return self.actions_url or f"http://127.0.0.1:{self.actions_port}/webhook"

    def telegram_off_reason(self) -> Optional[str]:
        """Why the Telegram channel stays off, or None when it starts. Values that are set but
        unusable never get here: `load_settings` refuses them."""
        # Without the secret anyone could post fake updates to the webhook.
        return _unset({"TELEGRAM_TOKEN": self.telegram_token,
                       "TELEGRAM_WEBHOOK_SECRET": self.telegram_webhook_secret})

    def zalo_off_reason(self) -> Optional[str]:
        """Why the Zalo channel stays off, or None when it starts."""
        return _unset({"ZALO_APP_ID": self.zalo_app_id, "ZALO_OA_SECRET_KEY": self.zalo_oa_secret_key,
                       "ZALO_ACCESS_TOKEN": self.zalo_access_token})

    @property
    def served_hosts(self) -> Tuple[str, ...]:
        """The Host names the servers answer: the local ones, HOST, the hosts of the public URLs
        and ALLOWED_HOSTS. Any other is refused, so that a web page cannot reach a local server
        through a name of its own that resolves to 127.0.0.1 (DNS rebinding)."""
        public = [urlsplit(url).hostname for url in (self.telegram_public_url, self.backend_public_url) if url]
        names = ("127.0.0.1", "localhost", "::1", self.host.lower(), *filter(None, public), *self.allowed_hosts)
        return tuple(dict.fromkeys(names))

    def serves_host(self, host_header: Optional[str]) -> bool:
        """Whether a request's Host header names this service (`served_hosts`)."""
        return bool(host_header) and _host_name(host_header or "") in self.served_hosts

    def check_exposure(self) -> None:
        """Refuse to expose the unauthenticated HTTP API beyond this machine."""
        if self.host not in ("127.0.0.1", "localhost", "::1") and not self.rasa_api_token:
            raise SettingsError(
                f"HOST={self.host} would expose Rasa's HTTP API without a token: "
                "set RASA_API_TOKEN, or leave HOST unset to stay on 127.0.0.1"
            )


def _distinct_ports(settings: Settings) -> None:
    ports = {"RASA_PORT": settings.rasa_port, "ACTIONS_PORT": settings.actions_port,
             "BACKEND_PORT": settings.backend_port, "ADMIN_PORT": settings.admin_port,
             **{name: port for name, port in (("OUTBOX_METRICS_PORT", settings.outbox_metrics_port),
                                              ("NOTIFIER_METRICS_PORT", settings.notifier_metrics_port)) if port}}
    for name, port in ports.items():
        same = [other for other, value in ports.items() if value == port and other != name]
        if same:
            raise SettingsError(f"{name} and {same[0]} are both {port}: each process needs its own port")


def _lock_outlives_backend_calls(settings: Settings) -> None:
    # A lock that expires while its message waits for the backend lets the citizen's next message
    # run at the same time on the same conversation.
    if settings.lock_store_url and settings.lock_lifetime_s <= settings.backend_timeout_s:
        raise SettingsError(f"LOCK_LIFETIME_S ({settings.lock_lifetime_s}) must be longer than "
                            f"BACKEND_TIMEOUT_S ({settings.backend_timeout_s:g})")


def _actions_outlive_backend_calls(settings: Settings) -> None:
    # Submitting a report may try the backend three times (bot/open311_client.py): Rasa must not
    # give up on the action, and tell the citizen the system is busy, while it still waits.
    if settings.actions_timeout_s <= 3 * settings.backend_timeout_s:
        raise SettingsError(f"ACTIONS_TIMEOUT_S ({settings.actions_timeout_s:g}) must be longer than three times "
                            f"BACKEND_TIMEOUT_S ({settings.backend_timeout_s:g})")


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """The settings in `env` (default: the environment), each checked: SettingsError names the
    first unusable one, so a process refuses to start instead of failing later."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("DATA_DIR") or PROJECT_ROOT / "data")
    settings = Settings(
        host=env.get("HOST", "").strip() or "127.0.0.1",
        rasa_port=_port(env, "RASA_PORT", 5005),
        actions_port=_port(env, "ACTIONS_PORT", 5055),
        actions_url=_url(env, "ACTIONS_URL", ("http", "https")),
        backend_port=_port(env, "BACKEND_PORT", 8000),
        rasa_api_token=_opt(env, "RASA_API_TOKEN"),
        data_dir=data_dir,
        models_dir=Path(env.get("MODELS_DIR") or PROJECT_ROOT / "models"),
        database_url=_url(env, "DATABASE_URL", ("postgresql", "postgres", "sqlite")),
        backend_api_keys=_list(env, "BACKEND_API_KEYS"),
        backend_operator_keys=_list(env, "BACKEND_OPERATOR_KEYS"),
        backend_agency_keys=_agency_keys(env),
        backend_public_url=_url(env, "BACKEND_PUBLIC_URL", ("http", "https")),
        backend_url=_url(env, "BACKEND_URL", ("http", "https")),
        backend_api_key=_opt(env, "BACKEND_API_KEY"),
        backend_timeout_s=_seconds(env, "BACKEND_TIMEOUT_S", 10.0),
        outbox_retry_s=_seconds_list(env, "OUTBOX_RETRY_S", (300.0, 1800.0)),
        notify_interval_s=_seconds(env, "NOTIFY_INTERVAL_S", 30.0),
        rasa_timeout_s=_seconds(env, "RASA_TIMEOUT_S", 10.0),
        tracker_store_url=_url(env, "TRACKER_STORE_URL", ("postgresql", "postgres", "sqlite")),
        lock_store_url=_url(env, "LOCK_STORE_URL", ("redis", "rediss")),
        assistant_store_url=_url(env, "ASSISTANT_STORE_URL", ("postgresql",)),
        lock_lifetime_s=_positive_int(env, "LOCK_LIFETIME_S", 15),
        actions_timeout_s=_seconds(env, "ACTIONS_TIMEOUT_S", 60.0),
        geocoder=_choice(env, "GEOCODER", GEOCODERS),
        street_index=_street_index(env, data_dir),
        telegram_token=_opt(env, "TELEGRAM_TOKEN"),
        telegram_webhook_secret=_telegram_webhook_secret(env),
        telegram_api_base_url=_telegram_api_base_url(env),
        # Telegram delivers webhooks over https only.
        telegram_public_url=_url(env, "TELEGRAM_PUBLIC_URL", ("https",)),
        zalo_app_id=_opt(env, "ZALO_APP_ID"),
        zalo_oa_secret_key=_opt(env, "ZALO_OA_SECRET_KEY"),
        zalo_access_token=_opt(env, "ZALO_ACCESS_TOKEN"),
        zalo_refresh_token=_opt(env, "ZALO_REFRESH_TOKEN"),
        zalo_app_secret=_opt(env, "ZALO_APP_SECRET"),
        zalo_api_base_url=_url(env, "ZALO_API_BASE_URL", ("http", "https")) or DEFAULT_ZALO_API_BASE_URL,
        zalo_oauth_url=_url(env, "ZALO_OAUTH_URL", ("http", "https")) or DEFAULT_ZALO_OAUTH_URL,
        webchat_origins=_origins(env),
        allowed_hosts=_host_names(env),
        sender_messages_per_minute=_positive_int(env, "SENDER_MESSAGES_PER_MINUTE", 20),
        sender_photos_per_hour=_positive_int(env, "SENDER_PHOTOS_PER_HOUR", 30),
        backend_uploads_per_hour=_positive_int(env, "BACKEND_UPLOADS_PER_HOUR", 600),
        reopen_window_days=_positive_int(env, "REOPEN_WINDOW_DAYS", 7),
        reopen_limit=_positive_int(env, "REOPEN_LIMIT", 1),
        console_secret_key=_fernet_key(env, "CONSOLE_SECRET_KEY"),
        console_idle_minutes=_positive_int(env, "CONSOLE_IDLE_MINUTES", 480),
        map_tile_url=_tile_url(env, "MAP_TILE_URL"),
        map_tile_attribution=env.get("MAP_TILE_ATTRIBUTION", "").strip() or DEFAULT_MAP_TILE_ATTRIBUTION,
        rasa_url=_url(env, "RASA_URL", ("http", "https")),
        rasa_replica_urls=tuple(_url({"RASA_REPLICA_URLS": url}, "RASA_REPLICA_URLS", ("http", "https")) or ""
                                for url in _list(env, "RASA_REPLICA_URLS")),
        admin_port=_port(env, "ADMIN_PORT", 5056),
        outbox_metrics_port=_port_or_off(env, "OUTBOX_METRICS_PORT", 9105),
        notifier_metrics_port=_port_or_off(env, "NOTIFIER_METRICS_PORT", 9106),
        admin_url=_url(env, "ADMIN_URL", ("http", "https")),
        admin_api_token=_opt(env, "ADMIN_API_TOKEN"),
        training_dir=Path(env.get("TRAINING_DIR") or PROJECT_ROOT),
        inbox_min_confidence=_share(env, "INBOX_MIN_CONFIDENCE", 0.5),
        retrain_margin=_share(env, "RETRAIN_MARGIN", 0.01),
    )
    _distinct_ports(settings)
    _lock_outlives_backend_calls(settings)
    _actions_outlive_backend_calls(settings)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def start_process() -> Settings:
    """What each process's `main` does first: log lines in the project's one format, then the
    settings; an unusable one ends the process with status 2 and its name, without a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
