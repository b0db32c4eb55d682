"""Settings for CAVRA Portal, read from the environment with safe production defaults."""

from __future__ import annotations

from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is a convenience for local runs; real deployments set the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# CAVRA_DEMO switches every default to the zero-setup demo: SQLite, eager Celery, console e-mail.
DEMO = env.bool("CAVRA_DEMO", default=False)
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env("SECRET_KEY", default="demo-insecure-secret-key-change-me" if (DEMO or DEBUG) else None)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set (or run with CAVRA_DEMO=1).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if (DEMO or DEBUG) else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core.apps.CavraAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "guardian",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "django_celery_beat",
    "django_filters",
    "django_tables2",
    "csp",
    "core",
    "cavra_portal",
    "tenants",
    "evidence",
    "registry",
    "approvals",
    "policies",
    "aispm",
    "connectors",
    "reports",
    "licensing",
]

MIDDLEWARE = [
    # First, so that a failure anywhere below on an agent's request still answers 503 + block.
    "core.api.exceptions.FailClosedMiddleware",
    # Agent requests under /api/ leave here for AGENT_API_MIDDLEWARE (core/agent_stack.py).
    "core.agent_stack.AgentApiStackMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.RefuseNullCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.middleware.HtmxMiddleware",  # django-htmx's, adding Vary: HX-Request
    "core.htmx_messages.HtmxMessagesMiddleware",
    "tenants.middleware.TenantMiddleware",
    "tenants.mfa.MfaRequiredMiddleware",
    "tenants.middleware.SsoFormActionMiddleware",
]

# The agent API's own stack (core/agent_stack.py): inside FailClosedMiddleware, none of the page
# middleware (sessions, CSRF, messages, allauth, htmx, tenant from the session, MFA redirect).
AGENT_API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RefuseNullCharactersMiddleware",
    "core.agent_stack.AgentRequestDefaults",
]

ROOT_URLCONF = "cavra_portal.urls"
WSGI_APPLICATION = "cavra_portal.wsgi.application"

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
                "tenants.context_processors.tenant_shell",
                "licensing.context_processors.licence_banner",
            ],
        },
    }
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'demo.sqlite3'}"
        if DEMO
        else "postgres://postgres@127.0.0.1:5432/cavra",
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# A streaming replica for read-only selectors that opt in (core.db_routing.replica_reads): dashboards,
# AISPM, reports, exports. Never the decision path or a write. Used while it has replayed all of the
# primary's WAL or its last replayed commit is at most REPLICA_MAX_LAG_SECONDS old (checked at most every
# REPLICA_CHECK_INTERVAL seconds per process); otherwise those reads go to the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.db_routing.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
REPLICA_CHECK_INTERVAL = env.float("REPLICA_CHECK_INTERVAL", default=1.0)
# Behind PgBouncer in transaction pooling (PGBOUNCER=1): a server connection changes between
# transactions, so no server-side cursors (a named cursor outlives its transaction) and no prepared
# statements kept by name (psycopg 3 prepares none unless asked: prepare_threshold=None says so).
if env.bool("PGBOUNCER", default=False):
    for _alias in DATABASES:
        if DATABASES[_alias]["ENGINE"] == "django.db.backends.postgresql":
            DATABASES[_alias]["DISABLE_SERVER_SIDE_CURSORS"] = True
            DATABASES[_alias].setdefault("OPTIONS", {})["prepare_threshold"] = None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"
# The tenant model, named as the user model is: core (the bottom package) never imports the tenants app.
TENANT_MODEL = "tenants.Tenant"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests never hold grants

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
# Accounts are created by invitation from a tenant admin, never by open sign-up.
ACCOUNT_ADAPTER = "tenants.adapters.InviteOnlyAccountAdapter"
SOCIALACCOUNT_ADAPTER = "tenants.adapters.TenantSocialAccountAdapter"
ACCOUNT_SESSION_REMEMBER = None
# SSO (per-tenant OIDC, apps kept in step by tenants.sso): the sign-in button posts, so GET stays
# side-effect free; a verified IdP e-mail signs in (and links) the invited account with that address.
# Sign-in throttling (tenants.signin): the per-address limit counts only the real client address,
# taken from X-Forwarded-For through exactly this many trusted proxies (1 behind the documented TLS
# proxy; 0 when clients connect directly, so a forged header is never believed), or from one header
# a proxy you control overwrites. Failures are throttled per account with exponential backoff.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_TLS_PROXY", default=False) else 0
)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env("TRUSTED_CLIENT_IP_HEADER", default=None)
ACCOUNT_RATE_LIMITS = {"login_failed": env("SIGNIN_ADDRESS_RATE_LIMIT", default="30/m/ip")}
SIGNIN_FREE_FAILURES = env.int("SIGNIN_FREE_FAILURES", default=5)
SIGNIN_BACKOFF_BASE = env.int("SIGNIN_BACKOFF_BASE", default=30)
SIGNIN_BACKOFF_MAX = env.int("SIGNIN_BACKOFF_MAX", default=15 * 60)
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
# Multi-factor authentication (allauth.mfa): TOTP apps, WebAuthn security keys, recovery codes.
# Tenants require it per role (tenants.mfa); SSO sign-ins rely on the identity provider's own MFA.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="CAVRA Portal")
# WebAuthn needs a secure origin; the demo runs on http://localhost.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEMO or DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Security: production defaults are strict; the demo and tests relax only what plain HTTP needs.
_https = not (DEMO or DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_https)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
# The balancer probes instances over plain HTTP on the private network: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): everything from this origin only, no inline script or
# style and no eval (page behaviour is in static/js/cavra.js), never framed, forms post only here
# (plus the tenants' IdPs on the sign-in pages, tenants.middleware.SsoFormActionMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        if DEMO
        else {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    )
}

# The broker: RabbitMQ in production (CELERY_BROKER_URL=amqp://user:pass@host:5672/vhost); Redis stays the
# cache. Tasks go to queues by kind (cavra_portal.celery_queues), so workers scale per queue and the
# decision path never waits on any of them. CELERY_QUEUE_PREFIX lets several deployments share a broker.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=DEMO)
CELERY_TASK_EAGER_PROPAGATES = True
# Evidence leaves are integrated into the chain by `manage.py cavra_sequencer` ("process", production),
# or in the writer's own transaction under the chain lock ("inline": the demo and the test suite).
# Bearer token a Prometheus scraper presents at GET /metrics (empty: only a superuser session may scrape).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
CAVRA_EVIDENCE_SEQUENCER = env.str("CAVRA_EVIDENCE_SEQUENCER", default="inline" if DEMO else "process")
if CAVRA_EVIDENCE_SEQUENCER not in ("inline", "process"):
    raise environ.ImproperlyConfigured("CAVRA_EVIDENCE_SEQUENCER must be inline or process.")
# A task is acknowledged only once it ran, and re-delivered when its worker dies: tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_QUEUE_PREFIX = env("CELERY_QUEUE_PREFIX", default="")
# Queue per kind of work (glob on the task name); every task the project defines must match one
# (tests/cavra_portal/test_cluster_settings.py), so nothing silently lands on a queue no worker reads.
TASK_QUEUE_BY_NAME = {
    "approvals.outbox_deliver*": "notifications",  # notifications and connector deliveries (the outbox)
    "approvals.expire*": "notifications",
    "approvals.escalate*": "notifications",
    "aispm.report*": "reports",
    "reports.*": "reports",  # scheduled report runs (their e-mails go through the outbox)
    "aispm.refresh*findings": "findings",
    "aispm.rollup*": "findings",
    "evidence.checkpoint*": "checkpoints",
    "evidence.verify*": "checkpoints",
    "policies.replay": "checkpoints",  # publication: shadow replay of a publish plan
    "evidence.purge*": "retention",
}
TASK_QUEUES = ("notifications", "reports", "findings", "checkpoints", "retention")
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {
    pattern: {"queue": f"{CELERY_QUEUE_PREFIX}{queue}"} for pattern, queue in TASK_QUEUE_BY_NAME.items()
}
# One scheduler across the deployment: beat holds a PostgreSQL advisory lock while it schedules (core.beat).
CELERY_BEAT_SCHEDULER = "core.beat:LockedDatabaseScheduler"
BEAT_LOCK_DATABASE_URL = env("BEAT_LOCK_DATABASE_URL", default="")
BEAT_LOCK_RETRY = env.float("BEAT_LOCK_RETRY", default=5.0)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEMO
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)  # STARTTLS on a plain port (587)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)  # implicit TLS (465); not both
EMAIL_SSL_CERTFILE = env("EMAIL_SSL_CERTFILE", default=None)
EMAIL_SSL_KEYFILE = env("EMAIL_SSL_KEYFILE", default=None)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CAVRA Portal <cavra@localhost>")
# A report e-mail that fails this many times in a row is escalated (tenant admins told, a finding opened);
# the outbox keeps retrying with backoff until its own budget runs out.
REPORT_DELIVERY_ESCALATE_AFTER = env.int("REPORT_DELIVERY_ESCALATE_AFTER", default=3)

# Fernet keys for secrets at rest (core/secrets.py), comma-separated, the first one encrypts.
CAVRA_SECRET_KEYS = env.list("CAVRA_SECRET_KEYS", default=[])

EVIDENCE_KEY_ENCRYPTION_KEY = env("EVIDENCE_KEY_ENCRYPTION_KEY", default="")
# Append-only file that receives every signed tree head (for air-gapped sites: ship it to WORM media).
EVIDENCE_HEADS_FILE = env("EVIDENCE_HEADS_FILE", default="")

# The vendor licence (docs/entitlements.md): extra trusted vendor Ed25519 public keys (hex or base64; the
# product's own key is built in), and a licence file to read instead of the one uploaded on /licence/.
CAVRA_LICENSE_PUBLIC_KEYS = env.list("CAVRA_LICENSE_PUBLIC_KEYS", default=[])
CAVRA_LICENSE_FILE = env("CAVRA_LICENSE_FILE", default="")
# Witnesses every signed tree head is published to (through the outbox): comma-separated
# "<base URL>|<the witness's Ed25519 public key, 64 hex>", e.g. "https://witness.example|3b6a…".
EVIDENCE_WITNESSES = env("EVIDENCE_WITNESSES", default="")
EVIDENCE_WITNESS_TIMEOUT = env.int("EVIDENCE_WITNESS_TIMEOUT", default=10)
# An S3 bucket created with object lock: every signed tree head is PUT under COMPLIANCE retention.
EVIDENCE_S3_ANCHOR_BUCKET = env("EVIDENCE_S3_ANCHOR_BUCKET", default="")
EVIDENCE_S3_ANCHOR_ENDPOINT = env("EVIDENCE_S3_ANCHOR_ENDPOINT", default="")  # S3-compatible servers
EVIDENCE_S3_ANCHOR_REGION = env("EVIDENCE_S3_ANCHOR_REGION", default="")
EVIDENCE_S3_ANCHOR_PREFIX = env("EVIDENCE_S3_ANCHOR_PREFIX", default="cavra/heads/")
EVIDENCE_S3_ANCHOR_RETENTION_DAYS = env.int("EVIDENCE_S3_ANCHOR_RETENTION_DAYS", default=2557)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StableCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Every JSON body of the API is refused (400 naming the limit) beyond these (core.api.parsers).
CAVRA_API_JSON_LIMITS = {
    "max_depth": env.int("API_JSON_MAX_DEPTH", default=64),
    "max_members": env.int("API_JSON_MAX_MEMBERS", default=10_000),
    "max_string_length": env.int("API_JSON_MAX_STRING_LENGTH", default=65_536),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CAVRA Portal API",
    "DESCRIPTION": "Before the agent acts, CAVRA decides. Decisions, approvals, registry and evidence.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "registry.models.Agent.Status",
        "McpToolStatusEnum": "registry.models.McpTool.Status",
        "ApprovalStatusEnum": "approvals.models.ApprovalRequest.Status",
        "SeverityEnum": "approvals.models.Severity",
        "ActionEnum": "cavra_engine.policy.vocabulary.ACTIONS",
        "CapabilityClassEnum": "registry.models.CapabilityClass",
        "TriggerEnum": "evidence.models.VerificationRun.Trigger",  # kept its name when reports added a trigger
        "ReportTriggerEnum": "reports.models.ReportRun.Trigger",
        "ReportDeliveryStatusEnum": "reports.models.ReportDelivery.Status",
        "RolesEnum": "core.roles.Role",  # every role list (members, SSO mappings) shares one enum
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
SILENCED_SYSTEM_CHECKS = [
    # SQLite (demo only) cannot enforce one rollout per NULL scope; the service locks the scope.
    "models.W047",
    # HSTS preload commits the whole domain and its subdomains to HTTPS in browsers for months; an
    # operator opts in (SECURE_HSTS_PRELOAD=1) once every subdomain is ready, never by default.
    "security.W021",
]
