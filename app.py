"""The application factory: configuration, extensions, blueprints, filters, hooks.

Run it with `make run` (development server) or `make serve` (gunicorn, see gunicorn.conf.py).
"""
from __future__ import annotations

import logging
import os
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, has_request_context, jsonify, render_template, request, session
from flask_babel import Babel
from flask_login import LoginManager, current_user, logout_user
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError, CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import event

from blueprints.auth import safe_next
from blueprints.core.i18n import LOCALES
from models import User, db

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))

csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
babel = Babel()
htmx = Htmx()



def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'platform.db'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _truthy(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


class Config:
    SECRET_KEY = None  # set in create_app
    SQLALCHEMY_DATABASE_URI = None
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    MAX_UPLOAD_BYTES = 10 * 1024 * 1024
    MAX_CONTENT_LENGTH = 4 * 10 * 1024 * 1024 + 1024 * 1024  # a few files per form, no more
    MAX_FORM_PARTS = 200
    BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "zh_Hans")
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    COOKIE_SECURE = _truthy("COOKIE_SECURE", False)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)  # absolute limit
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    # Login soft lock (blueprints/core/login_guard.py): per account+address, LIMIT_PER_ACCOUNT failures,
    # then waits from DELAY_SECONDS doubling up to WINDOW_MINUTES; totals per address and per account
    # per window; a known device is held by none of them.
    LOGIN_LIMIT_PER_ACCOUNT = 5
    LOGIN_LIMIT_PER_ADDRESS = 30
    LOGIN_LIMIT_ACCOUNT_TOTAL = 20
    LOGIN_DELAY_SECONDS = 60
    LOGIN_WINDOW_MINUTES = 15
    VERIFY_LIMIT_PER_ADDRESS = 60  # public voucher look-ups per address per minute
    # Second factor (R21): officials must use TOTP (0 only for a local demo); a remembered device skips it.
    TOTP_REQUIRED = _truthy("TOTP_REQUIRED", True)
    TRUSTED_DEVICE_DAYS = 30
    TOTP_FAILURES_PER_DAY = 20  # wrong codes per account per day, on top of the login limits per window
    # The connection-records API (blueprints/api): requests per token per minute, and the largest body.
    API_RATE_PER_MINUTE = int(os.environ.get("API_RATE_PER_MINUTE", "120"))
    API_MAX_BODY_BYTES = 16 * 1024 * 1024
    # Exports above this many rows run as a background job with a progress bar (blueprints/core/exports.py).
    EXPORT_JOB_ROWS = int(os.environ.get("EXPORT_JOB_ROWS", "5000"))
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    TESTING = False
    # The address printed in voucher QR codes, e.g. https://fwq.gdei.gov.cn (set it in production).
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")
    # E-mail (blueprints/core/mail.py): notices go by mail too when SMTP_HOST is set; README "E-mail".
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "0")) or None  # None: 465 with SMTP_SSL, else 587/25
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _truthy("SMTP_STARTTLS", False)
    SMTP_SSL = _truthy("SMTP_SSL", False)
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "10"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "")
    MAIL_MAX_ATTEMPTS = int(os.environ.get("MAIL_MAX_ATTEMPTS", "8"))
    # How many reverse proxies (nginx) stand in front: their X-Forwarded-* headers are trusted,
    # so rate limits and the audit trail see the real client address. 0 = none (direct).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))


from werkzeug.routing import IntegerConverter  # noqa: E402


class _IdConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _configure_engine(app: Flask) -> None:
    engine = db.engine
    if engine.dialect.name == "sqlite":
        # RELIABILITY A1: WAL, FULL sync, FKs on, and BEGIN IMMEDIATE so writers queue
        # on busy_timeout instead of failing (Python 3.11's sqlite3 has no autocommit attr).
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            from blueprints.core.sqlite_tx import begin_sql

            conn.exec_driver_sql(begin_sql())


def _check_config(app: Flask) -> None:
    """Refuse to start in production on settings that would be unsafe (tests and debug runs are spared)."""
    if app.config.get("TESTING") or app.config.get("DEBUG"):
        return
    if app.config.get("SMTP_HOST") and not app.config.get("PUBLIC_BASE_URL"):
        # Mail links are built from PUBLIC_BASE_URL, never from the request's Host header (blueprints/core/mail.py).
        raise RuntimeError("PUBLIC_BASE_URL must be set when SMTP_HOST is: the links in e-mails are built from it")


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), static_folder="static")
    app.config.from_object(Config)
    app.config["SECRET_KEY"] = _secret_key()
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url()
    if overrides:
        app.config.update(overrides)
    _check_config(app)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        opts.setdefault("connect_args", {"timeout": 30})
    else:
        opts.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts
    if app.config["COOKIE_SECURE"]:
        app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_NAME="__Host-session")

    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    # <int:...> ids are bounded to the database's INTEGER range: a huge id is a 404, not a 500.
    app.url_map.converters["int"] = _IdConverter

    logging.basicConfig(level=app.config["LOG_LEVEL"])
    app.logger.setLevel(app.config["LOG_LEVEL"])

    db.init_app(app)
    with app.app_context():
        _configure_engine(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories=str(BASE_DIR / "translations"))

    _register_login(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_hooks(app)
    _register_errors(app)
    from blueprints.core import querycount

    querycount.init_app(app)  # X-Query-Count for `make bench`; off unless QUERY_COUNT_HEADER=1

    from cli import register_cli

    register_cli(app)
    return app


def _select_locale() -> str:
    if not has_request_context():  # a CLI command or a job rendering a PDF
        return "zh_Hans"
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    lang = session.get("lang")
    return lang if lang in LOCALES else "zh_Hans"


def _register_login(app: Flask) -> None:
    from blueprints.core.htmx import is_htmx
    from htmx_flask import make_response as hx_response

    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.session_protection = None  # sessions are revoked by session_version instead

    @login_manager.user_loader
    def load_user(ident: str):
        try:
            uid, version = (int(x) for x in ident.split(":", 1))
        except ValueError:
            return None
        user = db.session.get(User, uid)
        if user is None or not user.is_active or user.session_version != version:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, url_for

        target = request.full_path if request.method == "GET" else request.path
        if is_htmx():
            current = request.headers.get("HX-Current-URL", "")
            from urllib.parse import urlsplit

            parts = urlsplit(current)
            target = parts.path + ("?" + parts.query if parts.query else "") if current else "/"
            resp = hx_response("", 204, redirect=url_for("auth.login", next=safe_next(target)))
            return resp
        return redirect(url_for("auth.login", next=safe_next(target.rstrip("?"))))


def _register_blueprints(app: Flask) -> None:
    from blueprints import auth, public, team
    from blueprints.api import bp as api_bp
    from blueprints.city import bp as city_bp
    from blueprints.common import bp as common_bp
    from blueprints.enterprise import bp as enterprise_bp
    from blueprints.expert import bp as expert_bp
    from blueprints.province import bp as province_bp
    from blueprints.supplier import bp as supplier_bp

    for bp in (auth.bp, public.bp, team.bp, common_bp, enterprise_bp, supplier_bp, city_bp, province_bp, expert_bp, api_bp):
        app.register_blueprint(bp)
    # The API authenticates by a bearer token in a header, which a browser never sends by itself: no CSRF.
    csrf.exempt(api_bp)


def _register_template_helpers(app: Flask) -> None:
    from blueprints.core import money, timeutil, workflow
    from blueprints.core.nav import nav_for, unread_notices

    app.jinja_env.filters["yuan"] = money.yuan
    app.jinja_env.filters["wan"] = money.wan_shown
    app.jinja_env.filters["local"] = lambda v, fmt="%Y-%m-%d %H:%M": timeutil.local(v).strftime(fmt) if v else "—"
    app.jinja_env.filters["date"] = lambda v: v.strftime("%Y-%m-%d") if v else "—"
    from flask_babel import gettext

    app.jinja_env.filters["status_label"] = lambda s: gettext(workflow.STATUS_LABELS.get(str(s), str(s)))
    app.jinja_env.filters["status_badge"] = lambda s: workflow.STATUS_BADGE.get(str(s), "muted")
    # a text made in Python (a form label, an error, a label from a table), shown in the chosen language
    app.jinja_env.filters["tr"] = lambda s: gettext(str(s)) if s else s
    app.jinja_env.filters["action_label"] = lambda a: gettext(workflow.ACTION_LABELS.get(str(a), str(a)))
    app.jinja_env.filters["event_label"] = lambda ev: gettext(workflow.event_label(ev))
    def actor_label(ev) -> str:
        """Who acted and for which body (ROLE-6), e.g. "第三方机构 · 代广州市"."""
        from models import ROLE_LABELS, City, Role

        if not ev.actor_role:
            return ""
        if "city_names" not in g:
            g.city_names = dict(db.session.execute(db.select(City.code, City.name)).all())
        body = ev.body or ""
        where = ""
        if body.startswith("city:"):
            where = g.city_names.get(body[5:], body[5:])
        elif body == "province":
            where = gettext("省工业和信息化厅")
        label = ROLE_LABELS.get(Role(ev.actor_role), ev.actor_role) if ev.actor_role in Role._value2member_map_ else ev.actor_role
        label = gettext(str(label))
        if ev.actor_role == Role.OPERATOR:
            return f"{label} · {gettext('代%(where)s', where=where)}" if where else label
        return f"{label} · {where}" if where and ev.actor_role == Role.CITY else label

    app.jinja_env.filters["actor_label"] = actor_label
    if app.debug or app.testing:
        from jinja2 import StrictUndefined

        app.jinja_env.undefined = StrictUndefined

    @app.context_processor
    def _globals():
        from models import ROLE_LABELS

        authed = has_request_context() and current_user.is_authenticated  # templates render in CLI/jobs too
        return {
            "nav_items": nav_for(current_user) if authed else [],
            "unread_count": unread_notices(current_user) if authed else 0,
            "role_labels": ROLE_LABELS,
            "locales": LOCALES,
            "current_locale": _select_locale(),
            "today": timeutil.today(),
            "request_id": getattr(g, "request_id", ""),
        }


def _register_hooks(app: Flask) -> None:
    from blueprints.core import sqlite_tx
    from blueprints.core.access import enforce
    from blueprints.core.htmx import flashes_to_trigger
    from blueprints.core.timeutil import now

    @app.before_request
    def _request_id():
        g.request_id = uuid.uuid4().hex[:12]
        # Load the user afresh for every request, even when an outer app context
        # (a test, a CLI command) is reused across requests.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)
        g.pop("_flask_babel", None)  # the locale is chosen afresh too

    @app.before_request
    def _reads_do_not_lock():
        # SQLite: a GET only reads (R11), so its transaction begins DEFERRED, as a WAL reader that
        # never holds the write lock while the page renders; the few GETs that write (rate limits)
        # end the read and begin their own write transaction (blueprints/core/sqlite_tx.py).
        if request.method in ("GET", "HEAD"):
            g._sqlite_deferred = sqlite_tx.DEFERRED.set(True)

    @app.teardown_request
    def _reads_reset(_exc):
        token = g.pop("_sqlite_deferred", None)
        if token is not None:
            sqlite_tx.DEFERRED.reset(token)

    @app.before_request
    def _idle_timeout():
        if not current_user.is_authenticated:
            return None
        stamp = now().timestamp()
        last = session.get("seen", stamp)
        started = session.get("login_at", stamp)
        idle = app.config["SESSION_IDLE_MINUTES"] * 60
        if stamp - last > idle or stamp - started > app.permanent_session_lifetime.total_seconds():
            logout_user()
            session.clear()
            return login_manager.unauthorized()
        # Refreshed at most once a minute: a session that changes on every request is re-signed
        # and re-sent (Set-Cookie) on every response; the idle limit stays exact to the minute.
        if stamp - last >= 60 or "seen" not in session:
            session["seen"] = stamp
        return None

    from blueprints.core import two_factor

    app.before_request(two_factor.gate)  # R21: a session past the password only reaches the code step
    app.context_processor(two_factor.template_globals)
    app.before_request(enforce)

    @app.after_request
    def _headers(resp):
        resp = flashes_to_trigger(resp)
        h = resp.headers
        h.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "strict-origin-when-cross-origin"
        h["X-Frame-Options"] = "DENY"
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        h["Permissions-Policy"] = "geolocation=(), microphone=()"
        if request.endpoint != "static" and "Cache-Control" not in h:
            h["Cache-Control"] = "no-store" if current_user.is_authenticated else "no-cache"
        h["X-Request-Id"] = getattr(g, "request_id", "")
        return resp

    @app.teardown_request
    def _rollback_on_error(exc):
        if exc is not None:
            db.session.rollback()


def _register_errors(app: Flask) -> None:
    from blueprints.core.htmx import is_htmx
    from blueprints.core.workflow import NotAllowed
    from htmx_flask import make_response as hx_response

    messages = {
        400: "请求无效",
        403: "您没有权限访问该页面或执行该操作",
        404: "页面或记录不存在",
        405: "不支持该请求方式",
        409: "该记录已被他人处理或状态已变化，请刷新后重试",
        413: "上传的内容过大",
        422: "提交的内容有误",
        429: "操作过于频繁，请稍后再试",
        500: "服务器出错了，请稍后再试",
    }

    def render_error(code: int, message: str | None = None):
        message = message or messages.get(code, "出错了")
        if request.path.startswith("/api/"):
            return jsonify(error=message, request_id=g.get("request_id", "")), code
        if is_htmx():
            resp = hx_response(
                message, code, trigger={"toast": [{"level": "error", "message": message}]}, reswap="none"
            )
            return resp
        return render_template("error.html", code=code, message=message), code

    for code in messages:
        if code == 500:
            continue
        app.register_error_handler(code, lambda e, c=code: render_error(c, getattr(e, "description_zh", None)))

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return render_error(400, "页面已过期（安全令牌无效），请刷新后重试")

    @app.errorhandler(NotAllowed)
    def _not_allowed(e):
        db.session.rollback()
        return render_error(409, str(e))

    from sqlalchemy.orm.exc import StaleDataError

    @app.errorhandler(StaleDataError)
    def _stale(e):
        db.session.rollback()
        return render_error(409)

    @app.errorhandler(500)
    def _server_error(e):
        db.session.rollback()
        return render_error(500)

    # F10, R45: the database is unreachable (refused, dropped, pool exhausted). A 503 that says to retry, rendered
    # without the database (no user, no layout that reads it); /healthz answers JSON for the process manager.
    import sqlalchemy.exc as sa_exc

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)
    def _database_unavailable(e):
        from flask import make_response
        from markupsafe import escape

        app.logger.error("database unavailable: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 -- the connection is gone; the pool replaces it later
            pass
        g._login_user = app.login_manager.anonymous_user()  # never ask the database again in this request
        message = "服务暂时不可用，请稍后重试"
        if request.endpoint == "public.healthz":
            resp = jsonify(status="unavailable", database="unreachable")
        elif request.path.startswith("/api/"):
            resp = jsonify(error=message, request_id=g.get("request_id", ""))
        elif is_htmx():
            resp = hx_response(message, 503, trigger={"toast": [{"level": "error", "message": message}]},
                               reswap="none")
        else:
            resp = make_response(
                '<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>服务暂时不可用</title></head>'
                f"<body><h1>{message}</h1><p>请求编号 {escape(g.get('request_id', ''))}</p></body></html>")
            resp.mimetype = "text/html"
        resp.status_code = 503
        resp.headers["Retry-After"] = "30"
        return resp
