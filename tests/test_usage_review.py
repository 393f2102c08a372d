"""Review of usage verification: the lists read in a fixed number of queries and page, no rule ID
reaches a page, a supplier's API token counts for its own vouchers only, and bad input is refused whole with
a Chinese message."""
from __future__ import annotations

import itertools
import json
import re

import pytest

from blueprints.api import tokens
from blueprints.core import usage
from blueprints.core.timeutil import now
from models import (
    AuditEvent, City, CompletionTable, ConnectionImport, DataOrg, Role, UsageDay, User, VoucherAddress,
    VoucherUsage, db,
)
from tests.factories import make_cycle, make_supplier, make_user, make_voucher, make_world

HX = {"HX-Request": "true"}
_n = itertools.count(1)
RULE_ID = re.compile(r"\b(?:AMT|APP|CAT|CYC|DL|DOC|ELIG|PAY|PIL|PUB|REG|REL|ROLE|SET|SLA|SUP|VER)-\d+\b")


@pytest.fixture
def w(app):
    world = make_world()
    world.prov_user = make_user(Role.PROVINCE)
    world.v = make_voucher(world.enterprise, world.supplier, world.cycle, users=world.users)
    db.session.commit()
    return world


def _same_queries(c, url, add, count_queries, rows_re: str):
    """The queries of a view of `url` with a few rows, then with more: equal (no query per row)."""
    counts, shown = [], []
    for n in (2, 6):
        add(n)
        db.session.commit()
        assert c.get(url).status_code == 200  # warm-up, as the other lists' tests
        with count_queries() as q:
            html = c.get(url).get_data(as_text=True)
        counts.append(q.count)
        shown.append(len(re.findall(rows_re, html)))
    assert counts[0] == counts[1], counts
    assert shown[1] > shown[0]
    return shown


# --------------------------------------------------------------------------- lists: queries and pages


def test_data_org_list_reads_a_page_in_fixed_queries_and_pages(w, login, count_queries):
    c = login(w.prov_user)

    def add(n):
        for _ in range(n):  # each a supplier of its own: a lazy load of the supplier would be a query a row
            org = DataOrg(name=f"供应商组织{next(_n)}", kind="supplier", supplier_id=make_supplier().id)
            db.session.add(org)
            db.session.flush()
            tokens.issue(org, "生产", w.prov_user)

    _same_queries(c, "/province/data-orgs", add, count_queries, r'id="data-org-\d+-row"')
    html = c.get("/province/data-orgs").get_data(as_text=True)
    org = db.session.execute(db.select(DataOrg).order_by(DataOrg.id)).scalars().first()
    row = html.split(f'id="data-org-{org.id}-row"')[1].split("</tr>")[0]
    assert org.supplier.name in row and '<td data-label="有效令牌" class="num">1</td>' in row
    add(30)  # 38 in all: two pages of 30
    db.session.commit()
    assert len(re.findall(r'id="data-org-\d+-row"', c.get("/province/data-orgs").get_data(as_text=True))) == 30
    second = c.get("/province/data-orgs?page=2").get_data(as_text=True)
    assert len(re.findall(r'id="data-org-\d+-row"', second)) == 8 and "第 2 / 2 页" in second


def test_data_org_list_empty_state(app, login_as):
    c, _ = login_as(Role.PROVINCE)
    assert "还没有登记数据组织" in c.get("/province/data-orgs").get_data(as_text=True)


def test_connection_import_list_reads_a_page_in_fixed_queries(w, login, count_queries):
    c = login(w.prov_user)

    def add(n):
        for _ in range(n):  # from organisations and from users, each its own
            org = DataOrg(name=f"运营商{next(_n)}", kind="operator")
            db.session.add(org)
            db.session.flush()
            db.session.add(ConnectionImport(source="api", org_id=org.id, batch_id=f"b-{next(_n)}", rows=10))
            db.session.add(ConnectionImport(source="csv", user_id=make_user(Role.PROVINCE).id, rows=20))

    _same_queries(c, "/province/connection-imports", add, count_queries, r'id="connection-import-\d+-row"')


def test_city_completion_list_reads_a_page_in_fixed_queries(w, login, count_queries):
    c = login(w.city_user)

    def add(n):
        for _ in range(n):  # each of its own cycle: a lazy load of the cycle would be a query a row
            cycle = make_cycle(name=f"批次{next(_n)}")
            db.session.add(CompletionTable(cycle_id=cycle.id, city_code=w.city_user.city_code, rows=3, completed=1,
                                           sent_at=now()))

    _same_queries(c, "/city/completion-tables", add, count_queries, r'id="completion-\d+-row"')


def test_province_completion_page_reads_every_city_in_fixed_queries(w, login, count_queries):
    c = login(w.prov_user)
    codes = [code for code, in db.session.execute(db.select(City.code).order_by(City.code))]
    made = []

    def add(n):
        for code in codes[len(made):len(made) + n]:
            db.session.add(CompletionTable(cycle_id=w.cycle.id, city_code=code, rows=3, completed=1))
            made.append(code)

    _same_queries(c, f"/province/completion-tables?cycle={w.cycle.id}", add, count_queries,
                  r'id="completion-\d+-send"')


# --------------------------------------------------------------------------- no rule IDs on the pages


def test_no_rule_id_on_any_usage_page(w, login):
    # Rule IDs belong in code and tests, never in page text (house rule).
    org = DataOrg(name="测试运营商", kind="operator")
    db.session.add(org)
    db.session.flush()
    tokens.issue(org, "生产", w.prov_user)
    db.session.add(ConnectionImport(source="api", org_id=org.id, batch_id="b-1", rows=1))
    db.session.add(CompletionTable(cycle_id=w.cycle.id, city_code=w.v.city_code, rows=1, completed=0, sent_at=now()))
    db.session.commit()
    v = w.v.id
    pages = {
        w.ent_user: ["/enterprise/vouchers", f"/enterprise/vouchers/{v}", f"/enterprise/vouchers/{v}/addresses/check?addresses=x"],
        w.sup_user: ["/supplier/vouchers", f"/supplier/vouchers/{v}"],
        w.city_user: [f"/city/vouchers/{v}", "/city/completion-tables"],
        w.prov_user: [f"/province/vouchers/{v}", "/province/data-orgs", "/province/data-orgs/new",
                      f"/province/data-orgs/{org.id}", "/province/connection-imports",
                      "/province/connection-imports/upload", "/province/completion-tables",
                      f"/province/cycles/{w.cycle.id}/edit"],
    }
    for user, urls in pages.items():
        c = login(user)
        for url in urls:
            r = c.get(url)
            assert r.status_code == 200, url
            found = RULE_ID.findall(r.get_data(as_text=True))
            assert found == [], f"{url}: {found}"


# --------------------------------------------------------------------------- the API: a supplier's own vouchers


def _voucher(address: str, endpoint: str):
    v = make_voucher()
    usage.add_address(v, address, make_user(Role.PROVINCE))
    v.supplier.endpoints = [endpoint]
    db.session.commit()
    return v


def _post(client, token, batch_id, records):
    return client.post("/api/v1/connections", data=json.dumps({"batch_id": batch_id, "records": records}),
                       headers={"Authorization": f"Bearer {token}"}, content_type="application/json")


def _rec(enterprise, cloud, day):
    return {"time": f"2025-03-{day:02d}T10:00:00+08:00", "enterprise": enterprise, "cloud": cloud}


def _days(v) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count()).select_from(UsageDay).where(
        UsageDay.voucher_id == v.id)).scalar_one()


def test_a_supplier_token_counts_for_its_own_vouchers_only(app, client):
    # rule: VER-2, SUP-6 -- a supplier's records cannot complete another supplier's vouchers; an operator's can
    own = _voucher("121.8.10.10", "cloud.example.com")
    other = _voucher("121.8.20.20", "other.example.net")
    org = DataOrg(name=own.supplier.name, kind="supplier", supplier_id=own.supplier_id)
    db.session.add(org)
    db.session.flush()
    _, token = tokens.issue(org, "生产", make_user(Role.PROVINCE))
    db.session.commit()
    records = [_rec("121.8.10.10", "api.cloud.example.com", d) for d in (1, 2)] + \
              [_rec("121.8.20.20", "api.other.example.net", d) for d in (1, 2, 3)]
    r = _post(client, token, "s-1", records)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["matched_rows"] == 2 and r.get_json()["new_days"] == 2
    assert _days(own) == 2 and _days(other) == 0

    operator = DataOrg(name="运营商", kind="operator")
    db.session.add(operator)
    db.session.flush()
    _, op_token = tokens.issue(operator, "生产", make_user(Role.PROVINCE))
    db.session.commit()
    r = _post(client, op_token, "o-1", records)
    assert r.status_code == 200 and r.get_json()["new_days"] == 3
    assert _days(own) == 2 and _days(other) == 3


# --------------------------------------------------------------------------- bad input


def test_overlong_address_input_is_refused_whole(w, login):
    # rule: VER-1 -- never cut at the limit (the last entry would be saved half typed)
    c = login(w.ent_user)
    text = "\n".join(["121.8.10.10"] * 10) + "\n" + "1" * 3900 + "\n121.8.10.11"
    assert len(text) > 4000
    r = c.post(f"/enterprise/vouchers/{w.v.id}/addresses", data={"addresses": text}, headers=HX)
    assert r.status_code == 422 and "一次最多填写 4000 个字符" in r.get_data(as_text=True)
    assert db.session.execute(db.select(VoucherAddress).where(VoucherAddress.voucher_id == w.v.id)).first() is None
    r = c.get(f"/enterprise/vouchers/{w.v.id}/addresses/check", query_string={"addresses": text}, headers=HX)
    assert r.status_code == 200 and "一次最多填写 4000 个字符" in r.get_data(as_text=True)


def test_override_refuses_an_overlong_reason_and_a_cancel_of_nothing(w, login):
    # rule: VER-3 -- the recorded reason is kept whole or refused; nothing is written on a refusal
    c = login(w.prov_user)
    url = f"/province/vouchers/{w.v.id}/usage/override"
    r = c.post(url, data={"decision": "verified", "reason": "理" * 1001}, headers=HX)
    assert r.status_code == 422 and "核定理由最多 1000 个字" in r.get_data(as_text=True)
    r = c.post(url, data={"decision": "clear"}, headers=HX)
    assert r.status_code == 409 and "该服务券没有省级核定" in r.get_data(as_text=True)
    assert "toast" in r.headers["HX-Trigger"]  # htmx does not swap a 409: the message comes as a toast
    assert db.session.get(VoucherUsage, w.v.id) is None
    assert db.session.execute(db.select(AuditEvent.id).where(
        AuditEvent.entity_type == "voucher", AuditEvent.entity_id == w.v.id,
        AuditEvent.action.like("usage_override%"))).first() is None
    assert c.post(url, data={"decision": "verified", "reason": "理" * 1000}, headers=HX).status_code == 204


def test_completion_posts_name_their_cycle(w, login):
    # rule: VER-4 -- a form without its cycle never falls back to "the newest"
    c = login(w.prov_user)
    assert c.post("/province/completion-tables/generate", data={"city": "all"}).status_code == 404
    assert c.post("/province/completion-tables/send-all", data={}).status_code == 404
    assert c.post("/province/completion-tables/generate", data={"cycle_id": "x", "city": "all"}).status_code == 404
    assert db.session.execute(db.select(CompletionTable)).first() is None


# --------------------------------------------------------------------------- scope: another organisation or city


def test_the_addresses_are_seen_and_changed_only_within_scope(w, login):
    # rule: VER-1, ROLE-8 -- another enterprise, supplier or city gets 404; an address id of another voucher
    # through one's own voucher changes nothing
    a = usage.add_address(w.v, "121.8.10.10", w.ent_user)
    mine = make_voucher(users={"enterprise": make_user(Role.ENTERPRISE)})
    intruder = db.session.execute(db.select(User).where(User.enterprise_id == mine.enterprise_id)).scalar_one()
    other_supplier = make_user(Role.SUPPLIER)
    other_city = make_user(Role.CITY, city_code="440300" if w.v.city_code != "440300" else "440100")
    db.session.commit()
    c = login(intruder)
    assert c.post(f"/enterprise/vouchers/{w.v.id}/addresses/{a.id}/remove").status_code == 404
    assert c.get(f"/enterprise/vouchers/{w.v.id}").status_code == 404
    r = c.post(f"/enterprise/vouchers/{mine.id}/addresses/{a.id}/remove")
    assert r.status_code == 303
    assert db.session.get(VoucherAddress, a.id) is not None
    assert login(other_supplier).get(f"/supplier/vouchers/{w.v.id}").status_code == 404
    assert f"voucher-{w.v.id}-row" not in login(other_supplier).get("/supplier/vouchers").get_data(as_text=True)
    assert login(other_city).get(f"/city/vouchers/{w.v.id}").status_code == 404
    assert login(w.city_user).get(f"/city/vouchers/{w.v.id}").status_code == 200


def test_a_city_sees_only_its_own_sent_completion_tables(w, login):
    # rule: VER-4, ROLE-8
    other = "440300" if w.city_user.city_code != "440300" else "440100"
    theirs = CompletionTable(cycle_id=w.cycle.id, city_code=other, rows=1, completed=0, sent_at=now())
    unsent = CompletionTable(cycle_id=w.cycle.id, city_code=w.city_user.city_code, rows=1, completed=0)
    db.session.add_all([theirs, unsent])
    db.session.commit()
    html = login(w.city_user).get("/city/completion-tables").get_data(as_text=True)
    assert f"completion-{theirs.id}-row" not in html and f"completion-{unsent.id}-row" not in html
    assert "省级尚未下发完成情况表" in html  # the empty state
