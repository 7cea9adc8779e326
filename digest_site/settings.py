"""The only settings file.

Every setting reads the environment through a typed helper with an embedded default,
so that with nothing set the project runs with no services at all: SQLite under var/,
Celery on a filesystem broker under var/, and mail into the local catcher on port 1025.
PostgreSQL, Redis and SMTP/ESP are switched on by their variables (see .env.example).
"""

import datetime
import ipaddress
import os
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from kombu import Queue

from digest_site.fsbroker import transport_options as filesystem_broker_options

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value in ("True", "true", "1", "yes"):
        return True
    if value in ("False", "false", "0", "no"):
        return False
    raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of IP addresses or networks (CIDR), each checked here."""
    values = env_list(name, default)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks, not {value!r}") from None
    return values


def env_admins(name: str) -> list[tuple[str, str]]:
    """ADMINS="Name <a@example.org>, b@example.org": (name, address) pairs, each address checked.

    Commas inside a quoted name ("Kim, Ji-woo" <kim@example.org>) are part of the name.
    """
    value = env_str(name).strip()
    if not value:
        return []
    pairs = [pair for pair in getaddresses([value]) if any(pair)]  # a trailing comma is no one
    if not pairs or any(not address or "@" not in address for _, address in pairs):
        raise ImproperlyConfigured(
            f'{name} must be a comma-separated list like "Name <a@example.org>, b@example.org", not {value!r}'
        )
    for _, address in pairs:
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"{name} holds {address!r}, which is not an email address") from None
    return [(name_ or address, address) for name_, address in pairs]


def env_time(name: str, default: str) -> datetime.time:
    value = env_str(name, default)
    try:
        return datetime.time.fromisoformat(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a time like 07:00, not {value!r}") from None


VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# DEBUG is off unless asked for (`make run`, the test suite and Procfile.dev set DEBUG=True):
# a deployment that forgets it must not serve debug pages. Off, the app needs its own
# SECRET_KEY and ALLOWED_HOSTS, or it refuses to start.
DEBUG = env_bool("DEBUG", False)
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not DEBUG and not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG=False (generate one with: python -c "
        '"import secrets; print(secrets.token_urlsafe(50))"); for local development set DEBUG=True'
    )
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is a public development key, which lets anyone sign links and sessions: "
        "set a long random SECRET_KEY when DEBUG=False"
    )
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY
# Old keys stay valid for signed links (unsubscribe must work across a rotation).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=False")

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env_str("SITE_NAME", "Research Digest")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "anymail",
    "reversion",
    "axes",
    "csp",
    "newsletters",
    "subscribers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "digest_site.contentpolicy.ContentPolicyMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "digest_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "digest_site.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "digest_site.wsgi.application"

# SQLite in WAL mode with a busy timeout and IMMEDIATE transactions, so web and worker
# writing at once wait for each other instead of failing with "database is locked".
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A shared cache (Redis when REDIS_URL or CACHE_URL is set, else the database) so that
# counters such as rate limits hold across processes.
CACHE_URL = env_str("CACHE_URL", env_str("REDIS_URL"))
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}
    }

# django-axes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ko")
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Uploads ----------------------------------------------------------------------
# No uploaded file is kept past this many bytes (digest_site/uploads.py); each form then holds
# it to its own limit (a day's text: 500 KB; a subscriber CSV: this). In bytes.
FILE_UPLOAD_MAX_BYTES = env_int("FILE_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "digest_site.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Mail -------------------------------------------------------------------------
# Default: SMTP to the local catcher (`make run` starts one on 127.0.0.1:1025 with a web
# UI on :1080). EMAIL_BACKEND may name any django-anymail backend for an ESP, configured
# through ANYMAIL_* variables.
# Django's own SMTP backend name means ours (digest_site/smtp.py): the same, with the server's
# certificate verified against EMAIL_SSL_CAFILE too.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "digest_site.smtp.EmailBackend")
if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
    EMAIL_BACKEND = "digest_site.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
# TLS (SMTPS or STARTTLS) always verifies the server's certificate and name. A CA bundle to
# trust instead of the system's (a private relay's own CA), and an optional client certificate.
EMAIL_SSL_CAFILE = env_str("EMAIL_SSL_CAFILE")
EMAIL_SSL_CERTFILE = env_str("EMAIL_SSL_CERTFILE")
EMAIL_SSL_KEYFILE = env_str("EMAIL_SSL_KEYFILE")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Research Digest <digest@localhost>")
# Empty means DEFAULT_FROM_EMAIL (docker compose passes the variable empty when .env leaves it out).
SERVER_EMAIL = env_str("SERVER_EMAIL") or DEFAULT_FROM_EMAIL
# Staff mailed by mail_admins: missed digests, sends paused because they could not go on,
# and server errors when DEBUG is off. Empty: nobody (a system check warns with DEBUG off).
ADMINS = env_admins("ADMINS")
# The name this site greets SMTP servers with (EHLO) and the right-hand side of every
# Message-ID: the site's own host name, never "localhost" (digest_site/checks.py).
EMAIL_HELO_NAME = env_str("EMAIL_HELO_NAME") or urlsplit(SITE_URL).hostname or "localhost"
# Mail to staff about a send that stopped goes through this backend when set (e.g. an ESP's,
# or the console's into the logs): the SMTP server that failed the send cannot carry the alert.
ALERT_EMAIL_BACKEND = env_str("ALERT_EMAIL_BACKEND")
MAIL_CATCHER_URL = env_str("MAIL_CATCHER_URL", "http://127.0.0.1:1080" if DEBUG else "")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")
}

# --- The digest ------------------------------------------------------------------
DIGEST_SEND_TIME = env_time("DIGEST_SEND_TIME", "07:00")
# A scheduled digest later than this (beat stopped, a long outage) is not sent automatically:
# it becomes "missed", staff are mailed, and an editor may send it by hand. In seconds.
DIGEST_MAX_LATENESS = datetime.timedelta(seconds=env_int("DIGEST_MAX_LATENESS", 6 * 3600))
# How often beat looks for digests whose time has come: a digest starts at most this late
# (each look is one indexed query). It was a minute: a digest due at 07:00:01 left at 07:01.
DIGEST_DUE_CHECK_SECONDS = env_int("DIGEST_DUE_CHECK_SECONDS", 5)
ARXIV_API_URL = env_str("ARXIV_API_URL", "https://export.arxiv.org/api/query")
ARXIV_TIMEOUT = env_float("ARXIV_TIMEOUT", 10.0)
# Hugging Face Daily Papers (import_hf_daily, "Add from Hugging Face"): the API and its timeout.
HF_DAILY_PAPERS_URL = env_str("HF_DAILY_PAPERS_URL", "https://huggingface.co/api/daily_papers")
HF_TIMEOUT = env_float("HF_TIMEOUT", 10.0)

# --- Subscribers -----------------------------------------------------------------
# Confirmation links expire after 7 days; unsubscribe and preference links never do.
SUBSCRIBERS_CONFIRM_MAX_AGE = env_int("SUBSCRIBERS_CONFIRM_MAX_AGE", 7 * 24 * 3600)
# At most one confirmation email per address per this many seconds.
SUBSCRIBERS_CONFIRM_INTERVAL = env_int("SUBSCRIBERS_CONFIRM_INTERVAL", 600)
# The subscribe form accepts at most this many POSTs per client IP per window (shared table).
SUBSCRIBE_RATE_LIMIT = env_int("SUBSCRIBE_RATE_LIMIT", 10)
SUBSCRIBE_RATE_WINDOW = env_int("SUBSCRIBE_RATE_WINDOW", 3600)
# The address in List-Unsubscribe's mailto: (its inbound mail reaches anymail's inbound webhook).
UNSUBSCRIBE_MAILTO = env_str("UNSUBSCRIBE_MAILTO", "unsubscribe@localhost")

# --- Delivery (newsletters/delivery/) -------------------------------------------
# Readers per send_batch task; each batch shares one SMTP (or ESP) connection.
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 100)
# Seconds a batch task may run at all (its hard time limit) and a claim may last however
# alive its heartbeat: a backstop. At least 3 × EMAIL_TIMEOUT (digest_site/checks.py).
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 300)
# A batch takes no new message after this many seconds and gives the rest back to the queue,
# so a worker told to stop finishes within its stop grace period.
DELIVERY_BATCH_SECONDS = env_int("DELIVERY_BATCH_SECONDS", 20)
# A sending worker stamps its claimed rows this often; rows silent for three beats are given
# back by the sweep (a killed worker costs seconds, not the lease).
DELIVERY_HEARTBEAT_SECONDS = env_float("DELIVERY_HEARTBEAT_SECONDS", 5.0)
# Seconds the deployment gives a worker between SIGTERM and SIGKILL (compose's
# stop_grace_period, systemd's TimeoutStopSec): a batch, one SMTP timeout and the ledger
# retries must fit in it (digest_site/checks.py).
WORKER_STOP_GRACE_SECONDS = env_int("WORKER_STOP_GRACE_SECONDS", 60)
# Attempts per reader before a transient failure (4xx, disconnect, timeout) becomes final.
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 5)
# Exponential backoff with jitter between attempts: base * 2**(attempt-1), at most the max.
DELIVERY_RETRY_BASE_SECONDS = env_float("DELIVERY_RETRY_BASE_SECONDS", 60.0)
DELIVERY_RETRY_MAX_SECONDS = env_float("DELIVERY_RETRY_MAX_SECONDS", 1800.0)
# Messages per second across all workers together (0: no limit); counted in Redis when the
# broker is Redis, else in a database row.
DELIVERY_RATE_LIMIT = env_float("DELIVERY_RATE_LIMIT", 0.0)
# How often beat runs the sweep (dead workers' rows, lost tasks): recovery waits about this.
DELIVERY_SWEEP_SECONDS = env_int("DELIVERY_SWEEP_SECONDS", 10)
# Configuration-class failures (TLS, login, refused, unknown host) in a row that pause a send
# already under way; at its first connections (nothing delivered yet) the first one does.
DELIVERY_PAUSE_AFTER_FAILURES = env_int("DELIVERY_PAUSE_AFTER_FAILURES", 3)
# Digests in a row whose delivery to an address failed transiently before it is suppressed.
SOFT_BOUNCE_LIMIT = env_int("SOFT_BOUNCE_LIMIT", 3)
# Complaints over messages sent for one digest: from the warning rate the send page warns;
# from the pause rate the next scheduled digest is paused and staff are mailed.
COMPLAINT_WARN_RATE = env_float("COMPLAINT_WARN_RATE", 0.001)
COMPLAINT_PAUSE_RATE = env_float("COMPLAINT_PAUSE_RATE", 0.003)

# --- Celery ----------------------------------------------------------------------
# With no CELERY_BROKER_URL, a filesystem broker under var/ lets the worker and beat run
# with no external service; production sets redis://.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Seconds an idle worker waits before looking at the broker folder again. A worker that
    # just finished a task is idle too (prefetch 1), so this is paid per task: kombu's 1 s
    # default held two pool processes to about 2 tasks/s. A look is one listing of the folder.
    CELERY_FILESYSTEM_POLLING_SECONDS = env_float("CELERY_FILESYSTEM_POLLING_SECONDS", 0.1)
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        VAR_DIR / "broker", polling_interval=CELERY_FILESYSTEM_POLLING_SECONDS
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task not acknowledged within this time is given to another worker. A send_batch
    # stops itself at half the delivery lease, far below this.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
# Two kinds of work, two queues: transactional mail (the confirmation a reader waits for) and
# the digest (planning and batches, long and many). A worker without -Q consumes all three
# queues, transactional first; a burst of sign-ups cannot delay the digest's start by more
# than the tasks ahead of it in its own queue, and a digest backlog never holds a confirmation
# behind thousands of batches. Procfile.dev and docker/entrypoint.sh name the queues explicitly.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("transactional"), Queue("celery"), Queue("digest"))
CELERY_TASK_ROUTES = {
    "subscribers.tasks.send_confirmation": {"queue": "transactional"},
    "newsletters.tasks.start_send": {"queue": "digest"},
    "newsletters.tasks.plan_send": {"queue": "digest"},
    "newsletters.tasks.send_batch": {"queue": "digest"},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {
    # Every DIGEST_DUE_CHECK_SECONDS: start the digests whose scheduled time has come.
    "send-due-digests": {
        "task": "newsletters.tasks.send_due_digests",
        "schedule": float(DIGEST_DUE_CHECK_SECONDS),
    },
    # Every DELIVERY_SWEEP_SECONDS: re-queue rows of killed workers and lost tasks, finish sends.
    "sweep-deliveries": {
        "task": "newsletters.tasks.sweep_deliveries",
        "schedule": float(DELIVERY_SWEEP_SECONDS),
    },
    # Daily: forget subscribe-form rate-limit counters idle for a day.
    "purge-rate-limit-counters": {"task": "subscribers.tasks.purge_rate_limit_counters", "schedule": 86400.0},
}

# --- Security --------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Peers whose X-Forwarded-For is believed (digest_site/clientip.py): the reverse proxies in
# front of the app, as addresses or networks. Empty: the client is always REMOTE_ADDR.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Load balancers and container health checks probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (django-csp; digest_site/contentpolicy.py relaxes
# inline scripts and styles for /admin/ only). Public pages load scripts and styles from
# /static/ alone and may not be framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Login throttling (django-axes) ---------------------------------------------------
# After LOGIN_FAILURE_LIMIT wrong passwords from one client IP, or for one username (from
# anywhere), logins from that IP / for that username are refused for LOGIN_LOCKOUT_MINUTES;
# attempts are recorded in axes' tables and each lockout is logged (logger "axes").
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "digest_site.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "digest_site.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True

# --- Health (/healthz, digest_site/health.py) ---------------------------------------
# Seconds to wait for Celery workers to answer a ping, and to remember the answer per process
# (so a load balancer polling every second costs one ping per this many seconds).
HEALTHZ_WORKER_TIMEOUT = env_float("HEALTHZ_WORKER_TIMEOUT", 1.0)
HEALTHZ_WORKER_CACHE_SECONDS = env_float("HEALTHZ_WORKER_CACHE_SECONDS", 10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
