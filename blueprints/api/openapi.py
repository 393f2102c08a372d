"""GET /api/v1/openapi.json: the API described as an OpenAPI 3.1 document (VER-2)."""
from __future__ import annotations

from flask import current_app, jsonify

from blueprints.api import bp
from blueprints.api.connections import MAX_BATCH_ID, MAX_BODY_BYTES, RATE_PER_MINUTE


def _error_schema(extra: dict | None = None) -> dict:
    props = {
        "code": {"type": "string", "description": "机器可读的错误代码"},
        "message": {"type": "string", "description": "中文说明"},
        "request_id": {"type": "string"},
    }
    props.update(extra or {})
    return {"type": "object", "required": ["code", "message"], "properties": props}


def _json(description: str, schema_ref: str, codes: list[str], headers: dict | None = None) -> dict:
    out = {"description": description + "（code：" + "、".join(codes) + "）",
           "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}
    if headers:
        out["headers"] = headers
    return out


def document() -> dict:
    from blueprints.core.connections import MAX_API_BATCH

    cfg = current_app.config
    body_mb = int(cfg.get("API_MAX_BODY_BYTES", MAX_BODY_BYTES)) // (1024 * 1024)
    rate = int(cfg.get("API_RATE_PER_MINUTE", RATE_PER_MINUTE))
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "上云用量数据接口（Connection records API）",
            "version": "1.0.0",
            "description": (
                "供应商和网络运营商向平台报送连接元数据：哪个企业侧地址（或专线号）在何时访问了哪个云侧地址或域名，"
                "可选字节数。只接受这四个字段，不接受任何业务数据。令牌由省工业和信息化厅签发，只显示一次，可随时吊销。"
                f"每批最多 {MAX_API_BATCH:,} 条记录，请求体不超过 {body_mb} MB，每个令牌每分钟最多 {rate} 次请求。"
                "同一组织重复提交同一 batch_id 视为重试：返回首次结果（duplicate 为 true），不会重复计数。"
                "供应商报送的记录只计入以其为供应商的服务券；网络运营商报送的记录计入所有服务券。"
            ),
        },
        "paths": {
            "/api/v1/connections": {
                "post": {
                    "operationId": "postConnections",
                    "summary": "报送一批连接记录",
                    "security": [{"bearerAuth": []}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Batch"}}}},
                    "responses": {
                        "200": {"description": "已导入（或为重试：duplicate 为 true，返回首次导入的结果）",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportResult"}}}},
                        "400": _json("请求体不是 JSON 对象、缺少或无效的 batch_id、records 不是数组或为空、含有其他字段", "Error",
                                     ["invalid_json", "unknown_field", "invalid_batch_id", "invalid_records"]),
                        "401": _json("缺少令牌、令牌无效或已吊销", "Error", ["missing_token", "invalid_token"],
                                     {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}),
                        "413": _json(f"请求体超过 {body_mb} MB，或一批超过 {MAX_API_BATCH:,} 条记录", "Error",
                                     ["body_too_large", "batch_too_large"]),
                        "422": _json("有记录不合格：逐条给出序号（从 0 起）和原因（最多 100 条）及总数；本批未导入任何记录",
                                     "RecordErrors", ["invalid_records"]),
                        "429": _json(f"超过每个令牌每分钟 {rate} 次的限制", "Error", ["rate_limited"],
                                     {"Retry-After": {"schema": {"type": "integer"}, "description": "多少秒后可以重试"}}),
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {"operationId": "getOpenApi", "summary": "本文档", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1 文档",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Authorization: Bearer gdv_…（省厅签发的令牌）"}},
            "schemas": {
                "Batch": {
                    "type": "object", "additionalProperties": False, "required": ["batch_id", "records"],
                    "properties": {
                        "batch_id": {"type": "string", "minLength": 1, "maxLength": MAX_BATCH_ID,
                                     "description": "本组织内唯一的批次号；重试时保持不变"},
                        "records": {"type": "array", "minItems": 1, "maxItems": MAX_API_BATCH,
                                    "items": {"$ref": "#/components/schemas/Record"}},
                    },
                },
                "Record": {
                    "type": "object", "additionalProperties": False, "required": ["time", "enterprise", "cloud"],
                    "description": "一条连接记录：只有这四个字段，多出任何字段整批拒收",
                    "properties": {
                        "time": {"type": "string", "examples": ["2025-03-01", "2025-03-01T08:30:00+08:00"],
                                 "description": "日期（YYYY-MM-DD）或 ISO 8601 时间；未带时区的按北京时间"},
                        "enterprise": {"type": "string", "examples": ["203.0.113.10", "2001:db8::1", "GZ-DX-000123"],
                                       "description": "企业侧 IP 地址（IPv4/IPv6）或专线号"},
                        "cloud": {"type": "string", "examples": ["198.51.100.7", "api.cloud.example.com"],
                                  "description": "云侧 IP 地址或域名"},
                        "bytes": {"type": ["integer", "null"], "minimum": 0, "description": "可选：字节数"},
                    },
                },
                "ImportResult": {
                    "type": "object",
                    "required": ["import_id", "rows", "matched_rows", "new_days", "vouchers_completed", "duplicate"],
                    "properties": {
                        "import_id": {"type": "integer"},
                        "rows": {"type": "integer", "description": "本批记录数"},
                        "matched_rows": {"type": "integer", "description": "匹配到服务券的记录数"},
                        "new_days": {"type": "integer", "description": "新增的服务券使用天数"},
                        "vouchers_completed": {"type": "integer", "description": "因本批达到天数要求的服务券数"},
                        "seconds": {"type": "number"},
                        "duplicate": {"type": "boolean", "description": "true：该 batch_id 已导入过，本次未重复计数"},
                    },
                },
                "Error": _error_schema(),
                "RecordErrors": _error_schema({
                    "count": {"type": "integer", "description": "有误的记录总数"},
                    "errors": {"type": "array", "maxItems": 100, "items": {
                        "type": "object", "required": ["index", "reason"],
                        "properties": {"index": {"type": "integer", "description": "记录在 records 中的序号，从 0 起"},
                                       "reason": {"type": "string"}}}},
                }),
            },
        },
    }
    if cfg.get("PUBLIC_BASE_URL"):
        doc["servers"] = [{"url": cfg["PUBLIC_BASE_URL"].rstrip("/")}]
    return doc


@bp.route("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of the connection-records API."""
    resp = jsonify(document())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
