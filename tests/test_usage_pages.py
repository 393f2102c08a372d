"""Usage verification on the pages: the enterprise declares its enterprise-side addresses on its
voucher (VER-1), everyone who sees the voucher sees its usage status (VER-3: k of N days, first and last day,
verified or not, the province's override with its reason), the province overrides either way, and a settlement
waiting for verification shows why and moves on once the voucher is verified (SET-5)."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from blueprints.core import usage
from models import AuditEvent, Role, SetStatus, VoucherAddress, VoucherUsage, db
from tests.factories import make_settlement, make_user, make_voucher, make_world

HX = {"HX-Request": "true"}


@pytest.fixture
def w(app):
    world = make_world()
    world.prov_user = make_user(Role.PROVINCE)
    world.users["province"] = world.prov_user
    world.v = make_voucher(world.enterprise, world.supplier, world.cycle, users=world.users)
    db.session.commit()
    return world


def _addresses(v) -> list[str]:
    db.session.expire_all()
    return [a.value for a in usage.addresses_of(v.id)]


def _actions(v) -> list[str]:
    return list(db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "voucher", AuditEvent.entity_id == v.id).order_by(AuditEvent.id)).scalars())


def _set_usage(v, days, first=None, last=None, override="", reason=""):
    u = db.session.get(VoucherUsage, v.id) or VoucherUsage(voucher_id=v.id)
    u.days, u.first_day, u.last_day, u.override, u.override_reason = days, first, last, override, reason
    db.session.add(u)
    db.session.commit()


# --------------------------------------------------------------------------- VER-1: declaring addresses


@pytest.mark.parametrize("typed, ok, shown", [
    ("58.60.1.0/24", True, "58.60.1.0/24"),  # rule: VER-1 an IPv4 range of /24 is the widest allowed
    ("58.60.0.0/23", False, "网段 58.60.0.0/23 过大：IPv4 网段最大为 /24"),
    ("2408:8000:0001::/48", True, "2408:8000:1::/48"),  # normalised
    ("2408:8000::/47", False, "IPv6 网段最大为 /48"),
    ("10.1.2.3", False, "不是公网地址"),  # private
    ("192.168.10.0/24", False, "不是公网地址"),
    ("fd00:1::/48", False, "不是公网地址"),
    ("１．２．３．４", True, "1.2.3.4"),  # full-width digits as typed on a Chinese keyboard
    ("gz-zx-001234", True, "GZ-ZX-001234"),  # a line number (专线号), upper-cased
    ("ab", False, "不是有效的地址或专线号"),
    ("999.1.1.1", False, "不是有效的 IP 地址或网段"),
])
def test_inline_check_shows_the_normalised_value_or_why(w, login, typed, ok, shown):
    # rule: VER-1
    c = login(w.ent_user)
    r = c.get(f"/enterprise/vouchers/{w.v.id}/addresses/check", query_string={"addresses": typed}, headers=HX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f'id="voucher-{w.v.id}-address-check"' in html and "<html" not in html  # the block alone
    assert shown in html
    assert ("check-ok" in html) is ok and ("check-bad" in html) is (not ok)
    assert _addresses(w.v) == []  # nothing saved by a GET


def test_inline_check_of_several_entries_and_one_already_declared(w, login):
    # rule: VER-1
    c = login(w.ent_user)
    c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4"})
    html = c.get(f"/enterprise/vouchers/{w.v.id}/addresses/check",
                 query_string={"addresses": "1.2.3.4，58.60.1.0/24\n10.0.0.1"}, headers=HX).get_data(as_text=True)
    assert "1.2.3.4 已经申报过" in html and "58.60.1.0/24" in html and "10.0.0.1 不是公网地址" in html
    # A plain GET (no htmx) gets the whole voucher page around the result.
    full = c.get(f"/enterprise/vouchers/{w.v.id}/addresses/check", query_string={"addresses": "1.2.3.4"})
    assert full.status_code == 200 and "上云用量" in full.get_data(as_text=True)


def test_several_addresses_at_once_keep_the_good_and_refuse_the_bad_by_name(w, login):
    # rule: VER-1
    c = login(w.ent_user)
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", headers=HX,
               data={"addresses": "58.60.1.0/24\n10.0.0.1, gz-zx-001234；58.60.0.0/16"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert _addresses(w.v) == ["58.60.1.0/24", "GZ-ZX-001234"]
    assert "已添加 58.60.1.0/24" in html and "已添加 GZ-ZX-001234" in html
    assert "“10.0.0.1”未添加" in html and "“58.60.0.0/16”未添加" in html and "过大" in html
    # The refused ones stay in the box to be corrected; the timeline comes along out of band.
    assert "10.0.0.1\n58.60.0.0/16</textarea>" in html
    assert f'id="voucher-{w.v.id}-timeline" hx-swap-oob="true"' in html and "申报企业端地址" in html
    # Every change is on the voucher's timeline, with the value.
    assert _actions(w.v).count("address_add") == 2
    reasons = db.session.execute(db.select(AuditEvent.reason).where(AuditEvent.action == "address_add")).scalars().all()
    assert sorted(reasons) == ["58.60.1.0/24", "GZ-ZX-001234"]


def test_all_bad_is_422_and_a_plain_post_redirects(w, login):
    # rule: VER-1
    c = login(w.ent_user)
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "10.0.0.1"}, headers=HX)
    assert r.status_code == 422 and "不是公网地址" in r.get_data(as_text=True)
    assert c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": " "}, headers=HX).status_code == 422
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/enterprise/vouchers/{w.v.id}")
    page = c.get(f"/enterprise/vouchers/{w.v.id}").get_data(as_text=True)
    assert "<code>1.2.3.4</code>" in page and "已添加 1 个地址或专线号" in page
    # A duplicate is refused by name.
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4"}, headers=HX)
    assert r.status_code == 422 and "1.2.3.4 已经申报过" in r.get_data(as_text=True)
    assert _addresses(w.v) == ["1.2.3.4"]


def test_remove_an_address_is_on_the_timeline(w, login):
    # rule: VER-1
    c = login(w.ent_user)
    c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4\n5.6.7.0/24"})
    a = db.session.execute(db.select(VoucherAddress).where(VoucherAddress.value == "1.2.3.4")).scalar_one()
    page = c.get(f"/enterprise/vouchers/{w.v.id}").get_data(as_text=True)
    assert f'id="voucher-{w.v.id}-address-{a.id}-remove"' in page and "确定删除企业端地址 1.2.3.4" in page
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses/{a.id}/remove", headers=HX)
    assert r.status_code == 200 and "删除企业端地址" in r.get_data(as_text=True)
    assert _addresses(w.v) == ["5.6.7.0/24"]
    assert _actions(w.v)[-1] == "address_remove"
    # Gone already, or another voucher's address: nothing happens.
    assert c.post(f"/enterprise/vouchers/{w.v.id}/addresses/{a.id}/remove").status_code == 303
    assert _addresses(w.v) == ["5.6.7.0/24"]


def test_another_enterprise_cannot_touch_the_addresses(w, login):
    # rule: VER-1, ROLE-8
    other = make_user(Role.ENTERPRISE)
    db.session.commit()
    c = login(other)
    assert c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4"}).status_code == 404
    assert c.get(f"/enterprise/vouchers/{w.v.id}/addresses/check?addresses=1.2.3.4").status_code == 404
    assert _addresses(w.v) == []


def test_editing_is_refused_once_the_settlement_is_approved(w, login):
    # rule: VER-1 editable until its settlement is approved
    c = login(w.ent_user)
    c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "1.2.3.4"})
    a = db.session.execute(db.select(VoucherAddress)).scalar_one()
    make_settlement(w.v, stage="approved", users=w.users)
    db.session.commit()
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "5.6.7.8"}, headers=HX)
    assert r.status_code == 409
    toasts = [t["message"] for t in json.loads(r.headers["HX-Trigger"])["toast"]]
    assert "兑现申请已审核通过，地址不能再修改" in toasts
    assert c.post(f"/enterprise/vouchers/{w.v.id}/addresses/{a.id}/remove", headers=HX).status_code == 409
    assert _addresses(w.v) == ["1.2.3.4"]
    page = c.get(f"/enterprise/vouchers/{w.v.id}").get_data(as_text=True)
    assert "兑现申请已审核通过，地址不能再修改" in page
    assert f'id="voucher-{w.v.id}-address-form"' not in page and "-remove\"" not in page


# --------------------------------------------------------------------------- VER-3: the status everywhere


def test_usage_box_for_every_role(w, login):
    # rule: VER-3 the status is shown wherever the voucher is
    _set_usage(w.v, 3, dt.date(2025, 2, 1), dt.date(2025, 3, 9))
    login(w.ent_user).post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": "58.60.1.0/24"})
    city = make_user(Role.CITY, city_code=w.v.city_code)
    db.session.commit()
    pages = {}
    for role, user in (("enterprise", w.ent_user), ("supplier", w.sup_user), ("city", city), ("province", w.prov_user)):
        r = login(user).get(f"/{role}/vouchers/{w.v.id}")
        assert r.status_code == 200, role
        html = pages[role] = r.get_data(as_text=True)
        box = f"voucher-{w.v.id}-usage-status"
        assert f'id="{box}-days">3 / 5 天<' in html, role
        assert f'id="{box}-first">2025-02-01<' in html and f'id="{box}-last">2025-03-09<' in html, role
        assert f'id="{box}-result">未完成<' in html, role
        assert "<code>58.60.1.0/24</code>" in html, role  # the declared addresses
    # The supplier sees its own endpoints beside the declared addresses; the province too; the others do not.
    for role in ("supplier", "province"):
        assert f'id="voucher-{w.v.id}-endpoints"' in pages[role] and "<code>203.0.113.5</code>" in pages[role]
    for role in ("enterprise", "city"):
        assert f'id="voucher-{w.v.id}-endpoints' not in pages[role]
    # Only the enterprise may edit; only the province may override.
    assert f'id="voucher-{w.v.id}-address-form"' in pages["enterprise"]
    assert all(f'id="voucher-{w.v.id}-address-form"' not in pages[r] for r in ("supplier", "city", "province"))
    assert f'id="voucher-{w.v.id}-override"' in pages["province"]
    assert all(f'id="voucher-{w.v.id}-override"' not in pages[r] for r in ("enterprise", "supplier", "city"))
    # The health hint for the two who can fix an address (item 6).
    assert f'id="voucher-{w.v.id}-usage-hint"' in pages["enterprise"] and f'id="voucher-{w.v.id}-usage-hint"' in pages["supplier"]


def test_verified_status_and_lists_show_k_of_n(w, login):
    # rule: VER-3
    second = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    _set_usage(w.v, 6, dt.date(2025, 2, 1), dt.date(2025, 3, 9))
    db.session.commit()
    html = login(w.ent_user).get(f"/enterprise/vouchers/{w.v.id}").get_data(as_text=True)
    assert f'id="voucher-{w.v.id}-usage-status-result">已完成<' in html
    for c, url in ((login(w.ent_user), "/enterprise/vouchers"), (login(w.sup_user), "/supplier/vouchers")):
        html = c.get(url).get_data(as_text=True)
        assert "<th title=\"上云用量：已计天数 / 要求天数\">用量</th>" in html, url
        cell = html.split(f'id="voucher-{w.v.id}-usage-cell">')[1].split("</td>")[0]
        assert "6/5" in cell and "✓" in cell, url
        cell = html.split(f'id="voucher-{second.id}-usage-cell">')[1].split("</td>")[0]
        assert "0/5" in cell and "✓" not in cell, url
    # The supplier's list holds its own customers' vouchers only.
    other = make_user(Role.SUPPLIER)
    db.session.commit()
    assert f"voucher-{w.v.id}-row" not in login(other).get("/supplier/vouchers").get_data(as_text=True)


def test_voucher_lists_read_usage_in_one_query(w, login, count_queries):
    # rule: VER-3 the list's column costs one query whatever the page size
    c = login(w.sup_user)
    c.get("/supplier/vouchers")
    with count_queries() as few:
        c.get("/supplier/vouchers")
    for _ in range(4):  # each of its own enterprise (one enterprise's cumulative cap, AMT-2)
        make_voucher(None, w.supplier, w.cycle, users={"supplier": w.sup_user, "city": w.city_user})
    db.session.commit()
    c.get("/supplier/vouchers")  # the same warm-up as before the first count
    with count_queries() as more:
        html = c.get("/supplier/vouchers").get_data(as_text=True)
    assert html.count("-usage-cell") == 5
    assert few.count == more.count


# --------------------------------------------------------------------------- VER-3: the province's override


def _override(c, v, decision, reason=""):
    return c.post(f"/province/vouchers/{v.id}/usage/override", data={"decision": decision, "reason": reason}, headers=HX)


def test_override_needs_a_reason_and_is_shown_everywhere(w, login):
    # rule: VER-3 the province can override either way with a recorded reason
    c = login(w.prov_user)
    r = _override(c, w.v, "verified", "  ")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "请填写核定理由" in html and f'id="voucher-{w.v.id}-override-error"' in html
    assert db.session.get(VoucherUsage, w.v.id) is None
    assert _override(c, w.v, "maybe", "x").status_code == 422

    r = _override(c, w.v, "verified", "现场核查：系统已上线，每日在用")
    assert r.status_code == 204 and r.headers["HX-Redirect"].endswith(f"/province/vouchers/{w.v.id}")
    db.session.expire_all()
    assert usage.status(w.v).verified and usage.status(w.v).override == "verified"
    for role, user in (("enterprise", w.ent_user), ("supplier", w.sup_user), ("province", w.prov_user)):
        html = login(user).get(f"/{role}/vouchers/{w.v.id}").get_data(as_text=True)
        assert "省级核定为<strong>已完成</strong>（不论连接记录）。理由：现场核查：系统已上线，每日在用" in html, role
        assert f'id="voucher-{w.v.id}-usage-status-override-mark"' in html and "省级核定上云用量" in html, role
    html = login(w.sup_user).get("/supplier/vouchers").get_data(as_text=True)
    assert "(核定)" in html.split(f'id="voucher-{w.v.id}-usage-cell">')[1].split("</td>")[0]


def test_override_either_way_and_cancel(w, login):
    # rule: VER-3
    _set_usage(w.v, 7, dt.date(2025, 2, 1), dt.date(2025, 3, 9))
    c = login(w.prov_user)
    assert usage.status(w.v).verified
    assert _override(c, w.v, "not_verified", "现场核查：连接来自测试环境，服务未实际使用").status_code == 204
    db.session.expire_all()
    assert not usage.status(w.v).verified  # 7 days of records, overridden to not completed
    html = login(w.ent_user).get(f"/enterprise/vouchers/{w.v.id}").get_data(as_text=True)
    assert "省级核定为<strong>未完成</strong>" in html and "连接来自测试环境" in html
    html = c.get(f"/province/vouchers/{w.v.id}").get_data(as_text=True)
    assert f'id="voucher-{w.v.id}-override-clear"' in html
    assert _override(c, w.v, "clear").status_code == 204  # no reason needed to cancel
    db.session.expire_all()
    st = usage.status(w.v)
    assert st.override == "" and st.verified  # back to the records
    assert _actions(w.v)[-2:] == ["usage_override", "usage_override_removed"]


def test_override_moves_a_waiting_settlement_on_and_the_wait_shows_why(w, login):
    # rule: SET-5, VER-3
    st = make_settlement(w.v, stage="verification", users=w.users)
    _set_usage(w.v, 2, dt.date(2025, 2, 1), dt.date(2025, 2, 2))
    city = make_user(Role.CITY, city_code=w.v.city_code)
    db.session.commit()
    assert st.status == SetStatus.VERIFICATION
    for role, user in (("enterprise", w.ent_user), ("supplier", w.sup_user), ("city", city), ("province", w.prov_user)):
        html = login(user).get(f"/{role}/settlements/{st.id}").get_data(as_text=True)
        assert f'id="settlement-{st.id}-usage"' in html, role
        assert f'id="settlement-{st.id}-usage-status-days">2 / 5 天<' in html, role
        assert f'id="settlement-{st.id}-usage-link"' in html, role
    assert _override(login(w.prov_user), w.v, "verified", "现场核查通过").status_code == 204
    db.session.expire_all()
    st = db.session.get(type(st), st.id)
    assert st.status == SetStatus.CITY_REVIEW
    html = login(w.ent_user).get(f"/enterprise/settlements/{st.id}").get_data(as_text=True)
    assert f'id="settlement-{st.id}-usage"' not in html  # no longer waiting


def test_override_refused_is_422_without_htmx_too(w, login):
    # rule: VER-3
    r = login(w.prov_user).post(f"/province/vouchers/{w.v.id}/usage/override", data={"decision": "not_verified"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "<html" in html and "请填写核定理由" in html


def test_status_helper_reads_override_and_days_without_a_query(app):
    # rule: VER-3 the lists' helper computes the one rule (usage.status) from rows already loaded
    v = SimpleNamespace(id=1, cycle=SimpleNamespace(verification_days=5))
    s = usage.status(v, SimpleNamespace(days=5, first_day=None, last_day=None, override="", override_reason=""))
    assert s.verified and s.text.startswith("已完成")
    s = usage.status(v, SimpleNamespace(days=4, first_day=None, last_day=None, override="", override_reason=""))
    assert not s.verified and s.text == "已计 4 / 5 天"
