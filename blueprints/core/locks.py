"""The per-enterprise-per-cycle lock that serialises submission and issuance (AMT-2, AMT-3 under concurrency).

Both the application's submission (it changes what the enterprise's pending applications hold) and the
voucher's issuance take it, so the two never interleave.
"""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from models import EnterpriseCycleCounter, db


def ensure_counter(enterprise_id: int, cycle_id: int) -> None:
    """The per-enterprise-per-cycle row that issuance locks (created once, race-safe)."""
    exists = db.session.execute(
        db.select(EnterpriseCycleCounter.id).where(
            EnterpriseCycleCounter.enterprise_id == enterprise_id, EnterpriseCycleCounter.cycle_id == cycle_id)
    ).first()
    if exists:
        return
    try:
        with db.session.begin_nested():
            db.session.add(EnterpriseCycleCounter(enterprise_id=enterprise_id, cycle_id=cycle_id, issuances=0))
    except IntegrityError:
        pass  # another transaction created it first


def lock_enterprise_cycle(enterprise_id: int, cycle_id: int) -> None:
    """Serialise every issuance for one enterprise in one cycle (AMT-2/AMT-3 under concurrency)."""
    ensure_counter(enterprise_id, cycle_id)
    db.session.execute(
        db.update(EnterpriseCycleCounter)
        .where(EnterpriseCycleCounter.enterprise_id == enterprise_id, EnterpriseCycleCounter.cycle_id == cycle_id)
        .values(issuances=EnterpriseCycleCounter.issuances + 1)
        .execution_options(synchronize_session=False)
    )
