"""Rate-limit events stay bounded: expired rows of every address are pruned as attempts come in and by
`flask prune`, while the login and look-up limits keep holding.
"""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from blueprints.core import issuance, security
from blueprints.core.timeutil import now
from models import RateEvent, Role, db
from tests.factories import PASSWORD, make_user


def _old_events(n: int, age: dt.timedelta = dt.timedelta(days=2), prefix: str = "login:addr:198.51.100.") -> None:
    """Attempts from n addresses that never came back."""
    at = now() - age
    db.session.add_all(RateEvent(key=f"{prefix}{i}", at=at + dt.timedelta(seconds=i)) for i in range(n))
    db.session.commit()


def _rows(*where) -> int:
    return db.session.execute(db.select(db.func.count(RateEvent.id)).where(*where)).scalar_one()


def _expired() -> int:
    return _rows(RateEvent.at < now() - security.RATE_RETENTION)


def _login(client, username, password, addr="203.0.113.5"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": addr})


def test_attempts_prune_other_addresses_expired_rows_a_bounded_batch_at_a_time(app):
    _old_events(250)
    recent = now() - dt.timedelta(hours=20)  # inside the retention: kept
    db.session.add(RateEvent(key="login:addr:192.0.2.1", at=recent))
    db.session.commit()
    security.hit("verify:addr:203.0.113.1")
    db.session.commit()
    assert _expired() == 250 - security.PRUNE_PER_HIT  # a request never does unbounded work
    # the oldest go first
    assert _rows(RateEvent.key == "login:addr:198.51.100.0") == 0
    assert _rows(RateEvent.key == "login:addr:198.51.100.249") == 1
    for _ in range(2):
        security.hit("verify:addr:203.0.113.1")
    db.session.commit()
    assert _expired() == 0
    assert _rows(RateEvent.key == "login:addr:192.0.2.1") == 1
    assert _rows(RateEvent.key == "verify:addr:203.0.113.1") == 3


def test_failed_logins_from_addresses_that_never_return_disappear_a_day_later(app):
    client = app.test_client()
    for i in range(3):
        assert _login(client, f"guess{i}", "Wrong-pass-2026", addr=f"198.51.100.{i}").status_code == 422
    assert _rows() == 9  # per account and address, per account and per address
    with time_machine.travel(now() + security.RATE_RETENTION + dt.timedelta(minutes=1), tick=False):
        assert _login(client, "someone", "Wrong-pass-2026", addr="192.0.2.77").status_code == 422
        assert {k for (k,) in db.session.execute(db.select(RateEvent.key))} == {
            "login:user:someone:addr:192.0.2.77", "login:user:someone", "login:addr:192.0.2.77"}


def test_limits_still_hold_while_pruning(app):
    # the account limit (5 failures / 15 min) and the address limit are counted over unexpired rows only
    make_user(Role.ENTERPRISE, username="target")
    db.session.commit()
    _old_events(300, prefix="login:user:target#")
    client = app.test_client()
    for _ in range(app.config["LOGIN_LIMIT_PER_ACCOUNT"]):
        assert _login(client, "target", "Wrong-pass-2026").status_code == 422
    r = _login(client, "target", PASSWORD)
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    assert _expired() == 0  # ten hits pruned the whole backlog meanwhile
    app.config["VERIFY_LIMIT_PER_ADDRESS"] = 3  # rule: ROLE-7 (public look-ups stay limited too)
    _old_events(50, prefix="verify:addr:")
    looker = app.test_client()
    codes = [looker.get("/v/" + issuance.new_code(), environ_base={"REMOTE_ADDR": "203.0.113.200"}).status_code
             for _ in range(4)]
    assert codes[-1] == 429 and all(c != 429 for c in codes[:3]), codes


def test_a_window_longer_than_the_retention_is_refused(app):
    # its events would be pruned before the window ends, and the limit would quietly stop counting
    with pytest.raises(ValueError):
        security.too_many("x", 5, security.RATE_RETENTION + dt.timedelta(minutes=1))


def test_flask_prune_empties_the_backlog(app):
    _old_events(120)
    db.session.add(RateEvent(key="login:addr:192.0.2.9", at=now()))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "pruned 120 rate events" in result.output
    assert _rows() == 1
    assert "pruned 0 rate events" in app.test_cli_runner().invoke(args=["prune"]).output


def test_parallel_guesses_cannot_slip_past_the_login_limit(app):
    """Eight wrong passwords sent at the same moment (as from several workers or servers): exactly
    the first five are judged, the other three are refused by the limit."""
    import threading

    from models import Role
    from tests.factories import make_user

    make_user(Role.CITY, username="parallel_target")
    db.session.commit()
    db.session.remove()
    codes, go = [], threading.Barrier(8)

    def guess():
        c = app.test_client()
        go.wait()
        codes.append(c.post("/login", data={"username": "parallel_target", "password": "wrong-guess-1"}).status_code)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [422] * 5 + [429] * 3
