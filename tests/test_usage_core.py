"""The usage core (blueprints/core/usage.py): the N-day rule on recorded days, refresh, and the health
notices before the settlement deadline (VER-3, SET-5)."""
from __future__ import annotations

import datetime as dt

from blueprints.core import usage
from models import Notice, Role, SetStatus, UsageDay, User, VoucherUsage, db
from tests.factories import make_settlement, make_user, make_voucher


def _days(v, n, start_after=1):
    signed = v.application.contract_signed_on
    return [(v.id, signed + dt.timedelta(days=start_after + i)) for i in range(n)]


def test_n_minus_one_days_is_not_verified_and_n_is(app):
    # rule: VER-3
    v = make_voucher()
    v.cycle.verification_days = 5
    assert usage.record_days(_days(v, 4), None) == usage.Recorded(4, [v.id])
    assert usage.refresh([v.id]) == []
    st = usage.status(v)
    assert (st.days, st.needed, st.verified) == (4, 5, False) and st.text.startswith("已计 4 / 5 天")
    assert usage.record_days(_days(v, 5), None).days == 1  # four known, one new
    assert usage.refresh([v.id]) == [v.id]
    u = db.session.get(VoucherUsage, v.id)
    assert usage.status(v).verified and u.verified_at is not None and u.days == 5
    assert u.first_day == v.application.contract_signed_on + dt.timedelta(days=1)
    assert db.session.execute(db.select(db.func.count()).select_from(UsageDay)).scalar_one() == 5


def test_a_waiting_settlement_moves_to_the_city_when_its_voucher_is_verified(app):
    # rule: SET-5
    st = make_settlement(stage="verification")
    v = st.voucher
    usage.record_days(_days(v, v.cycle.verification_days), None)
    usage.refresh([v.id])
    assert st.status == SetStatus.CITY_REVIEW and st.verified_how == "usage" and st.due_on is not None


def test_the_override_works_either_way(app):
    # rule: VER-3
    v = make_voucher()
    prov = make_user(Role.PROVINCE)
    usage.record_days(_days(v, v.cycle.verification_days), None)
    usage.refresh([v.id])
    assert usage.is_verified(v)
    usage.override(v, prov, "not_verified", "现场核查：服务未在使用")
    assert not usage.is_verified(v) and "省级核定为未完成" in usage.status(v).text
    usage.override(v, prov, "", "")
    assert usage.is_verified(v)


def test_health_notices_go_once_to_both_sides_for_vouchers_still_short(app):
    # rule: VER-3
    v = make_voucher()
    done = make_voucher(enterprise=v.enterprise, supplier=v.supplier, cycle=v.cycle)
    usage.record_days(_days(v, 2), None)
    usage.record_days(_days(done, done.cycle.verification_days), None)
    usage.refresh([v.id, done.id])
    deadline = v.cycle.settlement_deadline
    assert usage.health_notices(on=deadline - dt.timedelta(days=16)) == 0  # too early
    assert usage.health_notices(on=deadline - dt.timedelta(days=15)) == 1  # only the voucher still short
    assert usage.health_notices(on=deadline - dt.timedelta(days=14)) == 0  # once per voucher
    ent_users = db.session.execute(db.select(User.id).where(User.enterprise_id == v.enterprise_id)).scalars().all()
    sup_users = db.session.execute(db.select(User.id).where(User.supplier_id == v.supplier_id)).scalars().all()
    for ids, title in ((ent_users, "服务券上云用量尚未达标"), (sup_users, "客户服务券上云用量尚未达标")):
        got = db.session.execute(db.select(Notice).where(Notice.user_id.in_(ids), Notice.title == title)).scalars().all()
        assert got and "已计 2 / 5 天" in got[0].body


def test_a_domain_name_is_not_an_enterprise_side_address(app):
    # rule: VER-1 -- domains are the supplier's cloud side; a line number is still accepted
    import pytest

    with pytest.raises(usage.AddressError, match="是域名"):
        usage.parse_declared("api.example.com")
    assert usage.parse_declared("gz-zx-00123") == ("line", "GZ-ZX-00123")


def test_the_override_says_which_way_on_the_timeline(app):
    # rule: VER-3, SUP-1
    from models import AuditEvent

    v = make_voucher()
    usage.override(v, make_user(Role.PROVINCE), "not_verified", "现场核查：服务未部署")
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "usage_override")).scalar_one()
    assert ev.reason == "核定为未完成：现场核查：服务未部署"


def test_no_health_notice_once_the_settlement_is_approved(app):
    # rule: VER-3 -- the addresses can no longer change: no notice asking to fix them
    st = make_settlement(stage="approved")
    deadline = st.cycle.settlement_deadline
    assert usage.health_notices(on=deadline - dt.timedelta(days=15)) == 0
