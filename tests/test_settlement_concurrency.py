"""Settlement guarantees under concurrency (AMT-4, SET-6), on both engines.

As tests/test_issuance_concurrency.py: one thread per actor, each with its own app context, session and
database connection, released together by a barrier; each commits for real against the test database
file (SQLite) or the test's own PostgreSQL database (TEST_DATABASE_URL). The threads call the settlement
service as the routes do (a savepoint around submit, one commit per request). Nothing is read before the
barrier: on SQLite every transaction begins IMMEDIATE and would hold the write lock while waiting.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from blueprints.core import settlement, uploads, workflow
from blueprints.core.application import Refused
from models import BonusGrant, InvoiceClaim, Role, SetStatus, Settlement, User, db
from tests.factories import contract_pdf_bytes, make_enterprise, make_settlement, make_user, make_voucher, make_world

pytestmark = pytest.mark.timeout(180)


def run_parallel(app, jobs: list[tuple]) -> list[str]:
    """Run every (function, settlement id, user id) at the same moment, each in its own app context and
    session, committing as a route does; returns "ok" or the refusal's message per job."""
    db.session.commit()
    db.session.close()  # the test thread holds no transaction (SQLite's write lock) while the threads run
    barrier = threading.Barrier(len(jobs))

    def go(job):
        fn, st_id, user_id = job
        with app.app_context():
            barrier.wait()
            try:
                st = db.session.get(Settlement, st_id)
                user = db.session.get(User, user_id)
                try:
                    with db.session.begin_nested():
                        fn(st, user)
                    result = "ok"
                except (Refused, workflow.NotAllowed) as exc:
                    result = str(exc)
                db.session.commit()
                return result
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(go, jobs))


def test_the_bonus_is_granted_once_under_parallel_approvals(app, engine_name):
    # rule: AMT-4
    w = make_world()
    e = w.enterprise
    e.dcmm_certified = True
    e.dcmm_subsidy_received = False
    e.dcmm_file_id = uploads.store_bytes(contract_pdf_bytes("贯标证书"), mime="application/pdf", name="贯标证书.pdf",
                                         kind="dcmm_file", owner_type="enterprise", owner_id=e.id, user_id=None).id
    users = dict(w.users, province=make_user(Role.PROVINCE))
    sts = [make_settlement(make_voucher(e, w.supplier, w.cycle, users=users), stage="city_review", users=users)
           for _ in range(2)]
    ids, e_id = [st.id for st in sts], e.id
    results = run_parallel(app, [(settlement.approve, sid, w.city_user.id) for sid in ids])
    assert results == ["ok", "ok"], results
    grants = db.session.execute(db.select(BonusGrant)).scalars().all()
    assert len(grants) == 1 and grants[0].enterprise_id == e_id and grants[0].amount_fen == 20_000_000
    rows = db.session.execute(db.select(Settlement).where(Settlement.id.in_(ids))).scalars().all()
    assert all(st.status == SetStatus.APPROVED for st in rows)
    with_bonus = [st for st in rows if st.bonus_fen > 0]
    assert len(with_bonus) == 1 and with_bonus[0].id == grants[0].settlement_id
    assert with_bonus[0].bonus_fen == 20_000_000


def test_an_invoice_is_claimed_once_under_parallel_submissions(app, engine_name):
    # rule: SET-6
    w = make_world()
    users = dict(w.users, province=make_user(Role.PROVINCE))
    drafts = []
    for e in (w.enterprise, make_enterprise()):
        u = dict(users) if e.id == w.enterprise.id else {k: v for k, v in users.items() if k != "enterprise"}
        v = make_voucher(e, w.supplier, w.cycle, users=u)
        drafts.append(make_settlement(v, stage="draft", users=u, invoices=[{"number": "87654321"}]))
    assert len({d.invoices[0].file.sha256 for d in drafts}) == 2  # the same invoice, two different files
    ids = [d.id for d in drafts]
    uscc = w.supplier.uscc
    ent_users = [db.session.execute(db.select(User.id).where(User.enterprise_id == d.enterprise_id)
                                    .order_by(User.id).limit(1)).scalar_one() for d in drafts]
    results = run_parallel(app, [(settlement.submit, sid, uid) for sid, uid in zip(ids, ent_users)])
    assert results.count("ok") == 1, results
    refused = next(r for r in results if r != "ok")
    assert "87654321" in refused and "已用于另一份兑现申请" in refused
    winner = ids[results.index("ok")]
    loser = ids[1 - results.index("ok")]
    assert db.session.get(Settlement, winner).status == SetStatus.SUPPLIER_REVIEW
    lost = db.session.get(Settlement, loser)
    assert lost.status == SetStatus.DRAFT and lost.submitted_at is None
    claims = db.session.execute(db.select(InvoiceClaim.settlement_id, InvoiceClaim.key)).all()
    won = db.session.get(Settlement, winner)
    assert sorted(claims) == sorted([(winner, f"no:{uscc}:4400261130:87654321"),
                                     (winner, f"file:{won.invoices[0].file.sha256}")])
