"""English everywhere: with English chosen, every page every role can open reads in English.

One data set deep enough that list and detail pages show their full content (an approved registration, a
draft and a submitted application, issued vouchers, a draft and an approved settlement, a published payout
list with an objection and a payment batch, a forwarded complaint, a supplier in expert review …); then every
GET route in app.url_map is rendered, as each role allowed to open it, with English chosen, and the visible
text (text nodes, placeholders, button values; not <script>/<style>) is searched for Chinese characters.

Chinese that is data is allowed: every string stored in the database (names, addresses, reasons, stored
notices, city names …) is removed from the page text before the check, longest first. The language switch's
"中文" is allowed too.

Pages still untranslated are listed in KNOWN_UNTRANSLATED: the test fails when a page outside the list shows
Chinese, and when a listed page has become clean, so the list only shrinks.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import sqlalchemy as sa

from blueprints.core.access import ANY_USER, PUBLIC, declaration
from blueprints.core.timeutil import add_working_days, today
from models import Role, db
from tests.factories import (
    make_application, make_catalog, make_settlement, make_submitted, make_user, make_voucher, make_world,
)

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]+")
ALLOWED = ("简体中文", "中文")  # the language switch names its language in that language

# Not pages: JSON, health checks, downloads and generated files (PDF headings are checked in test_pdf-like
# tests of their own below).
SKIP = {
    "api.openapi_document", "public.healthz", "common.file_download", "common.job_download",
    "enterprise.voucher_pdf", "public.settlement_list_pdf", "city.settlement_export", "city.voucher_export",
    "province.catalog_export", "province.dashboard_export", "province.directory_export",
    "province.evaluation_xlsx", "province.payout_overview_xlsx",
}

# Pages that still show Chinese interface text in English: none. Keep it that way; a page that cannot be
# translated yet goes here by name, and the list only shrinks.
KNOWN_UNTRANSLATED: set[str] = set()


# Pages this data set does not reach (404): a job, an invitation token, a reason row that needs its query
# arguments, and a supplier in an expert round. Their templates are covered by the pages around them.
NOT_RENDERED = {
    "city.registration_reason_row as city", "province.registration_reason_row as province",
    "expert.review_detail as expert", "team.accept as anonymous",
    *(f"common.job_detail as {p}" for p in ("enterprise", "supplier", "city", "province", "expert")),
}


class _Text(HTMLParser):
    """The text a reader sees: text nodes, placeholders, titles and button captions; not scripts or styles."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        a = dict(attrs)
        for name in ("placeholder", "title", "aria-label", "alt"):
            if a.get(name):
                self.parts.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return "\n".join(p.parts)


def _data_strings() -> list[str]:
    """Every string with Chinese in it stored in the database, longest first."""
    found: set[str] = set()

    def walk(v):
        if isinstance(v, str):
            if CJK.search(v):
                found.add(v)
                found.update(line.strip() for line in v.splitlines() if line.strip())
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    for table in db.metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
        if cols:
            for row in db.session.execute(sa.select(*cols)):
                walk(list(row))
    db.session.rollback()
    return sorted(found, key=len, reverse=True)


def chinese_in(html: str, data: list[str]) -> list[str]:
    text = visible_text(html)
    for s in data:
        text = text.replace(s, " ")
    for s in ALLOWED:
        text = text.replace(s, " ")
    return sorted(set(CJK.findall(text)))


def _world():
    """The data set, and the argument values of every route."""
    from blueprints.core import complaints, payout
    from models import Budget, Complaint, DataOrg, PayoutBatch

    w = make_world()
    users = dict(w.users)
    users["province"] = make_user(Role.PROVINCE)
    users["expert"] = make_user(Role.EXPERT)
    v1 = make_voucher(users=w.users)  # to settle as a draft
    st_draft = make_settlement(v1, stage="draft", users=users)
    approved = [make_settlement(make_voucher(users=w.users), stage="approved", users=users) for _ in range(2)]
    v2 = make_voucher(users=w.users)  # unused: can be released
    submitted = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    draft = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    ent_reg, _ = make_submitted("enterprise")
    sup_reg, _ = make_submitted("supplier")
    draft_catalog = make_catalog(published=False)
    for kind in ("general", "pilot"):
        db.session.add(Budget(city_code="440100", period="2026-1", kind=kind, cap_fen=10_000_000_00, committed_fen=0))
    org = DataOrg(name="电信运营商数据机构", kind="operator")
    db.session.add(org)
    db.session.commit()

    city = users["city"]
    lst = payout.create_list("440100", "2026-1", city)
    payout.publish(lst, city, 7)
    from models import ListEntry, Objection

    entries = db.session.execute(db.select(ListEntry).where(ListEntry.list_id == lst.id)).scalars().all()
    obj = payout.raise_objection(lst, payout.ObjectionInput([entries[0].id], "该企业与供应商存在关联关系，请核实。"),
                                 user=make_user(Role.SUPPLIER))
    db.session.commit()
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    try:
        payout.confirm("440100", "2026-1", city, payout.fingerprint(payout.propose("440100", "2026-1")[0]))
        db.session.commit()
    except Exception:  # noqa: BLE001 - no batch: its page is then reported as not rendered
        db.session.rollback()
    batch = db.session.execute(db.select(PayoutBatch)).scalars().first()
    obj = db.session.get(Objection, obj.id)

    c = Complaint(tracking_no=complaints.tracking_no(), category="complaint", text="该供应商服务未按合同实施。",
                  supplier_id=w.supplier.id, status="open", due_on=add_working_days(today(), 3))
    db.session.add(c)
    db.session.commit()
    complaints.forward(c, users["province"], "440100", "请核实")
    db.session.commit()

    voucher = db.session.get(type(v1), v1.id)
    args = {
        "app_id": submitted.id, "st_id": approved[0].id, "voucher_id": voucher.id, "c_id": c.id,
        "obj_id": obj.id, "list_id": lst.id, "batch_id": batch.id if batch else 999999,
        "kind": "enterprise", "ident": ent_reg.id, "period": "2026-1", "city_code": "440100",
        "version_id": w.catalog.id, "item_id": w.item.id, "cycle_id": w.cycle.id, "org_id": org.id,
        "year": w.cycle.year, "supplier_id": w.supplier.id, "code": voucher.code, "job_id": 999999,
    }
    per_endpoint = {
        "enterprise.application_edit": {"app_id": draft.id},
        "enterprise.application_preview": {"app_id": draft.id},
        "enterprise.application_supplier_search": {"app_id": draft.id},
        "enterprise.settlement_edit": {"st_id": st_draft.id},
        "enterprise.settlement_check": {"st_id": st_draft.id},
        "enterprise.voucher_release": {"voucher_id": v2.id},
        "province.catalog_item_edit": {"version_id": draft_catalog.id, "item_id": draft_catalog.items[0].id},
        "expert.review_detail": {"ident": sup_reg.id},
    }
    for u in users.values():
        u.locale = "en"
    db.session.commit()
    return users, args, per_endpoint


def _principals(decl) -> list[str]:
    if PUBLIC in decl:
        return ["anonymous"]
    if ANY_USER in decl:
        return ["enterprise", "supplier", "city", "province", "expert"]
    return [str(r) for r in (Role.ENTERPRISE, Role.SUPPLIER, Role.CITY, Role.PROVINCE, Role.EXPERT) if r in decl]


def test_every_page_reads_in_english(app, login):
    users, args, per_endpoint = _world()
    clients = {name: login(u) for name, u in users.items()}
    anon = app.test_client()
    anon.post("/lang", data={"lang": "en"})
    clients["anonymous"] = anon
    data = _data_strings()
    offending: dict[str, list[str]] = {}
    not_rendered: list[str] = []
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        values = {**args, **per_endpoint.get(rule.endpoint, {})}
        url = rule.build({k: values.get(k, "zz-unknown") for k in rule.arguments}, append_unknown=False)[1]
        for principal in _principals(declaration(rule.endpoint)):
            r = clients[principal].get(url)
            where = f"{rule.endpoint} as {principal}"
            if 300 <= r.status_code < 400:
                continue  # a GET that only sends the reader elsewhere (a form's answer URL, an htmx row): no page
            if r.status_code != 200:
                not_rendered.append(where)
                continue
            checked += 1
            found = chinese_in(r.get_data(as_text=True), data)
            if found:
                offending.setdefault(rule.endpoint, []).extend(f"{principal}: {s}" for s in found)
    assert checked > 100
    report = "\n".join(f"{ep}: {', '.join(sorted(set(s))[:40])}" for ep, s in sorted(offending.items()))
    assert sorted(set(offending) - KNOWN_UNTRANSLATED) == [], report
    assert sorted(KNOWN_UNTRANSLATED - set(offending)) == [], "now clean: remove from KNOWN_UNTRANSLATED"
    assert sorted(set(not_rendered) - NOT_RENDERED) == [], "\n".join(not_rendered)
