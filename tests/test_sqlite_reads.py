"""On SQLite, pages (GET) read as plain WAL readers and never take the write lock; writes, and
the rate-limit counter inside a GET, still begin IMMEDIATE so concurrent writers queue."""
from __future__ import annotations

from models import Role, db


def _begins(statements):
    return [s.strip().upper() for s in statements if s.strip().upper().startswith("BEGIN")]


def test_pages_read_without_the_write_lock(app, login_as, count_queries, engine_name):
    client, _ = login_as(Role.CITY)
    db.session.remove()
    with count_queries() as q:
        assert client.get("/city/vouchers").status_code == 200
        db.session.remove()
        assert client.get("/catalog").status_code == 200
    if engine_name == "sqlite":
        assert _begins(q.statements) and set(_begins(q.statements)) == {"BEGIN"}
    else:  # PostgreSQL runs its own MVCC transactions: no explicit BEGIN from the app
        assert _begins(q.statements) == []


def test_writes_still_take_the_write_lock(app, login_as, count_queries, engine_name):
    client, _ = login_as(Role.CITY)
    db.session.remove()
    with count_queries() as q:
        # the public verification page counts look-ups per address: a write inside a GET
        assert client.get("/v/GD-0000-0000-0000-0000").status_code == 404
        db.session.remove()  # each request of a real server has its own session
        assert client.post("/notices/read").status_code in (302, 303)
    if engine_name == "sqlite":
        assert _begins(q.statements).count("BEGIN IMMEDIATE") >= 2
    else:
        assert _begins(q.statements) == []
