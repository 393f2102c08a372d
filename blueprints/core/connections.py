"""The connection-record import engine (VER-2, VER-3, SUP-6).

A connection record is exactly: a time (date or timestamp), an enterprise-side address or line number,
a cloud-side address or domain name, and optionally a byte count. Records arrive as a CSV file (a web
upload or `flask connections import`) or as a JSON batch of the API; either way the engine keeps
nothing of them but the distinct (voucher, Beijing day) pairs they prove (usage.record_days) and the
counts of the import. A file or batch with any bad record imports nothing.

How a 10-million-row file stays fast and small (the issue's Speed section): DuckDB (in memory, no
extensions, at most DUCKDB_MEMORY before it spills to a temporary folder) reads the file twice, every
column as text.

1. Pass 1 checks every row's time (one regular expression that knows the calendar) and byte count in
   SQL and groups the enterprise values and the cloud values (GROUPING SETS: thousands of distinct
   values, whatever the row count).
2. Python classifies those distinct values (classify_enterprise / classify_cloud: the ipaddress module's
   rules) and matches them against the issued vouchers' declared addresses and their suppliers'
   endpoints (_Index: one dict per prefix length, IPv4 and IPv6 apart; domains by label suffix, so
   evil-example.com is not example.com). Values reaching the same set of vouchers (or suppliers) share
   one integer key.
3. Pass 2 joins the rows to the two small key tables on 64-bit hashes of the raw text (exact: pass 1
   saw every distinct value and checked that no two share a hash; else it joins on the text) and groups
   by (enterprise key, cloud key, Beijing day). A last query over that small table keeps the (voucher,
   day) pairs whose supplier matches, after the contract's signing day and not after today.

A refused file gets one more pass (WITH ORDINALITY) for its first MAX_REPORTED_ERRORS bad rows; their
file line numbers come from the record ordinals, the reader's own rejects (wrong field count, bad
encoding, unbalanced quotes) and a scan of the file for blank lines and quoted line breaks.

An API batch (10,000 records at most) is checked and matched in Python with the same classification and
beijing_day, the Python twin of the SQL day (a property test holds them together). The index behind
both intakes is kept per database while a fingerprint of vouchers and addresses holds (_Matcher), so a
stream of batches neither reloads 10,000 vouchers nor reclassifies the same addresses.
usage.record_days stores the pairs (the database skips the days already known) and usage.refresh
recomputes the summaries of the vouchers that gained one (which moves waiting settlements on, SET-5).
Functions only flush; the caller commits.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import ipaddress
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy.exc import IntegrityError

from blueprints.core import uploads, usage
from blueprints.core.timeutil import local, today
from models import (
    Application, ConnectionImport, StoredFile, Supplier, Voucher, VoucherAddress, VoucherStatus, db,
)

CSV_COLUMNS = ("time", "enterprise", "cloud")  # required header names; optional 4th: "bytes"
OPTIONAL_COLUMNS = ("bytes",)
MAX_API_BATCH = 10_000
MAX_REPORTED_ERRORS = 100

DUCKDB_THREADS = 2
DUCKDB_MEMORY = "192MB"  # DuckDB spills to a temporary folder beyond this (the process stays under 500 MB)
MAX_LINE_BYTES = 4096
MAX_VALUE_SHOWN = 60

# Accepted times: a date, or a date and time (minutes, optional seconds and fraction), optionally with
# Z or an offset; blanks around it are ignored. Without an offset a time is Beijing time. Years
# 1900-2099 (before 1582 DuckDB's ICU counts Julian days, so Python and SQL would disagree on a day, and no
# connection record is that old); the date must exist (the regular expression knows month lengths and leap years, so one
# expression checks a row completely). RE2 syntax, as DuckDB runs it; also valid for Python's re (ASCII).
def _date_re(sep: str) -> str:
    return (rf"((19|20)\d{{2}}{sep}((0[13578]|1[02]){sep}(0[1-9]|[12]\d|3[01])|(0[469]|11){sep}(0[1-9]|[12]\d|30)"
            rf"|02{sep}(0[1-9]|1\d|2[0-8]))|((19|20)(0[48]|[2468][048]|[13579][26])|2000)"
            rf"{sep}02{sep}29)")


TIME_RE = (rf"[ \t]*({_date_re('-')}|{_date_re('/')})"
           r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?[ \t]*")
BYTES_RE = "[ \t]*[0-9]{0,19}[ \t]*"  # blank: no count
_TIME = re.compile(TIME_RE, re.ASCII)
_COMMON_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d):(\d\d)(Z|[+-]\d\d:\d\d)?)?", re.ASCII)
_BEIJING_MINUTES = 8 * 60
TIME_HINT = "应为 2026-03-01、2026-03-01 08:30:00（北京时间）或带时区的 2026-03-01T00:30:00Z、2026-03-01T08:30:00+08:00"
_DIGITS_DOTS = re.compile(r"[\d.]+")
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BLANKS = "' \t'"


class ImportRefused(Exception):
    """Nothing was imported. .errors: list of (line_or_index, reason in Chinese), at most
    MAX_REPORTED_ERRORS; .count: total number of bad rows; str(exc): a one-line Chinese summary."""

    def __init__(self, summary: str, errors=None, count: int | None = None):
        super().__init__(summary)
        self.errors: list[tuple[int, str]] = list(errors or [])[:MAX_REPORTED_ERRORS]
        self.count: int = len(self.errors) if count is None else count


class BatchTooLarge(ImportRefused):
    """An API batch of more than MAX_API_BATCH records (the route answers 413)."""


@dataclass
class ImportResult:
    import_id: int
    rows: int
    matched_rows: int
    new_days: int
    vouchers_completed: int
    seconds: float


# --------------------------------------------------------------------------- values


def _clean(raw: str | None) -> str:
    if raw is None:
        return ""
    return raw.strip() if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()


def _ip(text: str):
    """("ip", version, int) of an address (an IPv4-mapped IPv6 address is its IPv4 one), or None."""
    if _V4.fullmatch(text):  # the common case, without the ipaddress module's cost
        a, b, c, d = text.split(".")
        return ("ip", 4, (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d))
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return ("ip", a.version, int(a))


@functools.lru_cache(maxsize=1 << 15)
def classify_enterprise(raw: str | None):
    """An enterprise-side value of a record: ("ip", version, int), ("line", LINE) or None when it is
    neither (the shapes usage.parse_declared accepts; a range is not an address)."""
    text = _clean(raw)
    if not text:
        return None
    if "/" in text or ":" in text or _DIGITS_DOTS.fullmatch(text):
        return _ip(text)
    line = text.upper().replace(" ", "")
    return ("line", line) if usage.LINE_RE.match(line) else None


@functools.lru_cache(maxsize=1 << 15)
def classify_cloud(raw: str | None):
    """A cloud-side value of a record: ("ip", version, int), ("domain", name) or None."""
    text = _clean(raw).lower().rstrip(".")
    if not text:
        return None
    if ":" in text or _DIGITS_DOTS.fullmatch(text):  # an address has digits and dots only, or colons
        return _ip(text)
    return ("domain", text) if usage.DOMAIN_RE.match(text) else None


@functools.lru_cache(maxsize=1 << 15)
def beijing_day(text) -> dt.date | None:
    """The Beijing calendar day of a record's time, or None when it is not a valid time (TIME_RE): with Z
    or an offset the instant is moved to UTC+8, without one it is Beijing time already (VER-3). The CSV
    path computes the same in SQL (_day_sql); a test holds the two together."""
    if not isinstance(text, str):
        return None
    fast = _COMMON_TIME.fullmatch(text)
    if fast is not None:  # the usual spellings, checked field by field exactly as TIME_RE checks them
        y, mo, d, h, mi, sec, off = fast.groups()
        try:
            day = dt.date(int(y), int(mo), int(d))
        except ValueError:
            return None
        if not 1900 <= day.year <= 2099:
            return None
        if h is None:
            return day
        minutes = int(h) * 60 + int(mi)
        if int(h) > 23 or int(mi) > 59 or int(sec) > 59:
            return None
        if off is not None and off != "Z":
            oh, om = int(off[1:3]), int(off[4:6])
            if oh > 23 or om > 59:
                return None
            minutes -= (oh * 60 + om) * (-1 if off[0] == "-" else 1)
        elif off is None:
            return day
        return _shifted(day, (minutes + _BEIJING_MINUTES) // 1440)
    if not _TIME.fullmatch(text):
        return None
    t = text.strip(" \t")
    day = dt.date(int(t[0:4]), int(t[5:7]), int(t[8:10]))
    if len(t) == 10:
        return day
    rest = t[16:]  # after HH:MM: seconds, fraction, offset
    if rest.endswith("Z"):
        offset = 0
    else:
        k = max(rest.find("+"), rest.find("-"))
        if k < 0:
            return day
        digits = rest[k + 1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)) * (-1 if rest[k] == "-" else 1)
    minutes = int(t[11:13]) * 60 + int(t[14:16]) - offset + _BEIJING_MINUTES
    return _shifted(day, minutes // 1440)


def _shifted(day: dt.date, days: int) -> dt.date:
    if not days:
        return day
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:  # 9999-12-31 late in the day west of Greenwich: a day that never counts
        return dt.date.max


class _Networks:
    """Owners of IP networks, found by address: one dict per prefix length (CIDR blocks nest or are
    disjoint, so an address is in a block exactly when its top bits equal the block's)."""

    def __init__(self):
        self.tables: dict[int, dict[int, dict[int, set]]] = {4: {}, 6: {}}

    def add(self, net, owner) -> None:
        bits = net.max_prefixlen
        table = self.tables[net.version].setdefault(net.prefixlen, {})
        table.setdefault(int(net.network_address) >> (bits - net.prefixlen), set()).add(owner)

    def owners(self, version: int, value: int) -> set:
        bits = 32 if version == 4 else 128
        out: set = set()
        for plen, table in self.tables[version].items():
            hit = table.get(value >> (bits - plen))
            if hit:
                out |= hit
        return out


@dataclass
class _Index:
    """What records are matched against: issued vouchers, their declared addresses, their suppliers'
    endpoints (VER-3)."""

    supplier: dict[int, int] = field(default_factory=dict)  # voucher id -> supplier id
    signed: dict[int, dt.date] = field(default_factory=dict)  # voucher id -> contract signing date
    ent_nets: _Networks = field(default_factory=_Networks)  # -> voucher ids
    lines: dict[str, set] = field(default_factory=dict)  # LINE -> voucher ids
    cloud_nets: _Networks = field(default_factory=_Networks)  # -> supplier ids
    domains: dict[str, set] = field(default_factory=dict)  # domain -> supplier ids

    def vouchers_of(self, key) -> set:
        if key[0] == "ip":
            return self.ent_nets.owners(key[1], key[2])
        return self.lines.get(key[1], set())

    def suppliers_of(self, key) -> set:
        if key[0] == "ip":
            return self.cloud_nets.owners(key[1], key[2])
        labels = key[1].split(".")
        out: set = set()
        for i in range(len(labels) - 1):  # equal, or a subdomain: never a look-alike (evil-example.com)
            hit = self.domains.get(".".join(labels[i:]))
            if hit:
                out |= hit
        return out


@functools.lru_cache(maxsize=1 << 16)
def _network(value: str):
    """A declared address or range as stored (normalised by usage.parse_declared), parsed once per process."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1 << 14)
def _endpoint(value: str):
    return usage.parse_endpoint(value)


# The index of each database, reused while nothing it stands on changed: an API batch every fraction
# of a second need not read 10,000 vouchers again. Issued vouchers' contract dates never change; a
# voucher voided or issued, an address added or removed changes the fingerprint; the suppliers'
# endpoints are read every time (they are few) and compared. A reused index keeps what it learnt
# (which vouchers a value reaches), so a stream of batches classifies each address once.
_MATCHERS: dict[str, "_Matcher"] = {}
_MATCHERS_LOCK = threading.Lock()
_MEMO_LIMIT = 1 << 18


@dataclass
class _Matcher:
    mark: tuple  # the fingerprint of vouchers and addresses, and the day
    endpoints: tuple  # ((supplier id, (endpoint, ...)), ...)
    idx: _Index
    ents: dict = field(default_factory=dict)  # raw enterprise value -> voucher ids (frozenset), None if malformed
    clouds: dict = field(default_factory=dict)  # raw cloud value -> supplier ids (frozenset), None if malformed
    reach: dict = field(default_factory=dict)  # (enterprise, cloud) -> ((voucher id, contract date), ...)

    def enterprise(self, raw):
        hit = self.ents.get(raw, self)
        if hit is self:
            key = classify_enterprise(raw)
            hit = None if key is None else frozenset(self.idx.vouchers_of(key))
            if len(self.ents) >= _MEMO_LIMIT:
                self.ents.clear()
            self.ents[raw] = hit
        return hit

    def cloud(self, raw):
        hit = self.clouds.get(raw, self)
        if hit is self:
            key = classify_cloud(raw)
            hit = None if key is None else frozenset(self.idx.suppliers_of(key))
            if len(self.clouds) >= _MEMO_LIMIT:
                self.clouds.clear()
            self.clouds[raw] = hit
        return hit

    def vouchers(self, e, c) -> tuple:
        """The (voucher, contract date) pairs a record from e to c counts for (its supplier's endpoint)."""
        hit = self.reach.get((e, c))
        if hit is None:
            sids = self.clouds[c]
            hit = tuple((v, self.idx.signed[v]) for v in self.ents[e] if self.idx.supplier[v] in sids)
            if len(self.reach) >= _MEMO_LIMIT:
                self.reach.clear()
            self.reach[e, c] = hit
        return hit


def _fingerprint() -> tuple:
    f = db.func
    v = db.session.execute(db.select(f.count(Voucher.id), f.coalesce(f.sum(Voucher.id), 0), f.max(Voucher.issued_at))
                           .where(Voucher.status == VoucherStatus.ISSUED)).one()
    a = db.session.execute(db.select(f.count(VoucherAddress.id), f.coalesce(f.sum(VoucherAddress.id), 0),
                                     f.max(VoucherAddress.id), f.max(VoucherAddress.created_at))).one()
    return (today(), *v, *a)


def _declared(idx: _Index) -> None:
    horizon = today()
    rows = db.session.execute(
        db.select(Voucher.id, Voucher.supplier_id, Application.contract_signed_on)
        .join(Application, Application.id == Voucher.application_id)
        .where(Voucher.status == VoucherStatus.ISSUED, Application.contract_signed_on.is_not(None))).all()
    for vid, sid, signed in rows:
        if signed < horizon:  # a contract signed today has no countable day yet
            idx.supplier[vid], idx.signed[vid] = sid, signed
    if not idx.supplier:
        return
    for vid, kind, value in db.session.execute(
            db.select(VoucherAddress.voucher_id, VoucherAddress.kind, VoucherAddress.value)).all():
        if vid not in idx.supplier:  # not issued (any more)
            continue
        if kind == "line":
            idx.lines.setdefault(value.upper(), set()).add(vid)
        elif (net := _network(value)) is not None:
            idx.ent_nets.add(net, vid)


def _endpoints_of(supplier_ids) -> tuple:
    out = []
    ids = sorted(set(supplier_ids))
    for i in range(0, len(ids), 1000):
        out += [(sid, tuple(str(x) for x in (eps or []))) for sid, eps in db.session.execute(
            db.select(Supplier.id, Supplier.endpoints).where(Supplier.id.in_(ids[i:i + 1000]))).all()]
    return tuple(sorted(out))


def _matcher() -> _Matcher:
    key = str(db.session.get_bind().url)
    mark = _fingerprint()
    with _MATCHERS_LOCK:
        m = _MATCHERS.get(key)
    if m is not None and m.mark == mark:
        endpoints = _endpoints_of(m.idx.supplier.values())
        if endpoints == m.endpoints:
            return m
        base = m.idx
    else:
        base = _Index()
        _declared(base)
        endpoints = _endpoints_of(base.supplier.values())
    idx = _Index(supplier=base.supplier, signed=base.signed, ent_nets=base.ent_nets, lines=base.lines)
    for sid, eps in endpoints:
        for text in eps:
            ep = _endpoint(text)
            if ep is None:
                continue
            if isinstance(ep, str):
                idx.domains.setdefault(ep, set()).add(sid)
            else:
                idx.cloud_nets.add(ep, sid)
    m = _Matcher(mark, endpoints, idx)
    with _MATCHERS_LOCK:
        if len(_MATCHERS) >= 8:
            _MATCHERS.clear()
        _MATCHERS[key] = m
    return m


def _load_index() -> _Index:
    return _matcher().idx


# --------------------------------------------------------------------------- messages


def _shown(value) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN] + "…"


def _value_problems(t, e, c, b, time_bad: bool, bytes_bad: bool) -> list[str]:
    out = []
    if time_bad:
        out.append("时间为空" if not (t or "").strip() else f"时间“{_shown(t)}”无法识别（{TIME_HINT}）")
    if classify_enterprise(e) is None:
        out.append("企业端地址为空" if not e else f"企业端“{_shown(e)}”既不是 IP 地址也不是专线号")
    if classify_cloud(c) is None:
        out.append("云端地址为空" if not c else f"云端“{_shown(c)}”既不是 IP 地址也不是域名")
    if bytes_bad:
        out.append(f"字节数“{_shown(b)}”不是非负整数")
    return out


_REJECT_TEXT = {
    "INVALID ENCODING": "不是 UTF-8 编码的文本",
    "UNQUOTED VALUE": "引号不配对",
    "INVALID UNICODE": "不是 UTF-8 编码的文本",
    "LINE SIZE OVER MAXIMUM": f"行过长（超过 {MAX_LINE_BYTES} 字节）",
}


def _reject_reason(error_type: str, message: str, ncols: int) -> str:
    if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        m = re.search(r"Found:\s*(\d+)", message or "")
        found = f"，实际 {m.group(1)} 个" if m else ""
        extra = "（多出的字段可能是业务数据，一律不收）" if error_type == "TOO MANY COLUMNS" else ""
        return f"字段个数不对：应为 {ncols} 个{found}{extra}"
    return _REJECT_TEXT.get(error_type, "无法读取这一行")


def _refused(count: int, errors: list, unit: str = "行") -> ImportRefused:
    listed = f"（列出前 {len(errors)} {unit}）" if count > len(errors) else ""
    return ImportRefused(f"有 {count} {unit}记录格式错误，未导入任何记录{listed}", errors, count)


# --------------------------------------------------------------------------- the DuckDB engine


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Engine:
    """One import's DuckDB database (in memory, spilling to a private temporary folder)."""

    def __init__(self, progress: Callable[[float], None] | None = None):
        import duckdb

        self.tmp = tempfile.mkdtemp(prefix="connections-")
        self.con = duckdb.connect(config={
            "threads": DUCKDB_THREADS, "memory_limit": DUCKDB_MEMORY, "temp_directory": self.tmp,
            "autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:  # ICU (built into the wheel): naive times are read as Beijing time (UTC+8, China Standard
            # Time, no summer time: Etc/GMT-8 is UTC+8), and the cast to DATE gives the Beijing day
            self.con.execute("SET TimeZone = 'Etc/GMT-8'")
            self.beijing = True
        except Exception:  # a DuckDB without ICU: TIMESTAMPTZ is UTC, the day is computed by hand
            self.beijing = False
        self.progress = progress
        if progress is not None:
            self.con.execute("SET enable_progress_bar = true")
            self.con.execute("SET enable_progress_bar_print = false")

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, sql: str, params=None, share: tuple[float, float] | None = None):
        """Execute; while it runs, report its progress as a fraction within `share` of the whole."""
        if self.progress is None or share is None:
            return self.con.execute(sql, params) if params is not None else self.con.execute(sql)
        box: dict = {}

        def work():
            try:
                box["result"] = self.con.execute(sql, params) if params is not None else self.con.execute(sql)
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        lo, hi = share
        while worker.is_alive():
            worker.join(0.25)
            try:
                pct = self.con.query_progress()
            except Exception:
                pct = -1
            if pct is not None and pct >= 0:
                self.progress(lo + (hi - lo) * min(pct, 100.0) / 100.0)
        self.progress(hi)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def source(self, path: str, columns: tuple[str, ...], *, rejects: bool = False) -> str:
        cols = ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in columns)
        opts = [f"columns = {{{cols}}}", "header = true", "delim = ','", "quote = '\"'", "escape = '\"'",
                "auto_detect = false", "strict_mode = true", "null_padding = false", "encoding = 'utf-8'",
                f"max_line_size = {MAX_LINE_BYTES}"]
        if rejects:
            opts += ["store_rejects = true", "rejects_table = 'rej_errors'", "rejects_scan = 'rej_scans'"]
        else:
            opts.append("ignore_errors = true")
        return f"read_csv({_sql_text(str(path))}, {', '.join(opts)})"


def _day_sql(beijing: bool) -> str:
    """The Beijing day of a valid time (SQL, column "time"), as beijing_day() computes it. With the session
    in UTC+8 a naive time is read as Beijing time and the cast to DATE gives the Beijing day; without ICU
    the cast reads everything as UTC, so a time with Z or an offset is moved by 8 hours and a naive one
    is taken as written. A time with blanks around it (rare) is trimmed only when the plain cast fails."""
    def one(t: str) -> str:
        if beijing:
            return f"CAST(try_cast({t} AS TIMESTAMPTZ) AS DATE)"
        has_offset = (f"(strlen({t}) > 16 AND (contains({t}, 'Z') OR contains({t}, '+') "
                      f"OR contains(right({t}, 6), '-')))")
        return (f"CAST(try_cast({t} AS TIMESTAMPTZ) + "
                f"CASE WHEN {has_offset} THEN INTERVAL 8 HOUR ELSE INTERVAL 0 HOUR END AS DATE)")

    plain, trimmed = '"time"', f'trim("time", {_BLANKS})'
    return f"coalesce({one(plain)}, {one(trimmed)})"


def _exprs(columns: tuple[str, ...]) -> dict[str, str]:
    """SQL for one row's checks. Values stay as read: Python strips the enterprise and cloud values when it
    classifies the distinct ones (pass 2 joins on the same raw text), the regular expressions allow
    blanks around a time or a byte count (a trim on every row would cost more than the checks)."""
    b = "bytes" if "bytes" in columns else "NULL::VARCHAR"
    return dict(b=b, time_bad=f"NOT coalesce(regexp_full_match(\"time\", {_sql_text(TIME_RE)}), false)",
                bytes_bad=f"coalesce(NOT regexp_full_match({b}, {_sql_text(BYTES_RE)}), false)")


@dataclass
class _Analysis:
    rows: int
    matched_rows: int
    pairs: list  # (voucher_id, day), distinct, ordered by voucher


def _line_numbers(path: str, reject_positions: list[int], ordinals: set[int]) -> tuple[dict, dict]:
    """File line numbers (the header is line 1) of the reader's rejected records and of the records it
    kept, by ordinal. Records are counted as the reader does: a blank line is none, a quoted line break
    continues its record. A rejected record is known by the byte position the reader gives: two bytes past
    the end of the record before it, whatever the line ends are (so: the first record that starts after
    position - 2). The o-th kept record is the o-th record that is not rejected. Reads only as far as needed."""
    by_position: dict[int, int] = {}
    by_ordinal: dict[int, int] = {}
    pending = sorted(set(reject_positions))
    kept = 0
    in_quote = False
    last = max(ordinals, default=0)
    with open(path, "rb") as fh:
        end = len(fh.readline())
        for lineno, raw in enumerate(fh, start=2):
            start, end = end, end + len(raw)
            if not in_quote and raw.strip(b"\r\n"):  # a record starts here
                if pending and pending[0] - 2 < start:
                    while pending and pending[0] - 2 < start:
                        by_position[pending.pop(0)] = lineno
                else:
                    kept += 1
                    if kept in ordinals:
                        by_ordinal[kept] = lineno
            if kept >= last and not pending:
                break
            if b'"' in raw and raw.count(b'"') % 2:
                in_quote = not in_quote
    return by_position, by_ordinal


def _rows_sql(x: dict, src: str, *, ordinal: bool = False) -> str:
    """One row's values and checks (with the record's ordinal, 1-based, for the error report)."""
    o = "ordinality AS o, " if ordinal else ""
    return (f"SELECT {o}\"time\" AS t, enterprise AS e, cloud AS c, {x['b']} AS b, {x['time_bad']} AS tb, "
            f"{x['bytes_bad']} AS bb FROM {src}" + (" WITH ORDINALITY" if ordinal else ""))


def _analyse(eng: _Engine, path: str, columns: tuple[str, ...]) -> _Analysis:
    """Check every row; refuse with the first bad ones; else the distinct (voucher, day) pairs."""
    x = _exprs(columns)
    # Pass 1: the distinct enterprise values and cloud values, and how many rows have a bad time or
    # byte count.
    eng.run(f"""CREATE TEMP TABLE vals AS
        SELECT grouping(e) AS ge, e, c, count(*)::BIGINT AS n, count_if(tb OR bb)::BIGINT AS nbad
        FROM ({_rows_sql(x, eng.source(path, columns, rejects=True))})
        GROUP BY GROUPING SETS ((e), (c))""", share=(0.05, 0.5))
    rejected = eng.con.execute("SELECT count(DISTINCT line_byte_position) FROM rej_errors").fetchone()[0] \
        if _has_table(eng, "rej_errors") else 0

    idx = _load_index()
    rows = bad_rows = 0
    bad_e: list = []
    bad_c: list = []
    ent_keys: dict[frozenset, int] = {}
    cloud_keys: dict[frozenset, int] = {}
    ent_map: tuple[list, list] = ([], [])
    cloud_map: tuple[list, list] = ([], [])
    cur = eng.con.execute("SELECT ge, e, c, n, nbad FROM vals")
    while chunk := cur.fetchmany(50_000):
        for ge, e, c, n, nbad in chunk:
            if ge == 0:  # an enterprise value
                rows += n
                bad_rows += nbad
                key = classify_enterprise(e)
                if key is None:
                    bad_e.append(e)
                elif vids := idx.vouchers_of(key):
                    ent_map[0].append(e)
                    ent_map[1].append(ent_keys.setdefault(frozenset(vids), len(ent_keys) + 1))
            else:  # a cloud value
                key = classify_cloud(c)
                if key is None:
                    bad_c.append(c)
                elif sids := idx.suppliers_of(key):
                    cloud_map[0].append(c)
                    cloud_map[1].append(cloud_keys.setdefault(frozenset(sids), len(cloud_keys) + 1))

    if rejected or bad_rows or bad_e or bad_c:
        raise _errors(eng, path, columns, x, bad_e, bad_c, rejected)
    if not rows:
        raise ImportRefused("没有任何记录（文件只有列名）")
    if not ent_map[0] or not cloud_map[0]:
        return _Analysis(rows, 0, [])

    # Pass 2: rows whose enterprise and cloud values reach some voucher, grouped by (enterprise key,
    # cloud key, day). The joins are on 64-bit hashes of the raw values (integer probes are several
    # times cheaper than string ones) unless two distinct values of this file share a hash.
    exact = eng.con.execute("SELECT count(*) = count(DISTINCT hash(e)) FROM vals WHERE ge = 0").fetchone()[0] \
        and eng.con.execute("SELECT count(*) = count(DISTINCT hash(c)) FROM vals WHERE ge = 1").fetchone()[0]
    eng.con.execute("CREATE TEMP TABLE ent_map AS SELECT e, k, hash(e) AS h FROM "
                    "(SELECT unnest($1::VARCHAR[]) AS e, unnest($2::INTEGER[]) AS k)", [ent_map[0], ent_map[1]])
    eng.con.execute("CREATE TEMP TABLE cloud_map AS SELECT c, k, hash(c) AS h FROM "
                    "(SELECT unnest($1::VARCHAR[]) AS c, unnest($2::INTEGER[]) AS k)", [cloud_map[0], cloud_map[1]])
    ek = [(k, v) for vids, k in ent_keys.items() for v in vids]
    eng.con.execute(
        "CREATE TEMP TABLE ent_v AS SELECT unnest($1::INTEGER[]) AS k, unnest($2::INTEGER[]) AS voucher_id, "
        "unnest($3::INTEGER[]) AS supplier_id, unnest($4::DATE[]) AS signed",
        [[k for k, _ in ek], [v for _, v in ek], [idx.supplier[v] for _, v in ek], [idx.signed[v] for _, v in ek]])
    cs = [(k, s) for sids, k in cloud_keys.items() for s in sids]
    eng.con.execute("CREATE TEMP TABLE cloud_s AS SELECT unnest($1::INTEGER[]) AS k, "
                    "unnest($2::INTEGER[]) AS supplier_id", [[k for k, _ in cs], [s for _, s in cs]])
    # Only integers and the day go through the joins: the strings are hashed before them.
    key_e, key_c, col = ("hash(enterprise)", "hash(cloud)", "h") if exact else ("enterprise", "cloud", "")
    eng.run(f"""CREATE TEMP TABLE hits AS
        SELECT m.k AS ek, n.k AS ck, r.day, count(*)::BIGINT AS n
        FROM (SELECT {key_e} AS e, {key_c} AS c, {_day_sql(eng.beijing)} AS day FROM {eng.source(path, columns)}) r
        JOIN ent_map m ON m.{col or 'e'} = r.e JOIN cloud_map n ON n.{col or 'c'} = r.c
        GROUP BY ALL""", share=(0.55, 0.9))
    horizon = today()
    counted = ("FROM ent_v v JOIN cloud_s s ON s.supplier_id = v.supplier_id "
               "WHERE v.k = h.ek AND s.k = h.ck AND h.day > v.signed AND h.day <= $1")
    matched = eng.con.execute(f"SELECT coalesce(sum(n), 0) FROM hits h WHERE EXISTS (SELECT 1 {counted})",
                              [horizon]).fetchone()[0]
    pairs = eng.con.execute(
        "SELECT DISTINCT v.voucher_id, h.day FROM hits h JOIN ent_v v ON v.k = h.ek "
        "JOIN cloud_s s ON s.k = h.ck AND s.supplier_id = v.supplier_id "
        "WHERE h.day > v.signed AND h.day <= $1 ORDER BY 1, 2", [horizon]).fetchall()
    return _Analysis(rows, int(matched), pairs)


def _has_table(eng: _Engine, name: str) -> bool:
    return bool(eng.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $1", [name]).fetchone()[0])


def _errors(eng: _Engine, path: str, columns, x, bad_e, bad_c, rejected: int) -> ImportRefused:
    """The refusal of a bad file: its first bad rows by line and their count."""
    for name, col, values in (("bad_e", "e", bad_e), ("bad_c", "c", bad_c)):
        eng.con.execute(f"CREATE TEMP TABLE {name} AS SELECT unnest($1::VARCHAR[]) AS {col}",
                        [[v for v in values if v is not None]])
    e_null = any(e is None for e in bad_e)
    c_null = any(c is None for c in bad_c)
    flagged = f"""SELECT o, t, e, c, b, tb, bb FROM ({_rows_sql(x, eng.source(path, columns), ordinal=True)})
        WHERE tb OR bb OR {'e IS NULL OR ' if e_null else ''}e IN (SELECT e FROM bad_e)
           OR {'c IS NULL OR ' if c_null else ''}c IN (SELECT c FROM bad_c)"""
    count = eng.run(f"SELECT count(*) FROM ({flagged})", share=(0.55, 0.75)).fetchone()[0]
    first = eng.run(f"{flagged} ORDER BY o LIMIT {MAX_REPORTED_ERRORS}", share=(0.75, 0.95)).fetchall()
    # The reader's rejects (wrong field count, not UTF-8, unbalanced quotes): the first ones by position.
    rejects = eng.con.execute(
        "SELECT line_byte_position, first(error_type ORDER BY error_type), first(error_message ORDER BY error_type) "
        "FROM rej_errors GROUP BY line_byte_position ORDER BY line_byte_position LIMIT $1",
        [MAX_REPORTED_ERRORS]).fetchall() if rejected else []
    # Line numbers: a value error after the 100th reject may be placed too early here, but never before
    # that reject, so the first 100 of all stay exact.
    by_position, by_ordinal = _line_numbers(path, [int(r[0]) for r in rejects], {row[0] for row in first})
    found: list[tuple[int, str]] = [(by_position[int(pos)], _reject_reason(etype, message, len(columns)))
                                    for pos, etype, message in rejects]
    for o, t, e, c, b, tb, bb in first:
        found.append((by_ordinal.get(o, o + 1), "；".join(_value_problems(t, e, c, b, tb, bb))))
    found.sort(key=lambda r: r[0])
    return _refused(count + rejected, found[:MAX_REPORTED_ERRORS])


# --------------------------------------------------------------------------- files


def _read_header(path: Path) -> tuple[str, ...]:
    """The file's column names in their order, or a refusal naming what is wrong (line 1)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(MAX_LINE_BYTES + 1)
    except OSError as exc:
        raise ImportRefused(f"无法读取文件：{exc.strerror or exc}") from None
    if not first.strip():
        raise ImportRefused("文件为空" if not first else "第 1 行应为列名",
                            [(1, "第 1 行应为列名：time,enterprise,cloud（可加 bytes）")])
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("文件不是 UTF-8 编码的 CSV 文本", [(1, "不是 UTF-8 编码的文本")]) from None
    names = [n.strip().lower() for n in next(csv.reader([text.rstrip("\r\n")]), [])]
    allowed = CSV_COLUMNS + OPTIONAL_COLUMNS
    wanted = "、".join(CSV_COLUMNS) + f"（可加 {'、'.join(OPTIONAL_COLUMNS)}）"
    problems = []
    extra = [n for n in names if n not in allowed]
    if extra:
        shown = "、".join(f"“{_shown(n)}”" if n else "（空列名）" for n in extra)
        problems.append(f"多出的列 {shown}：连接记录只能有 {wanted}，业务数据一律不收")
    missing = [n for n in CSV_COLUMNS if n not in names]
    if missing:
        problems.append("缺少列 " + "、".join(f"“{n}”" for n in missing))
    dup = sorted({n for n in names if n and names.count(n) > 1})
    if dup:
        problems.append("列名重复 " + "、".join(f"“{n}”" for n in dup))
    if problems:
        raise ImportRefused("列名不符合要求：" + "；".join(problems) + "。未导入任何记录", [(1, "；".join(problems))], 1)
    return tuple(names)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _keep_evidence(path: Path, sha: str, *, name: str, import_id: int, user_id: int | None) -> StoredFile:
    """Store the file under its SHA-256 (uploads.write_path consumes its source: give it a hard link,
    or a copy where a link cannot be made), and its StoredFile row for the import."""
    tmp = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex}.evidence")
    try:
        os.link(path, tmp)
    except OSError:
        tmp = uploads.storage_dir() / f".import-{uuid.uuid4().hex}"
        shutil.copyfile(path, tmp)
    try:
        stored_sha, size = uploads.write_path(tmp)
    finally:
        if tmp.exists():
            tmp.unlink()
    if stored_sha != sha:
        raise ImportRefused("文件在导入过程中被改动，请重新导入")
    f = StoredFile(sha256=sha, size=size, mime="text/csv", original_name=(name or "")[:200], kind="connections_csv",
                   owner_type="connection_import", owner_id=import_id, uploaded_by=user_id)
    db.session.add(f)
    db.session.flush()
    return f


def _record(ci: ConnectionImport, a: _Analysis, started: float) -> ImportResult:
    """Store what an import proved: its new usage days (the database skips the known ones), then the
    summaries of the vouchers that gained a day (and the settlements this moves on, SET-5)."""
    stored = usage.record_days(a.pairs, ci.id)
    became = usage.refresh(stored.vouchers) if stored.vouchers else []
    ci.new_days, ci.vouchers_completed = stored.days, len(became)
    ci.seconds = round(time.monotonic() - started, 3)
    db.session.flush()
    return _result(ci)


def _result(ci: ConnectionImport) -> ImportResult:
    return ImportResult(import_id=ci.id, rows=ci.rows, matched_rows=ci.matched_rows, new_days=ci.new_days,
                        vouchers_completed=ci.vouchers_completed, seconds=ci.seconds)


# --------------------------------------------------------------------------- the two intakes


@dataclass
class Checked:
    """A CSV file read and matched (check_csv), not stored yet (store_csv)."""

    path: Path
    sha: str
    analysis: "_Analysis"
    started: float
    report: Callable[[float], None]


def check_csv(path, *, progress=None) -> Checked:
    """The reading half of import_csv: header, duplicate file, every row checked and matched (DuckDB).
    Only reads the database, so a web upload runs it as a plain reader and takes the write lock for
    store_csv alone. ImportRefused when anything is wrong."""
    started = time.monotonic()
    path = Path(path)
    columns = _read_header(path)
    size = path.stat().st_size
    state = {"total": _estimate_rows(path, size)}

    def report(fraction: float) -> None:
        if progress is not None:
            total = state["total"]
            progress(min(int(total * fraction), total), total)

    report(0.0)
    sha = _sha256(path)
    _refuse_known_file(sha)
    report(0.05)
    with _Engine(report if progress is not None else None) as eng:
        analysis = _analyse(eng, str(path), columns)
    state["total"] = analysis.rows
    report(0.92)
    return Checked(path, sha, analysis, started, report)


def store_csv(checked: Checked, *, source: str, user=None, org=None, filename: str | None = None) -> ImportResult:
    """The writing half of import_csv: the import's row, the file kept as evidence, the usage days."""
    if source not in ("csv", "cli"):
        raise ValueError(f"unknown source {source!r}")
    sha, analysis = checked.sha, checked.analysis
    ci = ConnectionImport(source=source, org_id=getattr(org, "id", None), user_id=getattr(user, "id", None),
                          sha256=sha, rows=analysis.rows, matched_rows=analysis.matched_rows)
    try:
        with db.session.begin_nested():
            db.session.add(ci)
    except IntegrityError:  # the same file, imported at the same moment by someone else
        _refuse_known_file(sha)
        raise ImportRefused("该文件已导入过（SHA-256 相同），未重复导入") from None
    f = _keep_evidence(checked.path, sha, name=filename or checked.path.name, import_id=ci.id,
                       user_id=getattr(user, "id", None))
    ci.file_id = f.id
    result = _record(ci, analysis, checked.started)
    checked.report(1.0)
    return result


def import_csv(path, *, source: str, user=None, org=None, progress=None, filename: str | None = None) -> ImportResult:
    """Import a CSV file of connection records (VER-2): all of it, or nothing (ImportRefused).

    source: "csv" (web upload) or "cli". The file is kept as evidence (StoredFile kind connections_csv,
    owner the ConnectionImport); `filename` is its name as uploaded (default: the path's name).
    progress(done_rows, total_rows) is called now and then (total_rows is an estimate until the rows
    are counted). Flushes; the caller commits."""
    if source not in ("csv", "cli"):
        raise ValueError(f"unknown source {source!r}")
    checked = check_csv(path, progress=progress)
    return store_csv(checked, source=source, user=user, org=org, filename=filename)


def import_file(path, *, source: str, user=None, progress=None, filename: str | None = None) -> ImportResult:
    """import_csv for the web upload and the command, committing: the reading half (seconds on a large
    file) runs as a plain SQLite reader, so other writers are not held up; only the storing half takes
    the write lock. Rolls back and raises ImportRefused when the file is refused."""
    from blueprints.core.sqlite_tx import deferred_reads

    try:
        db.session.commit()  # end whatever began as a write transaction
        with deferred_reads():
            checked = check_csv(path, progress=progress)
            db.session.commit()
        result = store_csv(checked, source=source, user=user, filename=filename)
        db.session.commit()
    except ImportRefused:
        db.session.rollback()
        raise
    return result


def _estimate_rows(path: Path, size: int) -> int:
    with open(path, "rb") as fh:
        sample = fh.read(1 << 16)
    lines = max(sample.count(b"\n"), 1)
    return max(int(size / (len(sample) / lines)) - 1, 1) if sample else 1


def _refuse_known_file(sha: str) -> None:
    earlier = db.session.execute(db.select(ConnectionImport).where(ConnectionImport.sha256 == sha)).scalar_one_or_none()
    if earlier is not None:
        at = f"于 {local(earlier.created_at):%Y-%m-%d %H:%M} " if earlier.created_at else ""
        raise ImportRefused(f"该文件已{at}导入过（导入编号 {earlier.id}，SHA-256 相同），未重复导入")


_RECORD_KEYS = frozenset(CSV_COLUMNS + OPTIONAL_COLUMNS)


def _record_problems(r) -> list[str]:
    """What is wrong with one API record's shape (its values are checked with the file rules)."""
    if type(r) is dict and _RECORD_KEYS.issuperset(r):  # the usual case, checked quickly
        t, e, c, b = r.get("time"), r.get("enterprise"), r.get("cloud"), r.get("bytes")
        if (type(t) is str and type(e) is str and type(c) is str and (t + e + c).isprintable()
                and (b is None or (type(b) is int and b >= 0))):
            return []
    if not isinstance(r, dict):
        return ["记录须为 JSON 对象"]
    out = []
    extra = sorted(str(k) for k in r if k not in _RECORD_KEYS)
    if extra:
        out.append("不接受的字段 " + "、".join(f"“{_shown(k)}”" for k in extra)
                   + "：只接受 time、enterprise、cloud、bytes，业务数据一律不收")
    for k in CSV_COLUMNS:
        v = r.get(k)
        if v is None:
            out.append(f"缺少 {k}")
        elif not isinstance(v, str):
            out.append(f"{k} 须为字符串")
        elif _CONTROL.search(v):
            out.append(f"{k} 含有控制字符")
    b = r.get("bytes")
    if b is not None and not (isinstance(b, int) and not isinstance(b, bool) and b >= 0) \
            and not (isinstance(b, str) and re.fullmatch(r"\s*\d{1,19}\s*", b)):
        out.append(f"字节数“{_shown(b)}”不是非负整数")
    return out


def _analyse_records(records: list, only_supplier: int | None = None) -> tuple[_Analysis, list]:
    """An API batch, checked and matched in Python (10,000 records: the same rules as the CSV path, with
    beijing_day for the time). Returns the analysis and the (index, reason) of the malformed records.
    only_supplier: a supplier's own batch counts for its own vouchers only."""
    m = _matcher()
    horizon = today()
    ents = {e: m.enterprise(e) for e in {r["enterprise"] for r in records}}
    clouds = {c: m.cloud(c) for c in {r["cloud"] for r in records}}
    vouchers = m.vouchers
    pairs: set = set()
    matched = 0
    wrong: list = []
    for i, r in enumerate(records):
        t, e, c = r["time"], r["enterprise"], r["cloud"]
        day = beijing_day(t)
        if day is None or ents[e] is None or clouds[c] is None:
            wrong.append((i, "；".join(_value_problems(t, e, c, None, day is None, False))))
            continue
        if wrong or day > horizon or not ents[e] or not clouds[c]:
            continue
        hit = False
        for v, signed in vouchers(e, c):
            if signed < day and (only_supplier is None or m.idx.supplier[v] == only_supplier):
                pairs.add((v, day))
                hit = True
        matched += hit
    return _Analysis(len(records), matched, sorted(pairs)), wrong


def _batch_result(org_id: int, batch_id: str) -> ImportResult | None:
    ci = db.session.execute(db.select(ConnectionImport).where(
        ConnectionImport.org_id == org_id, ConnectionImport.batch_id == batch_id)).scalar_one_or_none()
    return _result(ci) if ci is not None else None


def import_records(records: list, *, org, batch_id: str) -> ImportResult:
    """Import one API batch (VER-2): records are dicts with time, enterprise, cloud and optional bytes.
    The same (org, batch_id) again returns the earlier import's result and adds nothing. Errors:
    ImportRefused with (record index, reason); BatchTooLarge beyond MAX_API_BATCH. Flushes."""
    started = time.monotonic()
    batch_id = batch_id.strip() if isinstance(batch_id, str) else ""
    if not batch_id or len(batch_id) > 100:
        raise ImportRefused("批次号 batch_id 须为 1 至 100 个字符")
    if not isinstance(records, list):
        raise ImportRefused("records 须为数组")
    if len(records) > MAX_API_BATCH:
        raise BatchTooLarge(f"每批最多 {MAX_API_BATCH} 条记录，本批 {len(records)} 条")
    earlier = _batch_result(org.id, batch_id)
    if earlier is not None:
        return earlier
    if not records:
        raise ImportRefused("批次中没有记录")
    problems = [(i, "；".join(p)) for i, r in enumerate(records) if (p := _record_problems(r))]
    where = range(len(records))
    if problems:  # the values of the well-formed records are checked too: one answer lists every error
        skip = {i for i, _ in problems}
        where = [i for i in where if i not in skip]
    # A supplier's system sees connections to its own service only: its records never count for another
    # supplier's vouchers (a network operator's records count for every supplier). rule: VER-2, SUP-6
    only = getattr(org, "supplier_id", None)
    analysis, wrong = _analyse_records([records[i] for i in where] if problems else records, only)
    if problems or wrong:
        bad = sorted(problems + [(where[i], reason) for i, reason in wrong])
        raise _refused(len(bad), bad[:MAX_REPORTED_ERRORS], unit="条")

    ci = ConnectionImport(source="api", org_id=org.id, batch_id=batch_id, rows=analysis.rows,
                          matched_rows=analysis.matched_rows)
    try:
        with db.session.begin_nested():
            db.session.add(ci)
    except IntegrityError:  # a concurrent retry of the same batch won the race: its result is ours
        winner = _batch_result(org.id, batch_id)
        if winner is None:
            raise
        return winner
    return _record(ci, analysis, started)
