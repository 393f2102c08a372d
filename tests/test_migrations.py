"""`flask db upgrade` on an empty database gives exactly the schema the models declare."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from models import db
from tests.conftest import PG_URL, _normalise


@pytest.fixture
def empty_db_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    base = sa.engine.make_url(_normalise(PG_URL))
    name = f"m_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_matches_models_without_drift(empty_db_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, db.metadata)
        if db.engine.dialect.name == "sqlite":
            # SQLite does not enforce VARCHAR lengths: 0002 widens stored_file.mime on PostgreSQL only.
            diff = [d for d in diff if not _is_mime_width(d)]
        # PostgreSQL spells an indexed expression its own way ("status::text <> ..."), which alembic
        # reads as a change; the test below checks those indexes instead.
        diff = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index")
                                        and d[1].name in EXPRESSION_INDEXES)]
        assert diff == [], f"models and migrations differ: {diff}"
        db.engine.dispose()


def test_an_in_process_upgrade_leaves_the_apps_loggers_working(empty_db_url, tmp_path):
    """alembic's logging set-up must not silence loggers that exist already (a failed job would go unlogged)."""
    import logging
    jobs_log = logging.getLogger("blueprints.core.jobs")
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    seen = []
    catcher = logging.Handler(logging.WARNING)
    catcher.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger().addHandler(catcher)
    try:
        jobs_log.warning("job 1 failed: probe")
    finally:
        logging.getLogger().removeHandler(catcher)
    assert not jobs_log.disabled and seen == ["job 1 failed: probe"]


EXPRESSION_INDEXES = {"ix_enterprise_review_order", "ix_application_city_order", "ix_application_city_status_order",
                      "ix_application_supplier_order"}


def _is_mime_width(d) -> bool:
    return (isinstance(d, list) and len(d) == 1 and d[0][0] == "modify_type" and d[0][2:4] == ("stored_file", "mime"))


def test_expression_indexes_exist_and_serve_the_queues(empty_db_url, tmp_path):
    """Autogenerate cannot compare expression indexes: check the migration created each one the
    models declare, and (SQLite) that the city queue reads its index in order, with no sort."""
    from blueprints.city.applications import QUEUE_ORDER
    from models import Application

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        declared = {ix.name for t in db.metadata.sorted_tables for ix in t.indexes if ix.name}
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "sqlite":
                present = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
                stmt = (sa.select(Application.id).where(
                    Application.city_code == "440100", Application.submitted_at.is_not(None),
                    Application.confirmed_at.is_not(None)).order_by(*QUEUE_ORDER).limit(21))
                sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert "ix_application_city_order" in plan and "TEMP B-TREE" not in plan, plan
            else:
                present = set(conn.exec_driver_sql("SELECT indexname FROM pg_indexes").scalars())
        assert declared - present == set()
        db.engine.dispose()


def test_migrated_audit_trail_is_append_only(empty_db_url, tmp_path):
    # rule: SUP-1
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        from blueprints.core import audit

        audit.record("user", 1, "probe", reason="x")
        db.session.commit()
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text("UPDATE audit_event SET reason = 'y'"))
            db.session.commit()
        db.session.rollback()
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text("DELETE FROM audit_event"))
            db.session.commit()
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_downgrade_to_base_and_up_again(empty_db_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        # a finished export job with its xlsx file: the downgrade must not trip over either
        from models import Job, StoredFile, User

        u = User(username="m", role="city", password_hash="x", display_name="m")
        db.session.add(u)
        db.session.flush()
        f = StoredFile(sha256="0" * 64, size=1, mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        db.session.add(f)
        db.session.flush()
        db.session.add(Job(kind="voucher_export", user_id=u.id, status="done", result_file_id=f.id))
        db.session.commit()
        db.session.remove()
        downgrade(revision="base")
        upgrade()
        assert "audit_event" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
