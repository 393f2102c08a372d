"""The benchmark's data set (scripts/bench/seed.py, `make bench`) is a world the app accepts:
a valid audit chain, counters and quotas that match the rows, and pages that show them."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from blueprints.core import audit
from models import (
    Application, AppStatus, CityTarget, ContractClaim, Enterprise, EnterpriseCycleCounter, Notice, User, Voucher, db,
)

_SPEC = importlib.util.spec_from_file_location(
    "bench_seed", Path(__file__).resolve().parent.parent / "scripts" / "bench" / "seed.py")
seed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(seed)


@pytest.fixture
def world(app):
    return seed.build(50, pdfs=False)


def _count(model, *where) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar_one()


def test_tiny_seed_has_the_shape_of_the_province(world):
    c = world["counts"]
    assert _count(Voucher) == 50 and c["voucher"] == 50
    assert _count(Application) == c["application"] > 50
    assert _count(Voucher, Voucher.city_code == "440100") == c["voucher_guangzhou"] == round(50 * 10_700 / 50_000)
    assert _count(Enterprise, Enterprise.status == "approved") == 10
    assert _count(Notice) == c["notice"] >= 282
    statuses = set(db.session.execute(db.select(Application.status).distinct()).scalars())
    assert {AppStatus.APPROVED, AppStatus.CITY_REVIEW, AppStatus.SUPPLIER_REVIEW} <= statuses
    logins = set(db.session.execute(db.select(User.username).where(User.username.in_(world["logins"].values())))
                 .scalars())
    assert logins == set(world["logins"].values())


def test_seeded_audit_trail_is_one_valid_chain(world):
    # rule: SUP-1
    assert _count(audit.AuditEvent) == world["counts"]["audit_event"] >= 310
    result = audit.verify()
    assert result.intact and result.problems == []
    assert result.checked == world["counts"]["audit_event"]


def test_counters_and_quotas_match_the_rows(world):
    # rule: CYC-3
    for t in db.session.execute(db.select(CityTarget)).scalars():
        issued = db.session.execute(
            db.select(db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0))
            .where(Voucher.city_code == t.city_code, Voucher.status == "issued")).scalar_one()
        assert t.issued_fen == issued <= t.quota_fen
    # rule: ELIG-6 -- every live submitted application stands on its own claimed contract
    live = _count(Application, Application.status.in_(("supplier_review", "city_review", "returned", "approved")))
    assert _count(ContractClaim) == live
    # rule: AMT-3 -- no enterprise holds more than the catalog's cumulative cap
    sums = db.session.execute(db.select(db.func.sum(Voucher.face_value_fen)).group_by(Voucher.enterprise_id)).scalars()
    assert max(sums) <= seed.CUMULATIVE_CAP_FEN
    assert _count(EnterpriseCycleCounter) == len(set(db.session.execute(
        db.select(Application.enterprise_id).where(Application.submitted_at.is_not(None))).scalars()))


def test_city_officer_sees_the_seeded_vouchers(world, login):
    officer = db.session.execute(db.select(User).where(User.username == "city_guangzhou")).scalar_one()
    resp = login(officer).get("/city/vouchers")
    assert resp.status_code == 200
    first = db.session.execute(db.select(Voucher.id).where(Voucher.city_code == "440100")
                               .order_by(Voucher.issued_at.desc(), Voucher.id.desc()).limit(1)).scalar_one()
    assert f'id="voucher-{first}-row"'.encode() in resp.data


def test_query_count_header_is_opt_in_and_per_request(world, app, db_url, login, tmp_path):
    from app import create_app
    from tests.conftest import _login

    officer = db.session.execute(db.select(User).where(User.username == "city_guangzhou")).scalar_one()
    assert "X-Query-Count" not in login(officer).get("/city/vouchers").headers  # off by default
    counting = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "test-secret",
                           "UPLOAD_DIR": str(tmp_path / "uploads"), "QUERY_COUNT_HEADER": True})
    with counting.app_context():
        client = counting.test_client()
        _login(client, officer)
        counts = [int(client.get("/city/vouchers").headers["X-Query-Count"]) for _ in range(2)]
        db.session.remove()
        db.engine.dispose()
    # The same page twice runs the same statements: the count starts afresh for every request.
    assert counts[0] == counts[1] > 0
