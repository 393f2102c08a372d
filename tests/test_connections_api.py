"""The connection-records API (VER-2, SUP-6): POST /api/v1/connections and its OpenAPI document.

Every answer the API gives is checked here: 200 (and a retry answering duplicate), 400, 401 (missing,
unknown, revoked token), 413 (too many records, too big a body), 422 (records by index, nothing stored),
429 (with Retry-After); and the token's life from the province's pages: shown once, stored hashed, revoked.
"""
from __future__ import annotations

import hashlib
import io
import json
import re

import pytest

from blueprints.api import tokens
from blueprints.core import usage
from models import ApiToken, ConnectionImport, DataOrg, RateEvent, Role, UsageDay, db
from tests.factories import make_user, make_voucher

URL = "/api/v1/connections"


def _org(name="测试运营商"):
    org = DataOrg(name=name, kind="operator")
    db.session.add(org)
    db.session.flush()
    return org


def _token(org=None, user=None):
    org = org or _org()
    row, token = tokens.issue(org, "测试", user or make_user(Role.PROVINCE))
    db.session.commit()
    return row, token


def _voucher():
    """An issued voucher whose enterprise declared 121.8.10.10 and whose supplier serves cloud.example.com
    (the contract is signed on 2025-01-10)."""
    v = make_voucher()
    usage.add_address(v, "121.8.10.10", make_user(Role.PROVINCE))
    v.supplier.endpoints = ["cloud.example.com"]
    db.session.flush()
    db.session.commit()
    return v


def _records(days=(1, 2, 3), enterprise="121.8.10.10", cloud="api.cloud.example.com"):
    return [{"time": f"2025-03-{d:02d}T10:00:00+08:00", "enterprise": enterprise, "cloud": cloud, "bytes": 1000 + d}
            for d in days]


def _post(client, token, body, headers=None, **kw):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(URL, data=data, headers=h, content_type="application/json", **kw)


def _count(model) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


# --------------------------------------------------------------------------- 200 and the retry


def test_a_batch_is_imported_and_a_retry_counts_once(app, client):
    # rule: VER-2 -- a batch id makes a retry idempotent: the retried batch counts once
    v = _voucher()
    row, token = _token()
    r = _post(client, token, {"batch_id": "b-001", "records": _records()})
    assert r.status_code == 200, r.get_data(as_text=True)
    first = r.get_json()
    assert first["rows"] == 3 and first["matched_rows"] == 3 and first["new_days"] == 3
    assert first["duplicate"] is False and isinstance(first["import_id"], int)
    assert _count(UsageDay) == 3
    db.session.refresh(row)
    assert row.last_used_at is not None

    again = _post(client, token, {"batch_id": "b-001", "records": _records()})
    assert again.status_code == 200
    body = again.get_json()
    assert body["duplicate"] is True and body["import_id"] == first["import_id"]
    assert _count(UsageDay) == 3 and _count(ConnectionImport) == 1
    days = db.session.execute(db.select(UsageDay.day).where(UsageDay.voucher_id == v.id)).scalars().all()
    assert len(days) == 3


def test_the_fifth_day_completes_the_voucher(app, client):
    # rule: VER-3 -- N (5) distinct days after the contract date verify the voucher, as the API reports
    v = _voucher()
    _, token = _token()
    r = _post(client, token, {"batch_id": "four", "records": _records(days=(1, 2, 3, 4))})
    assert r.status_code == 200 and r.get_json()["vouchers_completed"] == 0
    r = _post(client, token, {"batch_id": "five", "records": _records(days=(4, 5))})
    body = r.get_json()
    assert r.status_code == 200 and body["new_days"] == 1 and body["vouchers_completed"] == 1
    assert usage.is_verified(db.session.get(type(v), v.id))


def test_the_same_batch_id_of_another_organisation_is_its_own_batch(app, client):
    # rule: VER-2 -- idempotency is per organisation
    _voucher()
    _, t1 = _token(_org("运营商甲"))
    _, t2 = _token(_org("运营商乙"))
    assert _post(client, t1, {"batch_id": "same", "records": _records(days=(1,))}).get_json()["duplicate"] is False
    r = _post(client, t2, {"batch_id": "same", "records": _records(days=(2,))})
    assert r.status_code == 200 and r.get_json()["duplicate"] is False
    assert _count(ConnectionImport) == 2


# --------------------------------------------------------------------------- 400


@pytest.mark.parametrize("body, code", [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"", "invalid_json"),
    ([1, 2], "invalid_json"),
    ({"records": []}, "invalid_batch_id"),
    ({"batch_id": "", "records": []}, "invalid_batch_id"),
    ({"batch_id": 7, "records": []}, "invalid_batch_id"),
    ({"batch_id": "x" * 101, "records": []}, "invalid_batch_id"),
    ({"batch_id": "b"}, "invalid_records"),
    ({"batch_id": "b", "records": {"time": "2025-03-01"}}, "invalid_records"),
    ({"batch_id": "b", "records": []}, "invalid_records"),
    ({"batch_id": "b", "records": [], "customer": "张三"}, "unknown_field"),
], ids=["broken", "not-utf8", "empty", "array", "no-batch", "empty-batch", "number-batch", "long-batch",
        "no-records", "records-object", "records-empty", "extra-field"])
def test_a_malformed_envelope_is_400(app, client, body, code):
    # rule: VER-2
    _, token = _token()
    r = _post(client, token, body)
    assert r.status_code == 400, r.get_data(as_text=True)
    data = r.get_json()
    assert data["code"] == code and data["message"]
    assert _count(ConnectionImport) == 0


# --------------------------------------------------------------------------- 401


def test_a_missing_token_is_401_with_a_challenge(app, client):
    # rule: VER-2 -- 401 for a bad token
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer "}):
        r = client.post(URL, json={"batch_id": "b", "records": []}, headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.get_json()["code"] == "missing_token"
    assert "set-cookie" not in {k.lower() for k in r.headers.keys()}


def test_an_unknown_token_is_401(app, client):
    # rule: VER-2
    _token()
    r = _post(client, "gdv_" + "A" * 43, {"batch_id": "b", "records": _records()})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = _post(client, "x" * 5000, {"batch_id": "b", "records": _records()})
    assert r.status_code == 401


def test_a_revoked_token_is_401_and_stores_nothing(app, client):
    # rule: VER-2 -- a revoked token gets 401
    _voucher()
    row, token = _token()
    assert tokens.revoke(row, make_user(Role.PROVINCE)) is True
    db.session.commit()
    r = _post(client, token, {"batch_id": "b", "records": _records()})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_token"
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0
    assert tokens.revoke(row, make_user(Role.PROVINCE)) is False  # once


# --------------------------------------------------------------------------- 413


def test_more_than_10000_records_is_413(app, client):
    # rule: VER-2 -- batches up to 10,000 records; 413 for an oversized batch
    _voucher()
    _, token = _token()
    records = _records(days=(1,)) * 10_001
    r = _post(client, token, {"batch_id": "big", "records": records})
    assert r.status_code == 413, r.get_data(as_text=True)
    assert r.get_json()["code"] == "batch_too_large"
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0


def test_exactly_10000_records_are_taken(app, client):
    # rule: VER-2
    _voucher()
    _, token = _token()
    r = _post(client, token, {"batch_id": "full", "records": _records(days=(1,)) * 10_000})
    assert r.status_code == 200 and r.get_json()["rows"] == 10_000


def test_a_body_over_the_limit_is_413_before_it_is_read(app, client):
    # rule: VER-2 -- the declared length alone refuses it (16 MB by default), nothing is parsed
    _, token = _token()
    r = _post(client, token, b'{"batch_id": "b", "records": []}',
              environ_overrides={"CONTENT_LENGTH": str(16 * 1024 * 1024 + 1)})
    assert r.status_code == 413 and r.get_json()["code"] == "body_too_large"
    app.config["API_MAX_BODY_BYTES"] = 2000
    body = {"batch_id": "b", "records": _records(days=tuple(range(1, 29)))}
    assert len(json.dumps(body)) > 2000
    r = _post(client, token, body)
    assert r.status_code == 413 and r.get_json()["code"] == "body_too_large"
    assert _count(ConnectionImport) == 0


@pytest.mark.parametrize("extra", [1, 5000])
def test_a_chunked_body_over_the_limit_is_413_not_broken_json(app, client, extra):
    # rule: VER-2 -- without Content-Length (Transfer-Encoding: chunked) the body is read one byte past the
    # limit and refused as too large; before, it was cut at the limit and answered as invalid JSON (400)
    _, token = _token()
    limit = app.config["API_MAX_BODY_BYTES"] = 2000
    ok = json.dumps({"batch_id": "b", "records": []}).encode()
    body = ok + b" " * (limit + extra - len(ok))  # valid JSON, just too long
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    r = client.post(URL, input_stream=io.BytesIO(body), headers=headers, environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 413 and r.get_json()["code"] == "body_too_large"
    fits = ok + b" " * (limit - len(ok))  # exactly the limit: read whole, judged on its content
    r = client.post(URL, input_stream=io.BytesIO(fits), headers=headers, environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_records"
    assert _count(ConnectionImport) == 0


# --------------------------------------------------------------------------- 422


def test_bad_records_are_422_by_index_and_nothing_is_stored(app, client):
    # rule: VER-2, SUP-6 -- errors are a list of record index + reason; any other field (business data) refuses
    _voucher()
    _, token = _token()
    records = _records(days=(1, 2, 3, 4))
    records[1]["customer_name"] = "张三"  # business data: never accepted
    records[3]["time"] = "yesterday"
    r = _post(client, token, {"batch_id": "bad", "records": records})
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "invalid_records" and body["count"] >= 2
    indexes = {e["index"] for e in body["errors"]}
    assert {1, 3} <= indexes and 0 not in indexes and 2 not in indexes
    assert all(e["reason"] for e in body["errors"])
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0
    # the same batch id, corrected, is then taken: the refusal reserved nothing
    good = _post(client, token, {"batch_id": "bad", "records": _records(days=(1, 2, 3, 4))})
    assert good.status_code == 200 and good.get_json()["duplicate"] is False


def test_a_record_that_is_not_an_object_is_422(app, client):
    # rule: VER-2
    _, token = _token()
    r = _post(client, token, {"batch_id": "b", "records": [_records(days=(1,))[0], "121.8.10.10,x"]})
    assert r.status_code == 422
    assert [e["index"] for e in r.get_json()["errors"]] == [1]


# --------------------------------------------------------------------------- 429


def test_a_token_over_its_rate_is_429_with_retry_after(app, client):
    # rule: VER-2 -- 429 when rate-limited (per token; every request counts, refused ones too)
    app.config["API_RATE_PER_MINUTE"] = 3
    _, token = _token()
    _, other = _token(_org("另一家"))
    codes = [_post(client, token, {"batch_id": f"b{i}", "records": []} if i else b"{").status_code for i in range(3)]
    assert 429 not in codes
    r = _post(client, token, {"batch_id": "b9", "records": []})
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.get_json()["code"] == "rate_limited"
    assert _post(client, other, {"batch_id": "b9", "records": []}).status_code != 429  # per token
    assert _count(RateEvent) == 4  # the refused request was not counted


def test_the_rate_comes_from_config_by_default_120(app):
    assert app.config["API_RATE_PER_MINUTE"] == 120


# --------------------------------------------------------------------------- other methods, the document


def test_get_on_the_endpoint_is_a_json_405(app, client):
    r = client.get(URL)
    assert r.status_code == 405 and r.is_json


def test_the_openapi_document_describes_the_endpoint(app, client):
    # rule: VER-2 -- the API is described by an OpenAPI document the app serves
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = json.loads(r.get_data(as_text=True))
    assert doc["openapi"].startswith("3.1")
    op = doc["paths"]["/api/v1/connections"]["post"]
    assert {"200", "400", "401", "413", "422", "429"} <= set(op["responses"])
    assert "Retry-After" in op["responses"]["429"]["headers"]
    record = doc["components"]["schemas"]["Record"]
    assert set(record["properties"]) == {"time", "enterprise", "cloud", "bytes"}  # rule: SUP-6
    assert record["additionalProperties"] is False
    assert set(record["required"]) == {"time", "enterprise", "cloud"}
    assert doc["components"]["schemas"]["Batch"]["properties"]["records"]["maxItems"] == 10_000
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # every $ref resolves
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs and refs <= set(doc["components"]["schemas"])


# --------------------------------------------------------------------------- the token's life


def test_a_token_is_shown_once_stored_hashed_and_revoked_by_the_province(app, client, login):
    # rule: VER-2 -- a bearer token per organisation, issued by the province, shown once, stored only as a
    # hash, revocable, listed with its last use; a revoked token gets 401
    _voucher()
    province = make_user(Role.PROVINCE)
    org = _org()
    db.session.commit()
    c = login(province)
    r = c.post(f"/province/data-orgs/{org.id}/tokens", data={"label": "生产系统"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    token = re.search(r"gdv_[A-Za-z0-9_-]{43}", html).group(0)
    assert "no-store" in r.headers["Cache-Control"]

    row = db.session.execute(db.select(ApiToken).where(ApiToken.org_id == org.id)).scalar_one()
    assert row.token_hash != token and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12] and token not in (row.label, row.prefix)

    detail = c.get(f"/province/data-orgs/{org.id}").get_data(as_text=True)
    assert token not in detail and token[:12] in detail and "生产系统" in detail

    assert _post(client, token, {"batch_id": "life-1", "records": _records(days=(1,))}).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at is not None

    r = c.post(f"/province/api-tokens/{row.id}/revoke")
    assert r.status_code == 303
    assert _post(client, token, {"batch_id": "life-2", "records": _records(days=(2,))}).status_code == 401
    detail = c.get(f"/province/data-orgs/{org.id}").get_data(as_text=True)
    assert "已吊销" in detail and token not in detail
