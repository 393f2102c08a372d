"""flask commands: demo-data, create-admin, seed-cities (and audit verify in test_audit.py)."""
from __future__ import annotations

import functools
import re

import pytest

from models import (
    CatalogItem, CatalogStatus, CatalogVersion, City, Cycle, Enterprise, Role, Supplier, User, db,
)

HOMES = {
    Role.ENTERPRISE: "/enterprise/",
    Role.SUPPLIER: "/supplier/",
    Role.CITY: "/city/",
    Role.PROVINCE: "/province/",
    Role.EXPERT: "/expert/",
}


def _count(model, *where) -> int:
    q = db.select(db.func.count()).select_from(model)
    for w in where:
        q = q.where(w)
    return db.session.execute(q).scalar_one()


@pytest.fixture
def demo(app, monkeypatch):
    # Every demo account has the same password: hash it once (Argon2id at 64 MiB is slow on purpose).
    from blueprints.core import security

    monkeypatch.setattr(security, "hash_password", functools.lru_cache(maxsize=8)(security.hash_password))
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    m = re.search(r"password:\s*(\S+)", result.output)
    assert m, result.output
    db.session.expire_all()
    return m.group(1), result.output


def test_demo_data_creates_every_role_and_the_scheme(app, demo):
    # rule: ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6
    _, output = demo
    assert _count(City) == 21
    officers = db.session.execute(db.select(User).where(User.role == Role.CITY)).scalars().all()
    assert len(officers) == 21
    assert {u.city_code for u in officers} == set(db.session.execute(db.select(City.code)).scalars())
    assert "city_guangzhou" in {u.username for u in officers}

    admin = db.session.execute(db.select(User).where(User.username == "admin")).scalar_one()
    assert admin.role == Role.PROVINCE
    assert _count(User, User.role == Role.EXPERT) >= 1
    operators = db.session.execute(db.select(User).where(User.role == Role.OPERATOR)).scalars().all()
    assert any(o.city_code is None for o in operators), "an operator acting for the province"
    assert any(o.city_code for o in operators), "an operator acting for a city"

    ent_users = db.session.execute(db.select(User).where(User.role == Role.ENTERPRISE)).scalars().all()
    sup_users = db.session.execute(db.select(User).where(User.role == Role.SUPPLIER)).scalars().all()
    assert len(ent_users) >= 3 and all(u.enterprise_id for u in ent_users)
    assert len(sup_users) >= 3 and all(u.supplier_id for u in sup_users)
    assert _count(Enterprise, Enterprise.status == "approved") >= 3
    assert _count(Supplier, Supplier.status == "approved") >= 3

    catalog = db.session.execute(
        db.select(CatalogVersion).where(CatalogVersion.status == CatalogStatus.PUBLISHED)
    ).scalars().first()
    assert catalog is not None and catalog.published_at is not None
    assert _count(CatalogItem, CatalogItem.version_id == catalog.id) >= 3
    cycle = db.session.execute(db.select(Cycle).where(Cycle.announced_at.is_not(None))).scalars().first()
    assert cycle is not None and cycle.application_deadline < cycle.settlement_deadline

    for line in ("admin", "expert", "operator"):
        assert line in output


def test_every_demo_login_works_with_the_printed_password(app, demo, login):
    from blueprints.core import security

    password, _ = demo
    users = db.session.execute(db.select(User).order_by(User.id)).scalars().all()
    assert len(users) >= 21 + 8
    verified: dict[str, bool] = {}  # identical hashes need one (slow) Argon2 check
    through_the_form: set = set()
    for user in users:
        assert user.is_active, user.username
        if user.password_hash not in verified:
            verified[user.password_hash] = security.verify_password(user.password_hash, password)
        assert verified[user.password_hash], user.username
        home = HOMES[user.acting_role]
        kind = (user.role, bool(user.city_code))
        if kind not in through_the_form:  # one real login through the form per kind of account
            through_the_form.add(kind)
            client = app.test_client()
            r = client.post("/login", data={"username": user.username, "password": password})
            if user.role not in (Role.ENTERPRISE, Role.SUPPLIER):  # R21: officials enrolled with the printed secret
                from cli import DEMO_TOTP_SECRET
                from tests.factories import pass_second_factor

                assert r.status_code == 303 and "/login/code" in r.headers["Location"], user.username
                assert user.totp_secret == DEMO_TOTP_SECRET
                r = pass_second_factor(client, user)
            assert r.status_code == 303 and r.headers["Location"].endswith(home), user.username
        else:
            client = login(user)
        page = client.get(home)
        assert page.status_code == 200, (user.username, page.status_code)
        assert "您好" in page.get_data(as_text=True)
    assert len(through_the_form) >= 6


def test_demo_data_trail_is_intact(app, demo):
    # rule: SUP-1
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


def test_demo_data_if_empty_does_nothing_the_second_time(app, demo):
    before = (_count(User), _count(City), _count(Enterprise), _count(Supplier), _count(Cycle), _count(CatalogVersion))
    result = app.test_cli_runner().invoke(args=["demo-data", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already" in result.output
    db.session.expire_all()
    after = (_count(User), _count(City), _count(Enterprise), _count(Supplier), _count(Cycle), _count(CatalogVersion))
    assert after == before


def test_demo_data_refuses_a_database_in_use(app, demo):
    before = _count(User)
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0
    assert _count(User) == before


def test_demo_data_if_empty_on_an_empty_database_loads(app, monkeypatch):
    from blueprints.core import security

    monkeypatch.setattr(security, "hash_password", functools.lru_cache(maxsize=8)(security.hash_password))
    result = app.test_cli_runner().invoke(args=["demo-data", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert _count(User, User.role == Role.CITY) == 21


@pytest.mark.parametrize("password, message", [
    ("short1", "密码至少 10 个字符"),
    ("1234567890", "密码过于常见"),
    ("boss-admin-2026", "包含用户名"),
    ("zzzzzzzzzzzz", "密码过于简单"),
])
def test_create_admin_refuses_a_weak_password(app, password, message):
    result = app.test_cli_runner().invoke(args=["create-admin", "boss", "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert _count(User) == 0


def test_create_admin_creates_a_province_admin_who_can_log_in(app):
    # rule: ROLE-4 -- the first admin comes from the command line, with no default password
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "chief", "--password", "Pearl-river-2026"])
    assert result.exit_code == 0, result.output
    user = db.session.execute(db.select(User).where(User.username == "chief")).scalar_one()
    assert user.role == Role.PROVINCE and user.city_code is None
    assert user.password_hash.startswith("$argon2id$")
    assert _count(City) == 21
    r = app.test_client().post("/login", data={"username": "chief", "password": "Pearl-river-2026"})
    assert r.status_code == 303 and "/login/enrol" in r.headers["Location"]  # R21: the second factor next
    again = runner.invoke(args=["create-admin", "chief", "--password", "Another-pass-2026"])
    assert again.exit_code != 0 and "该用户名已存在" in again.output
    assert _count(User) == 1


def test_seed_cities_is_idempotent(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed-cities"])
        assert result.exit_code == 0, result.output
    assert _count(City) == 21
    names = set(db.session.execute(db.select(City.name)).scalars())
    assert {"广州市", "深圳市", "东莞市", "云浮市"} <= names
