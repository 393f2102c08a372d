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
    base = f"9144{n:014d}"[:17]
    base = base[:17]
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
    u = User(username=username, role=role, password_hash=password_hash(), display_name=f"用户{username}", **kw)
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
