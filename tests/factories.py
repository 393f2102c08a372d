"""Plain factory functions for tests: each makes one committed-ready object with sane defaults."""
from __future__ import annotations

import datetime as dt
import itertools

from stdnum.cn import uscc as uscc_mod

from blueprints.core import security
from blueprints.core.timeutil import now, today
from cli import seed_cities
from models import (
    CatalogItem, CatalogStatus, CatalogVersion, CityTarget, Cycle, Enterprise, RegStatus, Role, Supplier,
    User, db,
)

PASSWORD = "Test-pass-2026"
_hash_cache: dict[str, str] = {}
_seq = itertools.count(1)


def password_hash(pw: str = PASSWORD) -> str:
    if pw not in _hash_cache:
        _hash_cache[pw] = security.hash_password(pw)
    return _hash_cache[pw]


def make_uscc(n: int | None = None) -> str:
    n = next(_seq) if n is None else n
    base = f"9144{n:013d}"  # 17 characters: distinct for every n (the check digit makes 18)
    return base + uscc_mod.calc_check_digit(base)


def make_enterprise(status=RegStatus.APPROVED, city_code="440100", **kw) -> Enterprise:
    seed_cities()
    n = next(_seq)
    defaults = dict(
        uscc=make_uscc(n), name=f"测试企业{n}有限公司", city_code=city_code, legal_rep="张三",
        established_on=dt.date(2015, 1, 1), revenue_fen=20_000_000_00, contact_name="李四",
        contact_phone="13800000000", no_violation_declared=True, status=status,
    )
    if status != RegStatus.DRAFT:
        defaults["submitted_at"] = now()
    defaults.update(kw)
    e = Enterprise(**defaults)
    db.session.add(e)
    db.session.flush()
    return e


def make_supplier(status=RegStatus.APPROVED, city_code="440100", in_province=True, **kw) -> Supplier:
    seed_cities()
    n = next(_seq)
    defaults = dict(
        uscc=make_uscc(n), name=f"测试供应商{n}有限公司", city_code=city_code if in_province else None,
        in_province=in_province, categories=["工业SaaS"], endpoints=["203.0.113.5"], contact_name="王五",
        contact_phone="13900000000", status=status,
    )
    if status != RegStatus.DRAFT:
        defaults["submitted_at"] = now()
    defaults.update(kw)
    s = Supplier(**defaults)
    db.session.add(s)
    db.session.flush()
    return s


def make_user(role: Role, username: str | None = None, **kw) -> User:
    seed_cities()
    username = username or f"{role}_{next(_seq)}"
    if role == Role.ENTERPRISE and "enterprise_id" not in kw:
        kw["enterprise_id"] = make_enterprise().id
    if role == Role.SUPPLIER and "supplier_id" not in kw:
        kw["supplier_id"] = make_supplier().id
    if role == Role.CITY and "city_code" not in kw:
        kw["city_code"] = "440100"
    kw.setdefault("display_name", f"用户{username}")
    u = User(username=username, role=role, password_hash=password_hash(), **kw)
    db.session.add(u)
    db.session.flush()
    return u


def make_catalog(cap_fen=500_000_00, items=(("SC-01", "生产数据上云", "生产管控", 200_000_00),), published=True,
                 number=None, published_at=None) -> CatalogVersion:
    number = number or (db.session.execute(db.select(db.func.max(CatalogVersion.number))).scalar() or 0) + 1
    v = CatalogVersion(number=number, title=f"目录第{number}版", cumulative_cap_fen=cap_fen,
                       status=CatalogStatus.PUBLISHED if published else CatalogStatus.DRAFT,
                       published_at=(published_at or now()) if published else None)
    for pos, (code, name, cat, cap) in enumerate(items):
        v.items.append(CatalogItem(code=code, name=name, category=cat, cap_fen=cap, position=pos))
    db.session.add(v)
    db.session.flush()
    return v


def make_cycle(days_to_deadline=60, **kw) -> Cycle:
    defaults = dict(name="2026年第一批", year=today().year, status="announced", announced_at=now(),
                    application_deadline=today() + dt.timedelta(days=days_to_deadline),
                    settlement_deadline=today() + dt.timedelta(days=days_to_deadline + 180))
    defaults.update(kw)
    c = Cycle(**defaults)
    db.session.add(c)
    db.session.flush()
    return c


def make_target(city_code="440100", year=None, target_fen=100_000_000_00, quota_fen=150_000_000_00) -> CityTarget:
    t = CityTarget(city_code=city_code, year=year or today().year, target_enterprises=100,
                   target_amount_fen=target_fen, quota_fen=quota_fen)
    db.session.add(t)
    db.session.flush()
    return t


# --------------------------------------------------------------------------- applications


def contract_pdf_bytes(label: str | None = None) -> bytes:
    """A small valid PDF whose bytes (and so SHA-256) differ per label."""
    import io

    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    w.add_metadata({"/Title": label or f"合同-{next(_seq)}"})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def contract_jpeg_bytes(seed: int | None = None) -> bytes:
    """A phone-camera-like JPEG (distinct per seed)."""
    import io

    from PIL import Image

    n = next(_seq) if seed is None else seed
    img = Image.new("RGB", (320, 240), ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def make_application(enterprise=None, supplier=None, cycle=None, *, stage="draft", item=None, fee_fen=150_000_00,
                     contract_no=None, signed_on=dt.date(2025, 1, 10), related=False, pilot=False,
                     users=None, file_bytes=None):
    """An application taken to `stage` (draft, supplier_review, city_review, approved) through the real
    service functions, so claims, counters, audit rows and the voucher are as in production.

    Needs a published catalog (make_catalog) and, for stage approved, a city target (make_target).
    `users` may carry "enterprise", "supplier", "city" users to act as.
    """
    from blueprints.core import application as flow
    from blueprints.core import issuance, uploads
    from blueprints.core.catalog import version_in_force

    enterprise = enterprise or make_enterprise()
    supplier = supplier or make_supplier()
    cycle = cycle or make_cycle()
    users = dict(users or {})
    ent_user = users.get("enterprise") or make_user(Role.ENTERPRISE, enterprise_id=enterprise.id)
    from models import Application, AppStatus

    a = Application(enterprise_id=enterprise.id, cycle_id=cycle.id, city_code=enterprise.city_code,
                    status=AppStatus.DRAFT, return_reasons=[])
    db.session.add(a)
    db.session.flush()
    version = version_in_force()
    item = item or (version.items[0] if version is not None else None)
    f = uploads.store_bytes(file_bytes or contract_pdf_bytes(), mime="application/pdf", name="合同.pdf",
                            kind="contract", owner_type="application", owner_id=a.id, user_id=ent_user.id)
    flow.save_draft(a, flow.DraftData(
        contract_no=contract_no or f"HT-{next(_seq):05d}", contract_signed_on=signed_on, contract_fee_fen=fee_fen,
        catalog_item_id=item.id if item is not None else None, supplier_id=supplier.id, place_in_guangdong=True,
        single_fund_declared=True, related_declared=related, enterprise_fair_price=related), f, ent_user)
    if stage == "draft":
        return a
    flow.submit(a, ent_user)
    if stage == "supplier_review":
        return a
    sup_user = users.get("supplier") or make_user(Role.SUPPLIER, supplier_id=supplier.id)
    flow.confirm(a, sup_user, pilot=pilot, fair_price=a.related_party)
    if stage == "city_review":
        return a
    city_user = users.get("city") or make_user(Role.CITY, city_code=enterprise.city_code)
    issuance.approve(a, city_user)
    return a


def make_world(cap_fen=500_000_00, quota_fen=150_000_000_00, city_code="440100", **cycle_kw):
    """Everything an application needs: a published catalog with two items, an open cycle, the
    city's quota, an approved enterprise and supplier with one user each, and a city officer."""
    from types import SimpleNamespace

    seed_cities()
    catalog = make_catalog(cap_fen=cap_fen, items=(("SC-01", "生产数据上云", "生产管控", 200_000_00),
                                                   ("YF-01", "云端协同研发设计", "研发设计", 150_000_00)),
                           published_at=now() - dt.timedelta(days=1))
    cycle = make_cycle(**cycle_kw)
    target = make_target(city_code=city_code, year=cycle.year, quota_fen=quota_fen, target_fen=quota_fen // 2)
    enterprise = make_enterprise(city_code=city_code)
    supplier = make_supplier()
    w = SimpleNamespace(
        catalog=catalog, item=catalog.items[0], item2=catalog.items[1], cycle=cycle, target=target,
        enterprise=enterprise, supplier=supplier,
        ent_user=make_user(Role.ENTERPRISE, enterprise_id=enterprise.id),
        sup_user=make_user(Role.SUPPLIER, supplier_id=supplier.id),
        city_user=make_user(Role.CITY, city_code=city_code),
    )
    w.users = {"enterprise": w.ent_user, "supplier": w.sup_user, "city": w.city_user}
    return w


# --------------------------------------------------------------------------- registration


def enterprise_form(**over) -> dict:
    """Everything the enterprise profile form needs to be submitted (files not included)."""
    data = dict(name=f"广州测试制造{next(_seq)}有限公司", uscc=make_uscc(), city_code="440100", legal_rep="张三",
                established_on="2015-06-30", revenue="1234.5", revenue_unit="wan", contact_name="李四",
                contact_phone="13800138000", contact_email="", no_violation_declared="y", op="submit")
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def supplier_form(**over) -> dict:
    """Everything the supplier profile form needs to be submitted (files not included)."""
    data = dict(name=f"测试云服务{next(_seq)}有限公司", uscc=make_uscc(), in_province="1", city_code="440100",
                categories=["工业SaaS", "云基础资源"], endpoints="203.0.113.0/24\ncloud.example.cn",
                related_parties="", contact_name="王五", contact_phone="13900139000", contact_email="", op="submit")
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def registration_files(kind: str = "enterprise") -> dict:
    """Fresh upload tuples for the documents a submission needs (a new BytesIO per call)."""
    import io

    files = {"licence": (io.BytesIO(contract_pdf_bytes("营业执照")), "营业执照.pdf")}
    if kind == "supplier":
        files["capability_file"] = (io.BytesIO(contract_pdf_bytes("能力说明")), "能力说明.pdf")
    return files


def make_submitted(kind: str = "enterprise", city_code: str = "440100", in_province: bool = True, **kw):
    """A complete enterprise or supplier profile (with its documents) submitted through the real
    service (registration.submit), and its user. Returns (profile, user)."""
    from flask import current_app

    from blueprints.core import registration, uploads

    if kind == "enterprise":
        obj = make_enterprise(status=RegStatus.DRAFT, city_code=city_code, **kw)
        user = make_user(Role.ENTERPRISE, enterprise_id=obj.id)
        attrs = ("licence_file_id",)
    else:
        obj = make_supplier(status=RegStatus.DRAFT, city_code=city_code, in_province=in_province, **kw)
        user = make_user(Role.SUPPLIER, supplier_id=obj.id)
        attrs = ("licence_file_id", "capability_file_id")
    for attr in attrs:
        f = uploads.store_bytes(contract_pdf_bytes(attr), mime="application/pdf", name=f"{attr}.pdf",
                                kind=attr, owner_type=kind, owner_id=obj.id, user_id=user.id)
        setattr(obj, attr, f.id)
    with current_app.test_request_context():
        registration.submit(obj, user)
    db.session.flush()
    return obj, user


# --------------------------------------------------------------------------- settlements


def invoice_number() -> str:
    """A unique 8-digit invoice number (发票号码)."""
    return f"{30_000_000 + next(_seq):08d}"


def settlement_file_bytes(label: str) -> bytes:
    """A small valid PDF whose bytes differ per call (a settlement file's SHA-256 is claimed, SET-6)."""
    return contract_pdf_bytes(f"{label}-{next(_seq)}")


def make_voucher(enterprise=None, supplier=None, cycle=None, *, fee_fen=150_000_00, users=None, **kw):
    """An issued voucher through make_application(stage="approved"); makes the catalog, cycle and city
    target it needs when none exist."""
    from blueprints.core.catalog import version_in_force
    from models import Voucher

    if version_in_force() is None:
        make_catalog(published_at=now() - dt.timedelta(days=1))
    users = dict(users or {})
    if enterprise is None:
        enterprise = users["enterprise"].enterprise if users.get("enterprise") else make_enterprise()
    if supplier is None and users.get("supplier"):
        supplier = users["supplier"].supplier
    cycle = cycle or make_cycle()
    exists = db.session.execute(db.select(CityTarget.id).where(
        CityTarget.city_code == enterprise.city_code, CityTarget.year == cycle.year)).first()
    if exists is None:
        make_target(city_code=enterprise.city_code, year=cycle.year)
    a = make_application(enterprise, supplier, cycle, stage="approved", fee_fen=fee_fen, users=users, **kw)
    return db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one()


def make_settlement(voucher=None, *, stage="draft", invoices=None, payments=None, users=None, acceptance=True):
    """A settlement for `voucher` (a new one when None) taken to `stage` (draft, supplier_review,
    verification, city_review, approved) through the real service functions.

    Rows are typed through settlement_form.parse/save (as the enterprise's form posts them); files are
    stored with uploads.store_bytes. `invoices` / `payments` are lists of dicts overriding the defaults
    of each row: invoices number, code, issued_on, seller_name, seller_uscc, total_fen, file (bytes, or
    None for no file); payments paid_on, payee_name, payee_account, amount_fen, file. The default is one
    invoice from the voucher's supplier for the face value dated the contract date, with a unique number
    and file, and one payment of the face value to the supplier. `users` may carry "enterprise",
    "supplier", "province", "city" users to act as."""
    from werkzeug.datastructures import MultiDict

    from blueprints.core import settlement, settlement_form, uploads

    assert stage in ("draft", "supplier_review", "verification", "city_review", "approved"), stage
    voucher = voucher or make_voucher(users=users)
    users = dict(users or {})
    ent_user = users.get("enterprise") or db.session.execute(db.select(User).where(
        User.enterprise_id == voucher.enterprise_id).order_by(User.id).limit(1)).scalar_one_or_none() or make_user(
        Role.ENTERPRISE, enterprise_id=voucher.enterprise_id)
    st = settlement.start(voucher, ent_user)
    signed = voucher.application.contract_signed_on
    supplier = voucher.supplier
    face = voucher.face_value_fen
    inv_specs = [{}] if invoices is None else list(invoices)
    pay_specs = [{}] if payments is None else list(payments)
    while len(st.invoices) < len(inv_specs):
        settlement_form.add_row(st, "inv")
    while len(st.payments) < len(pay_specs):
        settlement_form.add_row(st, "pay")
    for row in list(st.invoices[len(inv_specs):]):
        settlement_form.remove_row(st, f"inv-{row.id}")
    for row in list(st.payments[len(pay_specs):]):
        settlement_form.remove_row(st, f"pay-{row.id}")

    form = MultiDict()
    for inv, spec in zip(st.invoices, inv_specs):
        d = dict(number=invoice_number(), code="4400261130", issued_on=signed, seller_name=supplier.name,
                 seller_uscc=supplier.uscc, total_fen=face)
        d.update(spec)
        key = f"inv-{inv.id}"
        form.update({f"{key}-number": d["number"], f"{key}-code": d["code"],
                     f"{key}-date": d["issued_on"].isoformat() if d["issued_on"] else "",
                     f"{key}-seller_name": d["seller_name"], f"{key}-seller_uscc": d["seller_uscc"],
                     f"{key}-total": settlement_form.amount_text(d["total_fen"])})
        data = d["file"] if "file" in d else settlement_file_bytes(f"发票-{d['number']}")
        if data:
            inv.file_id = uploads.store_bytes(data, mime="application/pdf", name=f"发票{d['number']}.pdf",
                                              kind="invoice", owner_type="settlement", owner_id=st.id,
                                              user_id=ent_user.id).id
    for pay, spec in zip(st.payments, pay_specs):
        d = dict(paid_on=signed, payee_name=supplier.name, payee_account="", amount_fen=face)
        d.update(spec)
        key = f"pay-{pay.id}"
        form.update({f"{key}-date": d["paid_on"].isoformat() if d["paid_on"] else "",
                     f"{key}-payee": d["payee_name"], f"{key}-account": d["payee_account"],
                     f"{key}-amount": settlement_form.amount_text(d["amount_fen"])})
        data = d["file"] if "file" in d else settlement_file_bytes("付款凭证")
        if data:
            pay.file_id = uploads.store_bytes(data, mime="application/pdf", name="付款凭证.pdf", kind="payment_proof",
                                              owner_type="settlement", owner_id=st.id, user_id=ent_user.id).id
    if acceptance:
        st.acceptance_file_id = uploads.store_bytes(
            settlement_file_bytes("验收报告"), mime="application/pdf", name="验收报告.pdf", kind="acceptance_report",
            owner_type="settlement", owner_id=st.id, user_id=ent_user.id).id
    parsed = settlement_form.parse(st, form)
    assert not parsed.errors, parsed.errors
    settlement_form.save(st, parsed, {}, ent_user)
    if stage == "draft":
        return st
    settlement.submit(st, ent_user)
    if stage == "supplier_review":
        return st
    sup_user = users.get("supplier") or make_user(Role.SUPPLIER, supplier_id=voucher.supplier_id)
    settlement.supplier_confirm(st, sup_user)
    if stage == "verification":
        return st
    prov_user = users.get("province") or make_user(Role.PROVINCE)
    settlement.override_verification(st, prov_user, "现场核查：服务已实施，用量属实")
    if stage == "city_review":
        return st
    city_user = users.get("city") or make_user(Role.CITY, city_code=voucher.city_code)
    settlement.approve(st, city_user)
    return st


# The second factor (R21): a fixed TOTP secret for tests, and the code step after a password login.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_totp(user: User, secret: str = TOTP_SECRET) -> User:
    """Enrol a user's second factor directly (as if they had scanned the QR code)."""
    user.totp_secret = secret
    user.totp_enabled_at = now()
    user.totp_last_step = None
    return user


def totp_code(secret: str = TOTP_SECRET, steps_ahead: int = 0) -> str:
    import pyotp

    from blueprints.core.two_factor import STEP_SECONDS, current_step

    return pyotp.TOTP(secret).at((current_step() + steps_ahead) * STEP_SECONDS)


def pass_second_factor(client, user: User, **form):
    """After the password step: enrol the user if needed and spend the current code at /login/code.
    The last step used is forgotten first, since a test may log the same user in twice in 30 s."""
    if not user.totp_secret:
        enrol_totp(user)
    user.totp_last_step = None
    db.session.commit()
    left = 30 - now().timestamp() % 30
    if left < 1:  # a code lives for its own 30 s step only: do not post one in its last moment
        import time

        time.sleep(left + 0.05)
    r = client.post("/login/code", data={"code": totp_code(user.totp_secret), **form})
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    return r
