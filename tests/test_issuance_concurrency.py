"""Concurrent approvals never exceed the city's quota or the enterprise's cap (CYC-3, AMT-2, AMT-3, APP-5).

Real parallel HTTP requests: one thread per request, each with its own test client, app context,
session and database connection, released together by a barrier; every request commits for
real against the test database file (SQLite) or the test's own PostgreSQL database (run the
suite with TEST_DATABASE_URL for that engine).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from models import AppStatus, Application, CityTarget, Voucher, db
from tests.factories import make_application, make_enterprise, make_world

pytestmark = pytest.mark.timeout(180)


def run_parallel(clients_and_urls: list[tuple]) -> list[int]:
    """POST every (client, url) at the same moment; return the status codes."""
    db.session.commit()
    db.session.close()  # the test thread holds no transaction (SQLite's write lock) while requests run
    barrier = threading.Barrier(len(clients_and_urls))

    def go(pair):
        client, url = pair
        barrier.wait()
        return client.post(url).status_code

    with ThreadPoolExecutor(len(clients_and_urls)) as pool:
        return list(pool.map(go, clients_and_urls))


def test_parallel_approvals_never_exceed_the_city_quota(app, login, engine_name):
    # rule: CYC-3, APP-5
    w = make_world(quota_fen=300_000_00)
    apps = []
    for _ in range(8):
        e = make_enterprise()
        apps.append(make_application(e, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                                     users={"supplier": w.sup_user, "city": w.city_user}))
    db.session.commit()
    pairs = [(login(w.city_user), f"/city/applications/{a.id}/approve") for a in apps]
    target_id = w.target.id
    codes = run_parallel(pairs)
    assert sorted(codes) == [303] * 3 + [409] * 5, codes
    target = db.session.get(CityTarget, target_id)
    faces = db.session.execute(db.select(Voucher.face_value_fen)).scalars().all()
    assert target.issued_fen == sum(faces) == 300_000_00 <= target.quota_fen
    approved = db.session.execute(db.select(db.func.count()).where(Application.status == AppStatus.APPROVED)).scalar()
    assert approved == len(faces) == 3


def test_parallel_approvals_never_exceed_the_enterprise_cap(app, login, engine_name):
    # rule: AMT-2, AMT-3
    w = make_world(cap_fen=250_000_00)
    apps = [make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                             users=w.users) for _ in range(6)]
    db.session.commit()
    pairs = [(login(w.city_user), f"/city/applications/{a.id}/approve") for a in apps]
    target_id = w.target.id
    codes = run_parallel(pairs)
    assert set(codes) <= {303, 409} and 303 in codes, codes
    faces = db.session.execute(db.select(Voucher.face_value_fen)).scalars().all()
    assert 0 < sum(faces) <= 250_000_00
    assert all(f > 0 for f in faces) and len(faces) == codes.count(303)
    assert db.session.get(CityTarget, target_id).issued_fen == sum(faces)


def test_the_same_application_approved_in_parallel_issues_one_voucher(app, login, engine_name):
    # rule: APP-5, APP-6
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00, users=w.users)
    db.session.commit()
    pairs = [(login(w.city_user), f"/city/applications/{a.id}/approve") for _ in range(6)]
    target_id = w.target.id
    codes = run_parallel(pairs)
    assert codes.count(303) == 1 and codes.count(409) == 5, codes
    assert db.session.execute(db.select(db.func.count(Voucher.id))).scalar_one() == 1
    assert db.session.get(CityTarget, target_id).issued_fen == 100_000_00


def test_parallel_submissions_of_one_contract_claim_it_once(app, login, engine_name):
    # rule: ELIG-6, APP-2
    w = make_world()
    drafts = [make_application(w.enterprise, w.supplier, w.cycle, stage="draft", contract_no="HT-SAME",
                               users=w.users) for _ in range(4)]
    db.session.commit()
    data = {"contract_no": "HT-SAME", "contract_signed_on": "2025-01-10", "contract_fee": "150000",
            "catalog_item_id": str(w.item.id), "supplier_id": str(w.supplier.id), "place_in_guangdong": "y",
            "single_fund_declared": "y", "do": "submit"}
    clients = [login(w.ent_user) for _ in drafts]
    ids = [d.id for d in drafts]
    db.session.commit()
    db.session.close()
    barrier = threading.Barrier(len(drafts))

    def go(i):
        barrier.wait()
        return clients[i].post(f"/enterprise/applications/{ids[i]}/edit",
                               data=dict(data, nonce=f"n-{i}")).status_code

    with ThreadPoolExecutor(len(drafts)) as pool:
        codes = list(pool.map(go, range(len(drafts))))
    assert codes.count(303) == 1 and codes.count(422) == 3, codes
    submitted = db.session.execute(db.select(db.func.count()).where(
        Application.status == AppStatus.SUPPLIER_REVIEW)).scalar_one()
    assert submitted == 1
