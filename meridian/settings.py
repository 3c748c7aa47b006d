"""Meridian settings: configured by environment variables only (see docs/operators/configuration.md).

Production is the default: DEBUG off, secure cookies, HSTS, SSL redirect. `make run` serves plain HTTP on
127.0.0.1 and so sets MERIDIAN_HTTPS=false; nothing else differs between a laptop and a cluster.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("MERIDIAN_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
HTTPS = env.bool("MERIDIAN_HTTPS", default=True)
TESTING = env.bool("MERIDIAN_TESTING", default="pytest" in sys.modules)


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a single machine, one generated once and kept in var/."""
    value: str | None = env.str("SECRET_KEY", default=None)
    if value:
        return value
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_tables2",
    "huey.contrib.djhuey",
    "csp",
    "meridian.core",
    "meridian.cmdb",
    "meridian.changes",
    "meridian.portfolio",
    "meridian.service_levels",
    "meridian.tickets",
    "meridian.integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "meridian.core.middleware.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "meridian.core.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "meridian.urls"
WSGI_APPLICATION = "meridian.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "meridian" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "meridian.core.context_processors.navigation",
            ],
        },
    },
]

# --- database: SQLite (WAL) by default, PostgreSQL when DATABASE_URL says so -----------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'meridian.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # BEGIN IMMEDIATE: writers queue on the lock instead of failing half-way (numbering, audit chain)
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    )
    # tests use a real file (WAL, several connections) rather than a shared in-memory database
    # (one per test run, so that two runs on one machine never share it)
    _test_db = str(Path(tempfile.gettempdir()) / f"meridian-test-{os.getpid()}.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": env.str("MERIDIAN_TEST_SQLITE", default=_test_db)}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD_RESET_TIMEOUT = 3600  # one hour; Django's tokens are single-use (they hash the password and last login)

# --- cache: Redis when REDIS_URL is set, else the database (shared by all processes on one machine) --------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "meridian_cache"}}

# --- background work: Huey (SQLite file on one machine, Redis when REDIS_URL is set) ------------------------
HUEY_IMMEDIATE = env.bool("HUEY_IMMEDIATE", default=TESTING)
if REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "meridian", "url": REDIS_URL, "immediate": HUEY_IMMEDIATE}
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "meridian",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
    }
HUEY["consumer"] = {"workers": env.int("HUEY_WORKERS", default=2), "worker_type": "thread"}
# a re-timing of many SLA clocks after a calendar edit is cut into this many tasks, shared by the worker processes
SLA_RETIME_PARTS = env.int("SLA_RETIME_PARTS", default=4)

# --- audit trail -------------------------------------------------------------------------------------------------
# the chain's head is written here after every successful check, and the next check compares against it (a file
# outside the database: best on storage the database's administrators cannot rewrite). Empty: the log only.
AUDIT_WITNESS_FILE = env.str("AUDIT_WITNESS_FILE", default="" if TESTING else str(VAR_DIR / "audit-witness"))
# an event written but still not chained after this many seconds is reported by the checks: the chainer is not running
AUDIT_CHAIN_MAX_DELAY = env.int("AUDIT_CHAIN_MAX_DELAY", default=300)

# --- i18n / time ----------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch"), ("fr", "Français")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static files: served by WhiteNoise, front-end packages copied from node_modules by `make assets` --------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "meridian" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # attachment files (core.attachments), read and written through the storage API only: see "Attachments" below
    "attachments": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(
                Path(tempfile.gettempdir()) / f"meridian-test-attachments-{os.getpid()}"
                if TESTING
                else Path(env.str("MERIDIAN_ATTACHMENT_DIR", default=str(VAR_DIR / "attachments")))
            ),
            "base_url": None,  # never served by URL: only through the authorised views
            "file_permissions_mode": 0o640,
        },
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- attachments ---------------------------------------------------------------------------------------------
# An S3-compatible object store instead of the file system (web nodes then keep nothing on disk): install the
# `s3` extra (django-storages with boto3) and set MERIDIAN_ATTACHMENT_STORAGE=s3 with the AWS_* settings below.
if env.str("MERIDIAN_ATTACHMENT_STORAGE", default="filesystem") == "s3":
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env.str("AWS_LOCATION", default="attachments"),
            "default_acl": "private",
            "querystring_auth": True,  # the bucket is private; Meridian streams files through its own views
            "file_overwrite": False,
        },
    }
MB = 1024 * 1024
# largest file, and largest sum of the files of one record, in bytes (a type's `Attachments(...)` may set lower)
MERIDIAN_ATTACHMENT_MAX_FILE_SIZE = env.int("MERIDIAN_ATTACHMENT_MAX_FILE_SIZE", default=25 * MB)
MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE = env.int("MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE", default=250 * MB)
# largest upload request (several files at once), refused with 413 before it is read
MERIDIAN_ATTACHMENT_MAX_UPLOAD = env.int("MERIDIAN_ATTACHMENT_MAX_UPLOAD", default=100 * MB)
# content types (detected from the bytes) and file name endings that are never accepted
MERIDIAN_ATTACHMENT_REFUSED_TYPES = env.list(
    "MERIDIAN_ATTACHMENT_REFUSED_TYPES",
    default=[
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/javascript",
        "text/javascript",
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-pie-executable",
        "application/x-sharedlib",
        "application/x-mach-binary",
        "application/x-msi",
        "application/java-archive",
        "application/x-shockwave-flash",
        "text/x-shellscript",
        "text/x-msdos-batch",
        "text/x-script.python",
        "text/x-perl",
        "text/x-php",
        "text/x-ruby",
        "text/x-tcl",
        "text/x-awk",
    ],
)
MERIDIAN_ATTACHMENT_REFUSED_EXTENSIONS = env.list(
    "MERIDIAN_ATTACHMENT_REFUSED_EXTENSIONS",
    default=[
        *("exe", "dll", "com", "scr", "msi", "msp", "cpl", "sys", "bat", "cmd", "ps1", "psm1", "vbs", "vbe"),
        *("js", "mjs", "jse", "wsf", "wsh", "hta", "html", "htm", "xhtml", "shtml", "mht", "svg", "svgz"),
        *("sh", "bash", "zsh", "csh", "php", "phtml", "py", "pyc", "pl", "rb", "jar", "apk", "app", "lnk", "reg"),
    ],
)

# --- mail -----------------------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="meridian@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # seconds; below notifications.SENDING_TIMEOUT
# how long the author of a comment may still edit or delete it, in minutes (`core.conversation`); a type's
# `Conversation(edit_minutes=...)` may set its own
MERIDIAN_COMMENT_EDIT_MINUTES = env.int("MERIDIAN_COMMENT_EDIT_MINUTES", default=30)
# tickets: a resolved ticket may be reopened this many days after its resolution, and closes by itself after
# MERIDIAN_TICKET_AUTOCLOSE_DAYS unless the customer confirms (or reopens) it first
MERIDIAN_TICKET_REOPEN_DAYS = env.int("MERIDIAN_TICKET_REOPEN_DAYS", default=10)
MERIDIAN_TICKET_AUTOCLOSE_DAYS = env.int("MERIDIAN_TICKET_AUTOCLOSE_DAYS", default=5)
# the demo's month of tickets (`tickets.demo`): 1 is about 230 tickets; 0 (the tests of other apps, which load the
# demo for its customers and CIs) none
MERIDIAN_DEMO_TICKETS = env.float("MERIDIAN_DEMO_TICKETS", default=0.0 if TESTING else 1.0)
# top management: the addresses told when a major incident is declared (comma-separated)
MERIDIAN_MAJOR_INCIDENT_NOTIFY = env.list("MERIDIAN_MAJOR_INCIDENT_NOTIFY", default=[])
MERIDIAN_BASE_URL = env.str("MERIDIAN_BASE_URL", default="http://127.0.0.1:8000")

# mail threading and inbound mail (`integrations.inbound`, `meridian mail ingest`): the domain of the Message-IDs
# Meridian writes (and of the X-Meridian-Loop header); the addresses it receives at (mail from them is a loop);
# Reply-To of notifications; at most RATE_LIMIT messages from one sender in RATE_WINDOW minutes (more: a loop);
# what to do with mail from an address no person has (`refuse` or `create`); where failed messages' bytes are kept
MERIDIAN_MAIL_DOMAIN = env.str("MERIDIAN_MAIL_DOMAIN", default=DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost")
MERIDIAN_MAIL_ADDRESSES = env.list("MERIDIAN_MAIL_ADDRESSES", default=[])
MERIDIAN_MAIL_REPLY_TO = env.str("MERIDIAN_MAIL_REPLY_TO", default="")
MERIDIAN_MAIL_RATE_LIMIT = env.int("MERIDIAN_MAIL_RATE_LIMIT", default=30)
MERIDIAN_MAIL_RATE_WINDOW = env.int("MERIDIAN_MAIL_RATE_WINDOW", default=60)
MERIDIAN_MAIL_UNKNOWN_SENDERS = env.str("MERIDIAN_MAIL_UNKNOWN_SENDERS", default="refuse")
MERIDIAN_MAIL_FAILED_DIR = env.str("MERIDIAN_MAIL_FAILED_DIR", default="")
# `meridian mail ingest --imap`: the mailbox polled (implicit TLS unless MERIDIAN_IMAP_SSL=false), every INTERVAL s
MERIDIAN_IMAP_HOST = env.str("MERIDIAN_IMAP_HOST", default="")
MERIDIAN_IMAP_PORT = env.int("MERIDIAN_IMAP_PORT", default=993)
MERIDIAN_IMAP_USER = env.str("MERIDIAN_IMAP_USER", default="")
MERIDIAN_IMAP_PASSWORD = env.str("MERIDIAN_IMAP_PASSWORD", default="")
MERIDIAN_IMAP_FOLDER = env.str("MERIDIAN_IMAP_FOLDER", default="INBOX")
MERIDIAN_IMAP_SSL = env.bool("MERIDIAN_IMAP_SSL", default=True)
MERIDIAN_IMAP_INTERVAL = env.int("MERIDIAN_IMAP_INTERVAL", default=60)

# home page counts: from this many rows on, a staff reader's count is PostgreSQL's estimate (pg_class.reltuples)
MERIDIAN_COUNT_ESTIMATE_FROM = env.int("MERIDIAN_COUNT_ESTIMATE_FROM", default=100_000)

# impact analysis (`cmdb.impact_cache`): each worker's copy of the CMDB graph, kept fresh by a token the database's
# triggers change; `on` rebuilds it in the background, `inline` in the caller (tests), `off` always asks the database.
# Not kept above MAX relationships that carry a failure.
MERIDIAN_IMPACT_CACHE = env.str("MERIDIAN_IMPACT_CACHE", default="inline" if TESTING else "on")
MERIDIAN_IMPACT_CACHE_MAX_RELATIONSHIPS = env.int("MERIDIAN_IMPACT_CACHE_MAX_RELATIONSHIPS", default=2_000_000)

# imports (`core.imports`): the largest file, and from how many rows the page imports in the background
MERIDIAN_IMPORT_MAX_SIZE = env.int("MERIDIAN_IMPORT_MAX_SIZE", default=100 * 1024 * 1024)
MERIDIAN_IMPORT_BACKGROUND_ROWS = env.int("MERIDIAN_IMPORT_BACKGROUND_ROWS", default=2000)
# bulk actions (`core.bulk`): selections up to INLINE run in the request, larger ones in the background; at most MAX
MERIDIAN_BULK_INLINE_ROWS = env.int("MERIDIAN_BULK_INLINE_ROWS", default=50)
MERIDIAN_BULK_MAX_ROWS = env.int("MERIDIAN_BULK_MAX_ROWS", default=10_000)

# --- REST API -------------------------------------------------------------------------------------------------
# largest API request body in bytes, refused with 413 before it is read; page forms keep Django's own limit
MERIDIAN_API_MAX_BODY = env.int("MERIDIAN_API_MAX_BODY", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MERIDIAN_API_MAX_BODY, 2_621_440)  # Django's default, or more for the API
REST_FRAMEWORK = {
    # JSON only: no browsable HTML API (it breaks the CSP); people use the Swagger UI at /api/docs/
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (a form's missing checkbox would silently read as false), depth-limited before decoding
    "DEFAULT_PARSER_CLASSES": ["meridian.core.api.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "meridian.core.api.authentication.ApiTokenAuthentication",  # named, hashed tokens (core.api_tokens)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "meridian.core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "meridian.core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": "10/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Meridian API",
    "DESCRIPTION": (
        "IT service management for ISO/IEC 20000-1. Authenticate with a personal API token, created on the API "
        "tokens page: `Authorization: Token <secret>` (or `Bearer <secret>`). A read-only token may only read; an "
        "expired or revoked one is refused with 401."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # operations grouped by what they are about (`people`, `organisations`, `saved-views`, `api-tokens`, `search`):
    # the app's segment is skipped when a resource follows it
    "SCHEMA_PATH_PREFIX": r"/api/v1(?:/[a-z_]+(?=/[a-z-]+/))?",
    # the groups closed at first, with a filter box: Swagger UI lists well over a hundred operations
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "docExpansion": "none", "filter": True},
    "ENUM_NAME_OVERRIDES": {
        "ClassificationLevelEnum": "meridian.cmdb.choices.Level",  # CIs' C, I and A
        "TargetDirectionEnum": "meridian.service_levels.choices.Direction",  # at least / at most
        "LinkDirectionEnum": "meridian.core.links.DIRECTIONS",  # a link between records read either way
        "AlertStatusEnum": "meridian.integrations.alert_models.AlertGroupStatus",  # firing / resolved
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "meridian.core.api.schema.add_error_responses",
    ],
}

# --- security -------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("MERIDIAN_SSL_REDIRECT", default=not TESTING)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
MERIDIAN_BEHIND_PROXY = env.bool("MERIDIAN_BEHIND_PROXY", default=False)
if MERIDIAN_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
PASSWORD_RESET_RATE_LIMIT = env.int("PASSWORD_RESET_RATE_LIMIT", default=3)  # requests per 15 min per address/IP
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")  # when set, /metrics wants "Authorization: Bearer <token>"
LOGIN_RATE_LIMIT = env.int("LOGIN_RATE_LIMIT", default=10)  # failed attempts per 15 minutes per account and per IP
# the OpenAPI schema maps every endpoint and field: for logged-in users only (drf-spectacular serves it to anyone)
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["rest_framework.permissions.IsAuthenticated"]

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s] %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"huey": {"level": "INFO", "handlers": ["console"], "propagate": False}},
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"
DJANGO_TABLES2_TABLE_ATTRS = {"class": "table table-sm table-hover align-middle"}
