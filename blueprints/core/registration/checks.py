"""Checks shared by the profile forms: the USCC check digit and its uniqueness (REG-8), cloud endpoints (IP,
CIDR or domain), related parties."""
from __future__ import annotations

import ipaddress
import re

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError

from blueprints.core.registration.common import OPEN_CHANGE
from models import Enterprise, ProfileChange, db


# --------------------------------------------------------------------------- checks


def normalise_uscc(value):
    if value is None:
        return None
    return re.sub(r"[\s\-]", "", str(value)).upper()


def uscc_problem(value: str | None) -> str | None:
    """Why a USCC is not valid (GB 32100-2015), in Chinese; None when it is."""
    if not value:
        return "请输入统一社会信用代码"
    if len(value) != 18:
        return f"统一社会信用代码应为 18 位（现在是 {len(value)} 位）"
    try:
        stdnum_uscc.validate(value)
    except InvalidChecksum:
        return "统一社会信用代码校验位不正确，请对照营业执照逐位核对"
    except InvalidLength:
        return "统一社会信用代码应为 18 位"
    except StdnumError:
        return "统一社会信用代码格式不正确（由数字和大写字母组成，不含 I、O、Z、S、V）"
    return None


def uscc_taken(model, value: str, own_id: int | None) -> bool:
    """REG-8: another profile of the same kind holds it, or an open change proposes it."""
    q = db.select(model.id).where(model.uscc == value)
    if own_id is not None:
        q = q.where(model.id != own_id)
    if db.session.execute(q.limit(1)).first():
        return True
    col = ProfileChange.enterprise_id if model is Enterprise else ProfileChange.supplier_id
    q = db.select(ProfileChange.proposed).where(col.is_not(None), ProfileChange.status.in_(OPEN_CHANGE))
    if own_id is not None:
        q = q.where(col != own_id)
    return any((p or {}).get("uscc") == value for p in db.session.execute(q).scalars())


def duplicate_message(kind: str) -> str:
    what = "工业企业" if kind == "enterprise" else "供应商"
    return (f"该统一社会信用代码已注册为{what}账号（一个代码只能注册一个{what}账号）。"
            "如属本单位，请用原账号登录，或联系所在地市经信部门。")


_DOMAIN = re.compile(
    r"^(\*\.)?(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
MAX_ENDPOINTS = 50


def _special(addr) -> bool:
    return addr.is_loopback or addr.is_multicast or addr.is_unspecified or addr.is_link_local or addr.is_reserved


def parse_endpoint(text: str) -> str:
    """One cloud-side endpoint: an IP address, a CIDR range or a domain name (normalised)."""
    t = text.strip().lower().rstrip(".")
    if "/" in t:
        try:
            net = ipaddress.ip_network(t, strict=True)
        except ValueError:
            raise ValueError("网段写法不正确（主机位应为 0，例如 203.0.113.0/24）") from None
        if net.prefixlen < (16 if net.version == 4 else 32):
            raise ValueError("网段过大（IPv4 至少 /16，IPv6 至少 /32）")
        if _special(net):
            raise ValueError("不能使用本机、组播或保留地址段")
        return str(net)
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        ip = None
    if ip is not None:
        if _special(ip):
            raise ValueError("不能使用本机、组播或保留地址")
        return str(ip)
    if re.fullmatch(r"[\d.]+", t):
        raise ValueError("IP 地址不正确")
    try:
        ascii_name = t.encode("idna").decode("ascii") if not t.isascii() else t
    except UnicodeError:
        ascii_name = t
    if _DOMAIN.match(ascii_name):
        return ascii_name
    raise ValueError("不是有效的 IP 地址、网段（CIDR）或域名")


def parse_endpoints(text: str) -> list[str]:
    items = [x for x in re.split(r"[\s,，;；、]+", text or "") if x]
    out: list[str] = []
    for raw in items:
        try:
            value = parse_endpoint(raw)
        except ValueError as exc:
            raise ValueError(f"“{raw[:60]}”：{exc}") from None
        if value not in out:
            out.append(value)
    if len(out) > MAX_ENDPOINTS:
        raise ValueError(f"最多填写 {MAX_ENDPOINTS} 个地址")
    return out


def parse_related_parties(text: str, own_uscc: str | None = None) -> list[tuple[str, str]]:
    """Lines of "统一社会信用代码 名称" -> [(uscc, name)]; errors name the line."""
    out: list[tuple[str, str]] = []
    for i, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = re.split(r"[\s,，\t]+", line, maxsplit=1)
        code = normalise_uscc(parts[0])
        name = parts[1].strip() if len(parts) > 1 else ""
        problem = uscc_problem(code)
        if problem:
            raise ValueError(f"第 {i} 行：{problem}")
        if not name:
            raise ValueError(f"第 {i} 行：请在代码后写上关联方名称")
        if own_uscc and code == own_uscc:
            raise ValueError(f"第 {i} 行：不能把本单位列为关联方")
        if any(code == c for c, _ in out):
            raise ValueError(f"第 {i} 行：关联方 {code} 重复")
        out.append((code, name[:200]))
    if len(out) > 200:
        raise ValueError("关联方最多 200 个")
    return out


def related_text(parties) -> str:
    return "\n".join(f"{p.uscc} {p.name}" for p in parties)
