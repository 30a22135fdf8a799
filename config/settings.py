"""Typed settings: the one place the process environment (and an optional `.env`) is read.

Settings are built once per process (`load_settings`), validated, and then handed to the app
factory and the Celery app; nothing else in the code reads `os.environ`.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pymongo.uri_parser import parse_uri

WEAK_JWT_SECRETS = {"secret", "changeme", "your_super_secret_jwt_key_change_this_in_production"}
MIN_JWT_SECRET_LENGTH = 32
log = logging.getLogger("tq.config")


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigError(Exception):
    """Raised with one human line naming the offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- HTTP server
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    # NODE_ENV from the old Node backend is accepted as an alias of APP_ENV.
    app_env: AppEnv = Field(AppEnv.development, validation_alias="APP_ENV")
    node_env: AppEnv | None = Field(None, validation_alias="NODE_ENV")
    app_name: str = "tq"
    cors_origin: Annotated[list[str], NoDecode] = ["http://localhost:5173"]
    request_max_size: int = Field(1_000_000, ge=1024)  # bytes; larger bodies get 413
    log_level: str = "INFO"
    # Reverse proxies in front of the web process (1 on Heroku): whose X-Forwarded-For to trust.
    proxies_count: int = Field(0, ge=0, le=5)

    # --- MongoDB (any MongoDB 6+, Atlas, or the embedded SecantusDB / FerretDB)
    mongodb_uri: str = "mongodb://127.0.0.1:27017/talent-quotient"
    mongodb_timeout_ms: int = Field(2000, ge=100)  # server selection / connect: fail fast, 503
    # Which MongoDB-wire server MONGODB_URI reaches. `mongodb` (MongoDB 6+, Atlas) and
    # `secantus` (the embedded default of `make run`/`make test`) behave alike. `ferretdb` (the
    # embedded fallback, FerretDB v1) does not apply conditional updates atomically and has no
    # pipeline updates: writers then take Redis write locks and update in two steps.
    db_engine: Literal["mongodb", "secantus", "ferretdb"] = "mongodb"

    @property
    def document_locks(self) -> bool:
        """Redis write locks around conditional updates (FerretDB only)."""
        return self.db_engine == "ferretdb"

    @property
    def pipeline_updates(self) -> bool:
        """Updates given as an aggregation pipeline (MongoDB 4.2+, SecantusDB; not FerretDB)."""
        return self.db_engine != "ferretdb"

    @property
    def find_and_modify_projection(self) -> bool:
        """`findAndModify` with `fields` (a projection): not implemented by FerretDB v1."""
        return self.db_engine != "ferretdb"

    # --- Redis (Celery broker and result backend, rate limits, token revocation)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = Field(1.0, gt=0)

    # --- Auth
    jwt_secret: str = ""
    jwt_expires_in: int = Field(24 * 3600, ge=60)  # seconds
    jwt_issuer: str = "talent-quotient"
    jwt_audience: str = "talent-quotient-api"
    # Tokens whose signature and claims this process has checked, kept until they expire so
    # the next request with one skips the JWT decode (revocation is still asked every time);
    # 0 turns the cache off.
    verified_token_cache_size: int = Field(10_000, ge=0)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost: int = Field(65536, ge=1024)  # KiB
    argon2_parallelism: int = Field(4, ge=1)
    # Half the cores by default: logins queue a little, the event loop keeps a core (measured:
    # health p99 23 ms under 16 concurrent logins with 1 thread on 2 cores, 91 ms with 4).
    password_hash_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1
    )
    login_max_failures: int = Field(5, ge=1)  # per (email, client address); per account
    login_client_max_failures: int = Field(20, ge=1)  # per client address, any email
    login_email_max_failures: int = Field(100, ge=1)  # per email from all addresses
    login_client_max_attempts: int = Field(100, ge=1)  # per client address, successes too
    login_window_s: int = Field(900, ge=1)

    # --- Stream (getstream.io)
    stream_api_key: str = ""
    stream_api_secret: str = ""
    stream_app_id: str = ""
    stream_base_url: str | None = None  # only set to point the SDK elsewhere (tests)
    stream_timeout_s: float = Field(3.0, gt=0)
    stream_token_ttl: int = Field(3600, ge=60)  # seconds

    # --- Celery
    celery_task_time_limit: int = Field(300, ge=1)
    celery_task_soft_time_limit: int = Field(240, ge=1)
    celery_visibility_timeout_s: int = Field(3600, ge=5)
    job_runs_retention_days: int = Field(30, ge=1)
    expire_sessions_every_s: float = Field(60, gt=0)
    archive_chat_every_s: float = Field(3600, gt=0)
    purge_job_runs_every_s: float = Field(86400, gt=0)
    repair_stream_every_s: float = Field(300, gt=0)
    repair_stream_after_s: float = Field(120, ge=0)  # pending this long → sync queued again
    session_start_grace_minutes: int = Field(15, ge=0)
    max_session_minutes: int = Field(240, ge=5)
    chat_archive_after_days: float = Field(7, ge=0)
    chat_archive_chunk_size: int = Field(1000, ge=10, le=10_000)
    job_batch_size: int = Field(10_000, ge=2)
    # Seconds a beat job works before it stops and leaves the rest to its next run (well
    # under CELERY_TASK_SOFT_TIME_LIMIT, which start-up checks).
    job_time_budget_s: float = Field(60, gt=0)
    job_retry_base_s: float = Field(2.0, gt=0)  # first retry delay; doubles each attempt
    job_retry_max_s: float = Field(300.0, gt=0)  # cap of one retry delay
    job_max_retries: int = Field(8, ge=0)

    # --- Code runner (the `runs` queue and its sandbox; README "Code runner")
    runner_compile_timeout_s: float = Field(10.0, gt=0, le=120)  # wall time of a compile
    runner_run_timeout_s: float = Field(3.0, gt=0, le=60)  # wall time of one run
    # A run's memory, held by a cgroup for every language (plus a runtime allowance for the
    # JVM and V8), and the address space (heap for JVM/V8/PHP) of the plain ones.
    runner_memory_mb: int = Field(256, ge=32, le=8192)
    runner_compile_memory_mb: int = Field(1024, ge=64, le=16384)  # a compile's cgroup limit
    # Root runners refuse to run without a memory cgroup unless this is false.
    runner_require_cgroup: bool = True
    runner_max_processes: int = Field(64, ge=4, le=4096)  # processes and threads
    runner_file_size_mb: int = Field(8, ge=1, le=1024)  # largest file a program may write
    runner_open_files: int = Field(128, ge=16, le=4096)
    runner_output_bytes: int = Field(64 * 1024, ge=1024, le=16 << 20)  # per stream
    runner_workdir_mb: int = Field(64, ge=8, le=4096)  # tmpfs size of /box and /tmp
    runner_uid_base: int = Field(60000, ge=1000)  # slot N runs as uid base+N (when root)
    runner_work_dir: str | None = None  # host directory of submissions (default: TMPDIR)
    runner_wait_s: float = Field(30.0, gt=0, le=300)  # the Piston route waits this long
    runner_max_backlog: int = Field(100, ge=1)  # queued runs beyond this → 429 runner_busy
    runner_runs_per_minute: int = Field(30, ge=1)  # per user
    runner_user_concurrency: int = Field(1, ge=1, le=64)  # a user's runs at once
    # Sandbox seconds (compiles and every test included) a user may take a minute.
    runner_user_seconds_per_minute: float = Field(30, gt=0)
    runner_max_source_bytes: int = Field(64 * 1024, ge=256, le=1 << 20)
    runner_max_stdin_bytes: int = Field(256 * 1024, ge=0, le=8 << 20)
    runner_max_attempts: int = Field(2, ge=1, le=10)  # deliveries before a lost run fails
    runner_stale_after_s: float = Field(600, ge=5)  # unfinished this long → failed
    fail_stale_runs_every_s: float = Field(60, gt=0)

    # --- Organizations (README "Organizations")
    org_default_seats: int = Field(10, ge=1, le=100_000)  # a new organization's seat limit
    org_max_seats: int = Field(10_000, ge=1, le=100_000)  # the most a PATCH may set
    org_max_owned: int = Field(20, ge=1, le=1000)  # organizations one account may create
    # Invitations an organization holds (any status: the list is returned whole).
    org_max_invitations: int = Field(200, ge=1, le=5000)
    org_max_listed: int = Field(100, ge=1, le=1000)  # GET /api/orgs answers at most this many

    # --- The question bank and scorecard templates (README "Question bank")
    problem_max_tests: int = Field(500, ge=1, le=5000)  # tests of one problem
    # Inputs and answers of one version together (a version is one MongoDB document).
    problem_max_test_bytes: int = Field(8 << 20, ge=1024, le=12 << 20)
    problem_max_time_limit_s: float = Field(10.0, gt=0, le=60)  # per test
    problem_max_memory_mb: int = Field(1024, ge=32, le=8192)
    # Tests x time limit: the longest one judging may take (well under the job time limits).
    problem_max_judge_s: float = Field(120, gt=0, le=200)
    problem_max_statement_bytes: int = Field(64 * 1024, ge=1024, le=1 << 20)
    problem_max_listed: int = Field(100, ge=1, le=1000)  # a page of the bank
    # An uploaded package (kept in one MongoDB document until it is proven).
    package_max_bytes: int = Field(12 << 20, ge=1024, le=15 << 20)
    package_max_unpacked_bytes: int = Field(32 << 20, ge=1024, le=256 << 20)  # all its files
    package_max_file_bytes: int = Field(8 << 20, ge=1024, le=64 << 20)  # one file of it
    package_max_files: int = Field(1000, ge=10, le=100_000)
    # Unpacked / packed, per file. Deflate cannot pass ~1030 to 1 (the size caps bound it);
    # bzip2 and LZMA can reach millions to 1: that is what this refuses.
    package_max_ratio: int = Field(2000, ge=10, le=100_000)
    package_max_submissions: int = Field(30, ge=1, le=500)
    # Imports of one organization waiting or being proven at once.
    package_max_pending_imports: int = Field(3, ge=1, le=100)
    template_max_criteria: int = Field(20, ge=1, le=100)

    # --- Invitations, join window, email (README "Invitations and email")
    app_url: str = "http://localhost:5173"  # the frontend's address: invitation links point there
    invite_ttl_days: float = Field(14, gt=0, le=365)
    invite_any_account: bool = False  # true: any signed-in account may accept an invitation link
    join_window_minutes: int = Field(10, ge=0, le=24 * 60)  # the room opens this long before
    # How far ahead a session may be scheduled: a start past it is 400 start_time_out_of_range.
    max_schedule_ahead_days: int = Field(730, ge=1, le=3650)
    # smtp://[user:pass@]host:port (plain, or STARTTLS with ?starttls=true), smtps:// (TLS).
    # Unset: emails stay queued (status `queued`) until it is set.
    smtp_url: str | None = None
    mail_from: str = "Talent Quotient <no-reply@localhost>"
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    reminder_minutes: int = Field(15, ge=1, le=7 * 24 * 60)
    send_reminders_every_s: float = Field(60, gt=0)
    flush_session_events_every_s: float = Field(60, gt=0)
    announce_records_every_s: float = Field(60, gt=0)

    # --- The shared editor (README "Shared editor")
    # (Both under MongoDB's 16 MiB document: one update is one document, a snapshot another.)
    collab_max_message_bytes: int = Field(1 << 20, ge=1024, le=8 << 20)  # one frame
    collab_max_document_bytes: int = Field(4 << 20, ge=4096, le=12 << 20)  # a session's log
    collab_updates_per_second: float = Field(30, gt=0)  # per connection (bursts of twice that)
    collab_max_connections_per_session: int = Field(20, ge=1)
    collab_max_connections_per_user: int = Field(5, ge=1)
    collab_idle_timeout_s: float = Field(300, gt=0)  # no frame this long: the socket is closed
    collab_commit_batch: int = Field(500, ge=1, le=10_000)  # updates per insert, at most
    collab_frames_per_second: float = Field(120, gt=0)  # any frame, per connection (burst 2x)
    collab_max_awareness_clients: int = Field(4, ge=1)  # awareness ids one connection may own
    collab_max_awareness_bytes: int = Field(8192, ge=256)  # one awareness state's JSON
    collab_recheck_s: float = Field(30, gt=0)  # token, membership, status of an open connection
    code_timeline_group_s: float = Field(2.0, ge=0)  # one author's steps this close: one entry
    # Updates per block of the history index (README "Code history"): a past moment is
    # rebuilt from at most 4 blocks and the updates after the last one.
    code_history_block_updates: int = Field(512, ge=8, le=4096)
    record_max_code_frames: int = Field(5000, ge=1)  # checkpoints in the record's playback
    # Past this many lines on a side a diff replaces the whole text (difflib is quadratic).
    code_diff_max_lines: int = Field(1000, ge=1)
    # Integrity signals (README "Code history"): thresholds of what one update does.
    code_signal_large_insert_chars: int = Field(80, ge=1)
    code_signal_bulk_replace_share: float = Field(0.6, gt=0, le=1)
    code_signal_bulk_replace_min_chars: int = Field(100, ge=1)
    code_signal_idle_s: float = Field(120, gt=0)
    code_signal_burst_chars: int = Field(40, ge=1)
    code_client_signals_max: int = Field(1000, ge=1)  # claims kept per session (429 past it)
    collab_compact_after_updates: int = Field(2000, ge=10)  # stored since the last compaction

    # --- Outbound webhooks (README "Outbound webhooks")
    # Key the endpoints' signing secrets derive from (default: derived from JWT_SECRET).
    webhook_signing_key: str = ""
    # http:// and loopback/private addresses for endpoints: unset, allowed outside production.
    webhook_allow_private: bool | None = None
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)
    # Seconds before each attempt: the Standard Webhooks schedule, then failed.
    webhook_retry_schedule_s: Annotated[list[float], NoDecode] = [
        0,
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    ]
    webhook_disable_after_days: float = Field(5, gt=0)
    webhook_secret_grace_hours: float = Field(24, ge=0)
    webhook_max_endpoints: int = Field(20, ge=1, le=1000)  # per organization
    webhook_pump_every_s: float = Field(5, gt=0)

    # --- Single sign-on and SCIM provisioning (README "Single sign-on and SCIM")
    # The API's own public address: OIDC redirect URI, SAML entity id, ACS and metadata URLs.
    api_url: str = "http://localhost:3000"
    # Key the OIDC client secrets are sealed with at rest (default: derived from JWT_SECRET).
    sso_sealing_key: str = ""
    # http:// and loopback issuers: unset, allowed outside production (as for webhooks).
    sso_allow_private: bool | None = None
    sso_http_timeout_s: float = Field(5.0, gt=0, le=30)  # discovery, JWKS, token endpoint, DNS
    # The DNS server (host:port) domain verification asks; unset: the system's resolver.
    sso_dns_server: str = ""
    sso_login_ttl_s: int = Field(600, ge=30, le=3600)  # a started login must end this soon
    sso_exchange_ttl_s: int = Field(60, ge=5, le=600)  # the one-time code the frontend swaps
    sso_max_domains: int = Field(20, ge=1, le=500)  # email domains of one connection
    # An ID token signed by a key we do not know refetches the JWKS, at most this often.
    sso_jwks_refetch_s: float = Field(10, ge=0, le=3600)
    sso_metadata_cache_s: float = Field(3600, ge=0)  # discovery documents and JWKS kept
    sso_clock_skew_s: int = Field(60, ge=0, le=600)  # leeway on exp/iat and SAML conditions
    saml_max_response_bytes: int = Field(256 * 1024, ge=4096, le=4 << 20)
    saml_max_metadata_bytes: int = Field(256 * 1024, ge=4096, le=4 << 20)
    scim_max_tokens: int = Field(5, ge=1, le=100)  # live bearer tokens per organization
    scim_max_page: int = Field(100, ge=1, le=1000)  # resources in one list answer
    scim_max_users: int = Field(5000, ge=1, le=1_000_000)  # per organization
    scim_max_groups: int = Field(200, ge=1, le=10_000)  # per organization
    scim_max_group_members: int = Field(5000, ge=1, le=100_000)

    # --- API rate limits (README "Rate limits"); moving windows in Redis, per user or address
    rate_limits_enabled: bool = True
    rate_limit_reads: str = "600/minute"
    rate_limit_writes: str = "120/minute"
    rate_limit_public: str = "60/minute"  # per client address, routes without a token
    rate_limit_scim: str = "1200/minute"  # per SCIM token (/scim/v2)
    rate_limit_sso: str = "600/minute"  # per client address, /api/auth/sso/* (a login is ~4)

    # --- Metrics and the job dashboard
    metrics_token: str = ""  # bearer token of GET /metrics; required in production
    # Prometheus multi-process directory (WORKERS > 1, Celery workers); set by `make run`.
    prometheus_multiproc_dir: str | None = None
    flower_port: int = Field(5555, ge=1, le=65535)
    flower_user: str = "ops"
    flower_password: str = ""

    @field_validator("cors_origin", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("mongodb_uri")
    @classmethod
    def uri_names_database(cls, value: str) -> str:
        try:
            parsed = parse_uri(value)
        except Exception as exc:  # pymongo raises several types for a bad URI
            raise ValueError(f"not a MongoDB URI: {exc}") from None
        if not parsed.get("database"):
            raise ValueError("must name a database, e.g. mongodb://host:27017/talent-quotient")
        return value

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "rate_limit_reads",
        "rate_limit_writes",
        "rate_limit_public",
        "rate_limit_scim",
        "rate_limit_sso",
    )
    @classmethod
    def rate_limit_syntax(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError("must read like 600/minute or 10/second;100/minute") from None
        return value

    @property
    def webhooks_allow_private(self) -> bool:
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return not self.is_production

    @property
    def sso_allows_private(self) -> bool:
        if self.sso_allow_private is not None:
            return self.sso_allow_private
        return not self.is_production

    @field_validator("sso_dns_server")
    @classmethod
    def dns_server_has_a_port(cls, value: str) -> str:
        if value and not re.match(r"^[^\s:]+:[0-9]{1,5}$", value):
            raise ValueError("must be host:port, e.g. 127.0.0.1:53")
        return value

    @field_validator("app_url", "api_url")
    @classmethod
    def app_url_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL, e.g. https://app.example.com")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def smtp_url_scheme(cls, value: str | None) -> str | None:
        if value and not re.match(r"^smtps?://[^/\s]+", value):
            raise ValueError("must be smtp://host:port or smtps://host:port")
        return value or None

    @model_validator(mode="after")
    def apply_node_env(self) -> Settings:
        if self.node_env is not None and "app_env" not in self.model_fields_set:
            object.__setattr__(self, "app_env", self.node_env)
        return self

    @model_validator(mode="after")
    def budget_inside_time_limit(self) -> Settings:
        # A beat job stops itself at its budget; Celery's soft limit would interrupt it
        # mid-write instead.
        if self.job_time_budget_s >= self.celery_task_soft_time_limit:
            raise ValueError("JOB_TIME_BUDGET_S must be below CELERY_TASK_SOFT_TIME_LIMIT")
        return self

    @model_validator(mode="after")
    def check_secrets(self) -> Settings:
        if self.is_production:
            secret = self.jwt_secret
            if not secret:
                raise ValueError("JWT_SECRET is required in production")
            if len(secret) < MIN_JWT_SECRET_LENGTH or secret.lower() in WEAK_JWT_SECRETS:
                raise ValueError(
                    f"JWT_SECRET is too weak for production (at least "
                    f"{MIN_JWT_SECRET_LENGTH} random characters)"
                )
            for name in ("stream_api_key", "stream_api_secret", "metrics_token"):
                if not getattr(self, name):
                    raise ValueError(f"{name.upper()} is required in production")
        elif not self.jwt_secret:
            # Development only: tokens die with the process tree, which is the point. It is
            # exported so that server worker processes (spawned) share the same secret.
            log.warning("JWT_SECRET is not set; using an ephemeral secret (development only)")
            secret = secrets.token_urlsafe(48)
            os.environ["JWT_SECRET"] = secret
            object.__setattr__(self, "jwt_secret", secret)
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == AppEnv.production

    @property
    def stream_configured(self) -> bool:
        return bool(self.stream_api_key and self.stream_api_secret)

    @cached_property
    def mongodb_database(self) -> str:
        return str(parse_uri(self.mongodb_uri)["database"])


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, turning a validation failure into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(message if not error["loc"] else f"{field.upper()}: {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
