"""POST /api/v1/connections: a batch of connection records from a data organisation (VER-2, SUP-6).

The order of the checks: the bearer token (401), the token's rate (429), the body's size (413, read from
Content-Length before any byte of the body), the JSON envelope (400), the batch's length (413), then the
records themselves (422, every bad record by index, nothing stored). A batch id already taken by the same
organisation is a retry: its first result comes back with "duplicate": true and nothing counts twice.
Every answer is JSON with a machine `code` and a Chinese `message`.
"""
from __future__ import annotations

import json
import math
from datetime import timedelta

from flask import current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from blueprints.api import bp, tokens
from blueprints.core import security
from blueprints.core.timeutil import now
from models import ConnectionImport, RateEvent, db

MAX_BODY_BYTES = 16 * 1024 * 1024  # API_MAX_BODY_BYTES: 10,000 records take about 1 MB
RATE_PER_MINUTE = 120  # API_RATE_PER_MINUTE, per token
RATE_WINDOW = timedelta(minutes=1)
MAX_BATCH_ID = 100  # ConnectionImport.batch_id
ENVELOPE = {"batch_id", "records"}


def error(status: int, code: str, message: str, headers: dict | None = None, **extra):
    resp = jsonify(code=code, message=message, request_id=g.get("request_id", ""), **extra)
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


def _unauthorized(code: str, message: str):
    challenge = 'Bearer realm="api"' + ("" if code == "missing_token" else ', error="invalid_token"')
    return error(401, code, message, {"WWW-Authenticate": challenge})


def _authenticate():
    """(token row, None) or (None, the 401 answer)."""
    header = request.headers.get("Authorization")
    if tokens.bearer(header) is None:
        return None, _unauthorized("missing_token", "缺少访问令牌：请在 Authorization 请求头中提供 Bearer 令牌")
    row = tokens.authenticate(header)
    if row is None:
        return None, _unauthorized("invalid_token", "访问令牌无效或已被吊销，请联系省工业和信息化厅")
    return row, None


def _retry_after(key: str) -> int:
    """Seconds until the oldest request in the window leaves it (and one more is allowed)."""
    oldest = db.session.execute(db.select(db.func.min(RateEvent.at)).where(
        RateEvent.key == key, RateEvent.at >= now() - RATE_WINDOW)).scalar()
    if oldest is None:
        return 1
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now().tzinfo)
    return max(1, math.ceil((oldest + RATE_WINDOW - now()).total_seconds()))


def _rate_limited(row):
    """Count this request against its token (committed, whatever follows); the 429 answer when over."""
    key = f"api:token:{row.id}"
    limit = int(current_app.config.get("API_RATE_PER_MINUTE", RATE_PER_MINUTE))
    security.serialize(key)
    if security.too_many(key, limit, RATE_WINDOW):
        wait = _retry_after(key)
        db.session.rollback()
        return error(429, "rate_limited", f"请求过于频繁：每个令牌每分钟最多 {limit} 次，请 {wait} 秒后重试",
                     {"Retry-After": str(wait)}, retry_after=wait)
    security.hit(key)
    row.last_used_at = now()
    db.session.commit()
    return None


def _read_envelope():
    """(batch_id, records, None) or (None, None, the 400/413 answer). The body is never read past the limit."""
    limit = int(current_app.config.get("API_MAX_BODY_BYTES", MAX_BODY_BYTES))
    too_big = error(413, "body_too_large", f"请求体超过 {limit // (1024 * 1024)} MB，请分批提交")
    if request.content_length is not None and request.content_length > limit:
        return None, None, too_big
    # A chunked body (no Content-Length) is read to one byte past the limit: werkzeug's stream stops at its
    # maximum without complaint, so a longer body would come back cut short and look like broken JSON.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None, None, too_big
    if len(data) > limit:
        return None, None, too_big
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return None, None, error(400, "invalid_json", "请求体不是有效的 JSON（UTF-8）")
    if not isinstance(body, dict):
        return None, None, error(400, "invalid_json", "请求体必须是 JSON 对象：{\"batch_id\": …, \"records\": […]}")
    extra = sorted(set(body) - ENVELOPE)
    if extra:
        return None, None, error(400, "unknown_field", f"不接受的字段：{', '.join(extra)[:200]}（只接受 batch_id 和 records）")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not batch_id.strip() or len(batch_id) > MAX_BATCH_ID or not batch_id.isprintable():
        return None, None, error(400, "invalid_batch_id", f"batch_id 必须是 1 至 {MAX_BATCH_ID} 个可打印字符的字符串，同一批次重试时保持不变")
    records = body.get("records")
    if not isinstance(records, list) or not records:
        return None, None, error(400, "invalid_records", "records 必须是连接记录的数组，且至少有一条记录")
    return batch_id.strip(), records, None


def _result(result, duplicate: bool):
    return jsonify(import_id=result.import_id, rows=result.rows, matched_rows=result.matched_rows,
                   new_days=result.new_days, vouchers_completed=result.vouchers_completed,
                   seconds=round(float(result.seconds or 0), 3), duplicate=bool(duplicate))


def _earlier(org_id: int, batch_id: str):
    return db.session.execute(db.select(ConnectionImport).where(
        ConnectionImport.org_id == org_id, ConnectionImport.batch_id == batch_id)).scalar_one_or_none()


def _import(row, batch_id: str, records: list):
    """Import the batch for the token's organisation and answer (200, or 413/422 with nothing stored)."""
    from blueprints.core import connections

    cap = connections.MAX_API_BATCH
    if len(records) > cap:
        return error(413, "batch_too_large", f"每批最多 {cap:,} 条记录（本批 {len(records):,} 条），请分批提交")
    security.serialize(f"api:batch:{row.org_id}:{batch_id}")  # a retry racing its original waits for it
    duplicate = _earlier(row.org_id, batch_id) is not None
    try:
        result = connections.import_records(records, org=row.org, batch_id=batch_id)
    except connections.BatchTooLarge as exc:
        db.session.rollback()
        return error(413, "batch_too_large", str(exc) or f"每批最多 {cap:,} 条记录")
    except connections.ImportRefused as exc:
        db.session.rollback()
        return error(422, "invalid_records", str(exc) or "有记录不合格，本批未导入任何记录", count=exc.count,
                     errors=[{"index": i, "reason": reason} for i, reason in exc.errors])
    except IntegrityError:  # the same batch committed by a parallel request in between: it is a retry
        db.session.rollback()
        earlier = _earlier(row.org_id, batch_id)
        if earlier is None:
            raise
        return _result(connections.ImportResult(
            import_id=earlier.id, rows=earlier.rows, matched_rows=earlier.matched_rows, new_days=earlier.new_days,
            vouchers_completed=earlier.vouchers_completed, seconds=earlier.seconds), True)
    db.session.commit()
    return _result(result, getattr(result, "duplicate", duplicate))


@bp.route("/connections", methods=["POST"])
def connections_post():
    """Take one batch of connection records (at most 10,000) from a data organisation's system."""
    row, refusal = _authenticate()
    if refusal is None:
        refusal = _rate_limited(row)
    if refusal is None:
        batch_id, records, refusal = _read_envelope()
    return refusal if refusal is not None else _import(row, batch_id, records)
