"""Settings for samlsite, read from the environment.

With no variable set it fails closed: DEBUG off (so SECRET_KEY is required), no demo IdP,
metadata fetched over https from public addresses only. `make run` sets DEBUG=1 and DEMO_IDP=1
for local development. Production sets at least SECRET_KEY and ALLOWED_HOSTS, and usually
DATABASE_URL, SAML_BASE_URL and REDIS_URL. A boolean is on only with a true value (1, true,
yes, on); a value that cannot be read stops the site with one line naming the variable.

The variables (the documentation's settings reference is made from this list and the code):

DEBUG
    Django's DEBUG: off unless set. `make run` sets it, and `manage.py test` defaults it.
SECRET_KEY
    Required when DEBUG is off; with DEBUG on, a development key is used when it is unset.
ALLOWED_HOSTS
    Comma-separated host names. Empty with DEBUG on: localhost, 127.0.0.1 and [::1].
DEMO_IDP
    With DEBUG=1 too, installs the local demo IdP at /demo-idp/<tenant>/; with DEBUG off it is
    never installed.
DATABASE_URL
    Any URL dj-database-url reads, e.g. postgres://user:password@host:5432/name (default:
    SQLite, db.sqlite3 in the project folder).
REDIS_URL
    E.g. redis://redis.internal:6379/0: Django's cache and the sessions, shared by every
    instance. Unset: the cache is per process and sessions are in the database.
SAML_BASE_URL
    E.g. https://sso.example.com: the scheme and host of every URL in our SP metadata
    (SAML_IDPS_BASE_URL); also a trusted origin for form posts. Unset: the request's host.
SAML_METADATA_ALLOW_INSECURE
    Allow http:// metadata URLs and loopback or private metadata hosts (always allowed while
    DEBUG is on).
SAML_SP_KEY_FILE, SAML_SP_CERT_FILE
    Paths of the SP key pair (PEM).
SAML_SP_KEY_PEM, SAML_SP_CERT_PEM
    The SP key pair as PEM text, instead of files.
SAML_SP_KEY_DIR
    Where a key pair is generated when none is configured (var/sp_keys).
SAML_SP_NEXT_KEY_FILE, SAML_SP_NEXT_CERT_FILE
    The next SP key pair during a rollover.
CSRF_TRUSTED_ORIGINS
    Comma-separated extra origins for form posts (SAML_BASE_URL is one already).
SECURE_SSL_REDIRECT
    Redirect http to https (behind a TLS-terminating proxy); /healthz is exempt.
SECURE_HSTS_SECONDS
    Send HSTS for that many seconds.
SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD
    The HSTS flags of the same names.
SECURE_PROXY_SSL_HEADER
    Trust X-Forwarded-Proto: https from the proxy in front.
SAML_LOG_LEVEL
    Level of the saml_idps logger: refusals with their reason, metadata refreshes (INFO).
"""

import sys
import warnings
from pathlib import Path

import dj_database_url
from cryptography.utils import CryptographyDeprecationWarning
from environs import Env, EnvError

# pysaml2 7.5 imports a cipher mode that cryptography has moved; it warns on every start.
warnings.filterwarnings("ignore", "CFB has been moved", CryptographyDeprecationWarning)

import saml2  # noqa: E402 - after the warning filter

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()


def setting(read, name, *args, **kwargs):
    """``env.<read>(name, ...)``, stopping with one line that names the variable when its
    value cannot be read (DEBUG=nonsense), instead of a traceback."""
    try:
        return read(name, *args, **kwargs)
    except EnvError as error:
        sys.exit(f"Setting {name} from the environment: {error}")


def env_list(name):
    return [item.strip() for item in setting(env.str, name, "").split(",") if item.strip()]


# Fail closed: DEBUG, the demo IdP and insecure metadata fetching are off unless set on.
DEBUG = setting(env.bool, "DEBUG", False)

SECRET_KEY = setting(env.str, "SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        sys.exit("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development).")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only

# Empty with DEBUG on means Django's local default (localhost, 127.0.0.1, [::1]).
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djangosaml2",
    "saml_idps",
]

# The demo IdP (saml_idps.demo_idp) signs anyone in: only with DEMO_IDP=1 and DEBUG=1 both set
# (make run sets them); with DEBUG off it is not installed and its URLs do not exist.
DEMO_IDP = DEBUG and setting(env.bool, "DEMO_IDP", False)
if DEMO_IDP:
    INSTALLED_APPS.append("saml_idps.demo_idp")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "saml_idps.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "samlsite.urls"
WSGI_APPLICATION = "samlsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default, safe under concurrent requests: a transaction takes the write lock
    # when it begins (a login reads, then writes; upgrading a read lock fails at once with
    # "database is locked"), waits up to 20 s for it, and readers do not block the writer (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),  # what DATABASE_URL says wins
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Served by whitenoise from STATIC_ROOT (`manage.py collectstatic`), compressed; no proxy needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Several instances share PostgreSQL, which holds what they must agree on and keep: the replay
# store and the IdP rows whose updated_at versions every cached configuration. Sessions (with
# the pending SAML requests) are in PostgreSQL too, or, with REDIS_URL set, in Redis, Django's
# cache then: a session write per request is the largest cost of the login redirect, and losing
# sessions when Redis restarts only means signing in again.
REDIS_URL = env.str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# The test runner judges the system checks by DEBUG as configured here, not the DEBUG=False it
# forces while tests run (see samlsite/test_runner.py). manage.py test sets DEBUG=1 and
# DEMO_IDP=1 unless the environment says otherwise.
TEST_RUNNER = "samlsite.test_runner.ConfiguredChecksRunner"

# --- Authentication -------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "saml_idps.backends.SamlIdentityBackend",
]
LOGIN_URL = "saml_idps:home"
LOGIN_REDIRECT_URL = "saml_idps:user"
LOGOUT_REDIRECT_URL = "saml_idps:home"

# djangosaml2: every request's pysaml2 configuration comes from the IdP row at hand.
SAML_CONFIG_LOADER = "saml_idps.config.sp_config_for_request"
SAML_USE_NAME_ID_AS_USERNAME = True
SAML_DEFAULT_BINDING = saml2.BINDING_HTTP_REDIRECT
SAML_LOGOUT_REQUEST_PREFERRED_BINDING = saml2.BINDING_HTTP_REDIRECT
SAML_SESSION_COOKIE_NAME = "saml_session"

# saml_idps (defaults and meaning in saml_idps/conf.py).
SAML_IDPS_BASE_URL = env.str("SAML_BASE_URL", "").rstrip("/") or None
SAML_IDPS_METADATA_ALLOW_INSECURE = setting(env.bool, "SAML_METADATA_ALLOW_INSECURE", False)
# The SP key pair: files, or PEM text, from the environment; generated into var/sp_keys if none.
SAML_IDPS_SP_KEY_FILE = env.str("SAML_SP_KEY_FILE", None)
SAML_IDPS_SP_CERT_FILE = env.str("SAML_SP_CERT_FILE", None)
SAML_IDPS_SP_KEY_PEM = env.str("SAML_SP_KEY_PEM", None)
SAML_IDPS_SP_CERT_PEM = env.str("SAML_SP_CERT_PEM", None)
SAML_IDPS_SP_KEY_DIR = env.str("SAML_SP_KEY_DIR", str(BASE_DIR / "var" / "sp_keys"))
SAML_IDPS_SP_NEXT_KEY_FILE = env.str("SAML_SP_NEXT_KEY_FILE", None)
SAML_IDPS_SP_NEXT_CERT_FILE = env.str("SAML_SP_NEXT_CERT_FILE", None)

# --- Transport security ---------------------------------------------------------------------
# Session and CSRF cookies are Secure whenever DEBUG is off. The SAML session cookie must be
# SameSite=None (the IdP posts to the ACS from another site) and is therefore always Secure;
# see saml_idps/middleware.py and the README for why that works over http://127.0.0.1 too.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if SAML_IDPS_BASE_URL:
    CSRF_TRUSTED_ORIGINS.append(SAML_IDPS_BASE_URL)

# Opt-in, for deployments behind a TLS-terminating proxy.
SECURE_SSL_REDIRECT = setting(env.bool, "SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = setting(env.int, "SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = setting(env.bool, "SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = setting(env.bool, "SECURE_HSTS_PRELOAD", False)
# Load balancers probe /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if setting(env.bool, "SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "saml_idps": {"handlers": ["console"], "level": env.str("SAML_LOG_LEVEL", "INFO")},
        # Server errors with their traceback, to the process's log (gunicorn's stderr).
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}

# djangosaml2 would set a Content-Security-Policy through django-csp; this site leaves CSP to
# the reverse proxy in front of it.
SAML_CSP_HANDLER = ""
