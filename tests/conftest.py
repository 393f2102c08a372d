"""Fixtures: an app on a real database file (SQLite) or a private PostgreSQL database.

The engine is chosen by TEST_DATABASE_URL (scripts/test.sh sets it for the PostgreSQL
pass). On PostgreSQL a database of its own is created for the run, so parallel runs on
one server never collide. Each test starts from an empty schema: SQLite copies a
template file, PostgreSQL truncates every table.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

# Background jobs run inside the request that starts them (huey's immediate mode); the tests that
# need a real consumer start their own processes with JOBS_IMMEDIATE=0.
os.environ.setdefault("JOBS_IMMEDIATE", "1")
os.environ.setdefault("INSTANCE_DIR", str(Path(__file__).resolve().parent.parent / "instance" / "test"))

from app import create_app  # noqa: E402
from blueprints.core import audit  # noqa: E402
from models import Role, db  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _normalise(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@pytest.fixture(scope="session")
def engine_name() -> str:
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def db_template(tmp_path_factory):
    """Build the schema once: a template SQLite file, or a fresh PostgreSQL database."""
    if PG_URL:
        base = sa.engine.make_url(_normalise(PG_URL))
        name = f"t_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            db.create_all()
            with db.engine.begin() as conn:
                audit.install_guards(conn)
            db.engine.dispose()
        yield {"url": url}
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("schema") / "template.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TESTING": True})
        with app.app_context():
            db.create_all()
            with db.engine.begin() as conn:
                audit.install_guards(conn)
            db.engine.dispose()
        yield {"path": path}


@pytest.fixture
def db_url(db_template, tmp_path) -> str:
    if "url" in db_template:
        eng = sa.create_engine(db_template["url"])
        with eng.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            # The audit table refuses TRUNCATE (audit.TRUNCATE_GUARD_SQL); the tests' superuser steps around
            # its trigger for this cleanup only, which the app's own role cannot do.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        eng.dispose()
        return db_template["url"]
    target = tmp_path / "test.db"
    shutil.copy(db_template["path"], target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": db_url,
            "WTF_CSRF_ENABLED": False,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "AUDIT_CHECKPOINT_FILE": str(tmp_path / "audit-checkpoints.txt"),  # each test its own
            "SECRET_KEY": "test-secret",
            "SERVER_NAME": None,
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _login(client, user) -> None:
    from blueprints.core.timeutil import now

    with client.session_transaction() as s:
        s["_user_id"] = user.get_id()
        s["_fresh"] = True
        s["login_at"] = s["seen"] = now().timestamp()
        s["mfa"] = user.id  # past the second factor too (R21; tests/test_two_factor.py walks the real steps)


@pytest.fixture
def login(app):
    """login(user) -> a test client logged in as that user (a new client each call)."""

    def do(user):
        c = app.test_client()
        _login(c, user)
        return c

    return do


@pytest.fixture
def login_as(app, login):
    """login_as(role, **scope) -> (client, user) for a fresh user of that role."""
    from tests.factories import make_user

    def do(role: Role, **kw):
        user = make_user(role, **kw)
        db.session.commit()
        return login(user), user

    return do


class QueryCounter:
    def __init__(self):
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, *args):
        self.count += 1
        self.statements.append(statement)


@pytest.fixture
def count_queries(app):
    """with count_queries() as q: ...; q.count is the number of SQL statements run."""
    import contextlib

    @contextlib.contextmanager
    def counting():
        counter = QueryCounter()
        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)

    return counting
