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
        assert diff == [], f"models and migrations differ: {diff}"
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
        downgrade(revision="base")
        upgrade()
        assert "audit_event" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
