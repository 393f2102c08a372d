"""The connection-record import engine (blueprints/core/connections.py): CSV files and API batches turned
into distinct (voucher, Beijing day) pairs, the N-day rule, refusals by line, idempotency under
concurrency, the evidence file and the CLI (VER-1, VER-2, VER-3, SET-5, SUP-6).

Run on SQLite and PostgreSQL (TEST_DATABASE_URL). Contracts are signed on 2025-01-10 (the factories'
default), so March 2025 days count.
"""
from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from blueprints.core import connections, usage
from blueprints.core.connections import ImportRefused
from models import (
    ConnectionImport, DataOrg, Role, SetStatus, StoredFile, UsageDay, Voucher, VoucherUsage, db,
)
from tests.factories import make_settlement, make_user, make_voucher

pytestmark = pytest.mark.timeout(180)

SIGNED = dt.date(2025, 1, 10)


def _declare(v, *addresses, endpoints=("203.0.113.0/24", "example.com", "2408:8000::/32")):
    prov = make_user(Role.PROVINCE)
    for a in addresses:
        usage.add_address(v, a, prov)
    v.supplier.endpoints = list(endpoints)
    db.session.flush()
    return v


def _voucher(*addresses, days=None, **kw):
    v = make_voucher(**kw)
    if days is not None:
        v.cycle.verification_days = days
    return _declare(v, *(addresses or ("121.8.10.10",)))


def _csv(tmp_path, rows, header="time,enterprise,cloud,bytes", name=None) -> str:
    path = tmp_path / (name or f"records-{len(list(tmp_path.iterdir()))}.csv")
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _rows(days, enterprise="121.8.10.10", cloud="203.0.113.5", month=3, time="10:00:00"):
    return [f"2025-{month:02d}-{d:02d} {time},{enterprise},{cloud},1000" for d in days]


def _days(v) -> list[dt.date]:
    return sorted(db.session.execute(db.select(UsageDay.day).where(UsageDay.voucher_id == v.id)).scalars())


def _count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def _org(name="测试运营商") -> DataOrg:
    org = DataOrg(name=name, kind="operator")
    db.session.add(org)
    db.session.flush()
    return org


def _records(days, enterprise="121.8.10.10", cloud="203.0.113.5"):
    return [{"time": f"2025-03-{d:02d}T10:00:00+08:00", "enterprise": enterprise, "cloud": cloud, "bytes": 10 * d}
            for d in days]


# --------------------------------------------------------------------------- the rule


def test_n_minus_one_distinct_days_is_not_verified_and_n_is(app, tmp_path):
    # rule: VER-3 -- at least N distinct days (the cycle's setting), several records a day count once
    v = _voucher(days=4)
    rows = _rows([1, 2, 3]) + _rows([1, 2, 3], time="18:30:00")
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.rows, r.matched_rows, r.new_days, r.vouchers_completed) == (6, 6, 3, 0)
    assert not usage.is_verified(v) and usage.status(v).days == 3
    r = connections.import_csv(_csv(tmp_path, _rows([3, 4])), source="cli")
    assert (r.new_days, r.vouchers_completed) == (1, 1)
    assert usage.is_verified(v) and usage.status(v).days == 4 == v.cycle.verification_days


def test_days_on_or_before_the_contract_date_do_not_count(app, tmp_path):
    # rule: VER-3 -- the signing day itself does not count
    v = _voucher()
    rows = [f"{SIGNED - dt.timedelta(days=1)},121.8.10.10,203.0.113.5,1",
            f"{SIGNED} 23:59:59,121.8.10.10,203.0.113.5,1",
            f"{SIGNED + dt.timedelta(days=1)} 00:00:01,121.8.10.10,203.0.113.5,1"]
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.rows, r.matched_rows, r.new_days) == (3, 1, 1)
    assert _days(v) == [SIGNED + dt.timedelta(days=1)]


def test_days_after_today_do_not_count(app, tmp_path):
    # rule: VER-3 -- a record from the future cannot prove use
    v = _voucher()
    future = dt.date.today() + dt.timedelta(days=3)
    r = connections.import_csv(_csv(tmp_path, [f"{future},121.8.10.10,203.0.113.5,1"] + _rows([2])), source="cli")
    assert (r.rows, r.matched_rows, r.new_days) == (2, 1, 1)
    assert _days(v) == [dt.date(2025, 3, 2)]


def test_a_record_from_an_undeclared_address_does_not_count(app, tmp_path):
    # rule: VER-1, VER-3 -- only the enterprise's declared addresses, only the supplier's endpoints
    v = _voucher("121.8.10.0/28")
    rows = (_rows([1], enterprise="121.8.10.15")  # inside the declared /28
            + _rows([2], enterprise="121.8.10.16")  # just outside it
            + _rows([3], enterprise="121.8.10.3", cloud="198.51.100.7")  # not the supplier's endpoint
            + _rows([4], enterprise="GZ-ZX-000001"))  # an undeclared line
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.rows, r.matched_rows, r.new_days) == (4, 1, 1)
    assert _days(v) == [dt.date(2025, 3, 1)]


def test_a_subdomain_counts_and_a_look_alike_domain_does_not(app, tmp_path):
    # rule: VER-3 -- domain equal or a subdomain; evil-example.com is not example.com
    v = _voucher()
    rows = (_rows([1], cloud="example.com") + _rows([2], cloud="API.Example.COM.") + _rows([3], cloud="a.b.example.com")
            + _rows([4], cloud="evil-example.com") + _rows([5], cloud="example.com.evil.cn")
            + _rows([6], cloud="notexample.com"))
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.rows, r.matched_rows, r.new_days) == (6, 3, 3)
    assert _days(v) == [dt.date(2025, 3, d) for d in (1, 2, 3)]


def test_ipv6_inside_a_declared_48_counts(app, tmp_path):
    # rule: VER-1, VER-3 -- IPv6 ranges (at most /48) and IPv6 endpoints
    v = _voucher("2408:8456:3a00::/48")
    rows = (_rows([1], enterprise="2408:8456:3a00:12::7", cloud="2408:8000::1")
            + _rows([2], enterprise="2408:8456:3AFF::1", cloud="203.0.113.9")  # another /48
            + _rows([3], enterprise="2408:8456:3a00:ffff:ffff:ffff:ffff:ffff", cloud="example.com"))
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.matched_rows, r.new_days) == (2, 2)
    assert _days(v) == [dt.date(2025, 3, 1), dt.date(2025, 3, 3)]


def test_a_line_number_matches_whatever_its_case(app, tmp_path):
    # rule: VER-1, VER-3 -- a declared line number (专线号), compared case-insensitively
    v = _voucher("gz-zx-0012345")
    rows = (_rows([1], enterprise="GZ-ZX-0012345") + _rows([2], enterprise="gz-zx-0012345")
            + _rows([3], enterprise="GZ-ZX-0012346"))
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.matched_rows, r.new_days) == (2, 2)
    assert _days(v) == [dt.date(2025, 3, 1), dt.date(2025, 3, 2)]


def test_timestamps_near_midnight_utc_land_on_the_beijing_day(app, tmp_path):
    # rule: VER-3 -- days are Beijing-time calendar days; naive times and dates are Beijing time already
    v = _voucher()
    rows = ["2025-03-01T15:59:59Z,121.8.10.10,203.0.113.5,1",  # 23:59:59 on 1 March in Beijing
            "2025-03-01T16:00:00Z,121.8.10.10,203.0.113.5,1",  # 00:00 on 2 March
            "2025-03-05T23:30:00-02:00,121.8.10.10,203.0.113.5,1",  # 09:30 on 6 March
            "2025-03-08 23:59:59,121.8.10.10,203.0.113.5,1",  # naive: Beijing already
            "2025-03-10,121.8.10.10,203.0.113.5,",  # a date; no byte count
            "2025/03/12 00:00+08:00,121.8.10.10,203.0.113.5,1"]
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert r.new_days == 6
    assert _days(v) == [dt.date(2025, 3, d) for d in (1, 2, 6, 8, 10, 12)]


def test_a_void_voucher_and_another_enterprises_voucher_do_not_count(app, tmp_path):
    # rule: VER-3 -- only issued vouchers; each record counts for the voucher whose addresses it shows
    v = _voucher()
    other = _voucher("121.8.20.20", supplier=v.supplier)
    gone = _voucher("121.8.30.30", supplier=v.supplier)
    gone.status = "void"
    db.session.flush()
    rows = _rows([1]) + _rows([2], enterprise="121.8.20.20") + _rows([3], enterprise="121.8.30.30")
    r = connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert (r.matched_rows, r.new_days) == (2, 2)
    assert _days(v) == [dt.date(2025, 3, 1)] and _days(other) == [dt.date(2025, 3, 2)] and _days(gone) == []


def test_an_import_that_completes_a_voucher_moves_its_waiting_settlement_to_the_city(app, tmp_path):
    # rule: SET-5, VER-3 -- the gate opens at import time
    st = make_settlement(stage="verification")
    assert st.status == SetStatus.VERIFICATION
    v = _declare(st.voucher, "121.8.10.10")
    n = v.cycle.verification_days
    r = connections.import_csv(_csv(tmp_path, _rows(range(1, n + 1))), source="cli")
    assert (r.new_days, r.vouchers_completed) == (n, 1)
    db.session.refresh(st)
    assert st.status == SetStatus.CITY_REVIEW and st.verified_how == "usage"


# --------------------------------------------------------------------------- what is kept


def test_only_the_distinct_days_are_kept_and_the_file_as_evidence(app, tmp_path):
    # rule: SUP-6, VER-2 -- nothing of a record but its (voucher, day); the file kept, content-addressed
    v = _voucher()
    user = make_user(Role.PROVINCE)
    path = _csv(tmp_path, _rows([1, 1, 2]), name="operator-march.csv")
    r = connections.import_csv(path, source="csv", user=user)
    ci = db.session.get(ConnectionImport, r.import_id)
    assert (ci.source, ci.user_id, ci.rows, ci.matched_rows, ci.new_days) == ("csv", user.id, 3, 3, 2)
    assert len(ci.sha256) == 64 and ci.seconds >= 0
    f = db.session.get(StoredFile, ci.file_id)
    assert (f.kind, f.owner_type, f.owner_id, f.mime) == ("connections_csv", "connection_import", ci.id, "text/csv")
    assert f.sha256 == ci.sha256 and f.original_name == "operator-march.csv"
    from blueprints.core import uploads

    assert uploads.read_bytes(f) == open(path, "rb").read()
    assert open(path, "rb").read()  # the operator's own file is left where it was
    rows = db.session.execute(db.select(UsageDay.voucher_id, UsageDay.day, UsageDay.import_id)).all()
    assert sorted(rows) == [(v.id, dt.date(2025, 3, 1), ci.id), (v.id, dt.date(2025, 3, 2), ci.id)]
    assert not list(tmp_path.glob(".*evidence"))


def test_progress_is_reported_up_to_the_row_count(app, tmp_path):
    # rule: VER-2 -- the command's progress bar: progress(done, total) now and then, ending at the rows
    _voucher()
    calls = []
    r = connections.import_csv(_csv(tmp_path, _rows(range(1, 29)) * 50), source="cli",
                               progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (r.rows, r.rows) == (1400, 1400)
    assert all(0 <= done <= total for done, total in calls)


# --------------------------------------------------------------------------- refusals


def _nothing_stored():
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0 and _count(VoucherUsage) == 0
    assert db.session.execute(db.select(db.func.count()).where(StoredFile.kind == "connections_csv")).scalar_one() == 0


@pytest.mark.parametrize("header, problem", [
    ("time,enterprise,cloud,bytes,customer_name", "customer_name"),
    ("time,enterprise,cloud,url", "url"),
    ("time,enterprise", "缺少列 “cloud”"),
    ("time,enterprise,cloud,cloud", "列名重复"),
    ("时间,企业端,云端", "多出的列"),
])
def test_a_wrong_header_refuses_the_whole_file(app, tmp_path, header, problem):
    # rule: VER-2, SUP-6 -- any other column is refused: business data is never accepted, so never stored
    _voucher()
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(_csv(tmp_path, _rows([1, 2]), header=header), source="csv")  # the header is read first
    assert exc.value.count == 1 and exc.value.errors[0][0] == 1 and problem in exc.value.errors[0][1]
    assert problem in str(exc.value)
    _nothing_stored()


def test_an_extra_column_refuses_the_whole_file(app, tmp_path):
    # rule: VER-2, SUP-6 -- the case: one extra column, nothing imported, nothing stored
    _voucher()
    rows = [r + ",13800138000" for r in _rows([1, 2, 3, 4, 5])]
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(_csv(tmp_path, rows, header="time,enterprise,cloud,bytes,phone"), source="csv")
    assert exc.value.errors == [(1, exc.value.errors[0][1])] and "phone" in exc.value.errors[0][1]
    assert "业务数据" in exc.value.errors[0][1]
    _nothing_stored()


def test_malformed_rows_are_reported_by_line_first_100_and_the_count(app, tmp_path):
    # rule: VER-2 -- malformed rows reported by line number (the first 100, and the count); none imported
    _voucher()
    good = _rows([1])[0]
    lines = []  # file line numbers: the header is line 1
    bad_lines = {}
    for i in range(300):
        lineno = len(lines) + 2
        if i % 2:
            lines.append(good)
            continue
        kind = (i // 2) % 6
        lines.append([
            "2025-03-32 10:00:00,121.8.10.10,203.0.113.5,1",  # no such day
            "2025-03-01 10:00:00,not an address!,203.0.113.5,1",
            "2025-03-01 10:00:00,121.8.10.10,exa mple.com,1",
            "2025-03-01 10:00:00,121.8.10.10,203.0.113.5,-5",
            "2025-03-01 10:00:00,121.8.10.10,203.0.113.5",  # a field missing
            "2025-03-01 10:00:00,121.8.10.10,203.0.113.5,1,张三",  # a field too many
        ][kind])
        bad_lines[lineno] = kind
    lines.insert(10, "")  # a blank line is skipped (and shifts what follows by one)
    bad_lines = {(n + 1 if n >= 12 else n): k for n, k in bad_lines.items()}
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(_csv(tmp_path, lines), source="csv")
    e = exc.value
    assert e.count == 150 and len(e.errors) == connections.MAX_REPORTED_ERRORS == 100
    expected = sorted(bad_lines)[:100]
    assert [line for line, _ in e.errors] == expected
    words = ["时间", "企业端", "云端", "字节数", "字段个数", "字段个数"]
    for line, reason in e.errors:
        assert words[bad_lines[line]] in reason, (line, reason)
    assert "150" in str(e)
    _nothing_stored()


def test_one_bad_row_among_many_refuses_everything_with_its_line(app, tmp_path):
    # rule: VER-2 -- none of a bad file is half-imported
    _voucher()
    rows = _rows(range(1, 29)) * 20
    rows[437] = "yesterday,121.8.10.10,203.0.113.5,1"
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(_csv(tmp_path, rows), source="cli")
    assert exc.value.count == 1 and exc.value.errors[0][0] == 439 and "yesterday" in exc.value.errors[0][1]
    _nothing_stored()


def test_line_numbers_count_blank_lines_quoted_line_breaks_and_unreadable_rows(app, tmp_path):
    # rule: VER-2 -- the reported line is the file's own line, whatever came before it
    _voucher()
    good = _rows([1])[0].encode()
    path = tmp_path / "odd.csv"
    path.write_bytes(b"\n".join([
        b"time,enterprise,cloud,bytes",  # 1
        good,  # 2
        b'"2025-03-01\n10:00:00",121.8.10.10,203.0.113.5,1',  # 3-4: a quoted line break (not a time)
        good,  # 5
        b"",  # 6: blank
        b"2025-03-01 10:00:00,121.8.10.10,\xff\xfe.example.com,1",  # 7: not UTF-8
        good,  # 8
        b"2025-03-01 10:00:00,,203.0.113.5,1",  # 9: no enterprise-side value
        b"2025-03-01 10:00:00,121.8.10.10,203.0.113.5,1.5",  # 10
    ]) + b"\n")
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(str(path), source="csv")
    got = dict(exc.value.errors)
    assert sorted(got) == [3, 7, 9, 10] and exc.value.count == 4, exc.value.errors
    assert "时间" in got[3] and "UTF-8" in got[7] and "企业端地址为空" in got[9] and "字节数" in got[10]
    _nothing_stored()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_line_numbers_match_the_file_whatever_it_holds(app, tmp_path, newline):
    # rule: VER-2 -- random files: every bad row reported at its own line, first 100 in order, and the count
    import random

    good = _rows([1])[0]
    kinds = [("", False), (good, False), ('"2025-03-01","121.8.10.10","a.example.com","2"', False),
             ("2025-13-01,121.8.10.10,203.0.113.5,1", True), ("2025-03-01,121.8.10.10,203.0.113.5", True),
             (good + ",x", True), ('"2025-03-01\n10:00",121.8.10.10,a.example.com,1', True), (None, True)]
    rng = random.Random(2026)
    for run in range(6):
        lines, expected = [b"time,enterprise,cloud,bytes"], []
        for _ in range(rng.randrange(50, 400)):
            text, bad = rng.choices(kinds, weights=[3, 60, 5, 4, 3, 3, 2, 2])[0]
            if bad:
                expected.append(sum(line.count(b"\n") + 1 for line in lines) + 1)
            lines.append(b"2025-03-01,121.8.10.10,\xff.example.com,1" if text is None
                         else text.encode().replace(b"\n", newline))
        path = tmp_path / f"random-{run}.csv"
        path.write_bytes(newline.join(lines) + newline)
        with pytest.raises(ImportRefused) as exc:
            connections.import_csv(str(path), source="cli")
        assert [line for line, _ in exc.value.errors] == expected[:100] and exc.value.count == len(expected)
    _nothing_stored()


def test_a_file_without_rows_or_empty_is_refused(app, tmp_path):
    # rule: VER-2
    with pytest.raises(ImportRefused):
        connections.import_csv(_csv(tmp_path, []), source="cli")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportRefused):
        connections.import_csv(str(empty), source="cli")
    _nothing_stored()


def test_the_same_file_twice_is_refused(app, tmp_path):
    # rule: VER-2 -- the same file (SHA-256) twice is refused
    v = _voucher()
    path = _csv(tmp_path, _rows([1, 2]))
    connections.import_csv(path, source="cli")
    db.session.commit()
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(open(path, "rb").read())
    with pytest.raises(ImportRefused) as exc:
        connections.import_csv(str(copy), source="csv")
    assert "已" in str(exc.value) and "导入过" in str(exc.value)
    assert _count(ConnectionImport) == 1 and len(_days(v)) == 2


def test_quoted_values_bom_and_crlf_are_read(app, tmp_path):
    # rule: VER-2 -- an ordinary spreadsheet export: BOM, CRLF, quoted fields, columns in another order
    v = _voucher()
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff\"cloud\",\"time\",\"enterprise\"\r\n".encode()
                     + b'"203.0.113.5","2025-03-01 10:00:00"," 121.8.10.10 "\r\n'
                     + b'example.com,2025-03-02,121.8.10.10\r\n')
    r = connections.import_csv(str(path), source="csv")
    assert (r.rows, r.new_days) == (2, 2) and len(_days(v)) == 2


# --------------------------------------------------------------------------- the API batch


def test_a_retried_api_batch_counts_once(app):
    # rule: VER-2 -- a batch id makes a retry idempotent
    v = _voucher()
    org = _org()
    first = connections.import_records(_records([1, 2, 3]), org=org, batch_id="b-1")
    assert (first.rows, first.matched_rows, first.new_days) == (3, 3, 3)
    again = connections.import_records(_records([1, 2, 3, 4]), org=org, batch_id="b-1")
    assert again == first
    assert _count(ConnectionImport) == 1 and len(_days(v)) == 3
    other = connections.import_records(_records([4]), org=_org("乙"), batch_id="b-1")
    assert other.import_id != first.import_id and len(_days(v)) == 4


def test_api_errors_are_by_record_index_and_nothing_is_stored(app):
    # rule: VER-2, SUP-6 -- any other field is an error for that record; nothing stored
    _voucher()
    org = _org()
    recs = _records([1, 2, 3, 4, 5])
    recs[1]["customer"] = "张三"
    recs[3]["bytes"] = -1
    with pytest.raises(ImportRefused) as exc:
        connections.import_records(recs, org=org, batch_id="bad")
    assert [i for i, _ in exc.value.errors] == [1, 3] and exc.value.count == 2
    assert "customer" in exc.value.errors[0][1] and "字节数" in exc.value.errors[1][1]
    recs = _records([1, 2, 3])
    recs[2]["time"] = "2025-13-01"
    recs[0]["cloud"] = "not a host"
    with pytest.raises(ImportRefused) as exc:
        connections.import_records(recs, org=org, batch_id="bad")
    assert exc.value.errors == [(0, exc.value.errors[0][1]), (2, exc.value.errors[1][1])]
    assert "云端" in exc.value.errors[0][1] and "时间" in exc.value.errors[1][1]
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0


def test_an_oversized_batch_is_refused(app):
    # rule: VER-2 -- batches up to 10,000 records
    org = _org()
    with pytest.raises(connections.BatchTooLarge) as exc:
        connections.import_records(_records([1]) * (connections.MAX_API_BATCH + 1), org=org, batch_id="big")
    assert isinstance(exc.value, ImportRefused)
    assert _count(ConnectionImport) == 0


def test_api_and_csv_follow_the_same_rules(app, tmp_path):
    # rule: VER-3 -- the same records counted the same way whichever intake brings them
    v = _voucher("2408:8456:3a00::/48", "GZ-ZX-0000077")
    recs = [{"time": "2025-03-01T16:00:00Z", "enterprise": "2408:8456:3a00::9", "cloud": "x.example.com"},
            {"time": "2025-03-03", "enterprise": "gz-zx-0000077", "cloud": "203.0.113.200", "bytes": "12"},
            {"time": "2025-03-04 08:00", "enterprise": "121.8.10.10", "cloud": "evil-example.com"}]
    r = connections.import_records(recs, org=_org(), batch_id="same-rules")
    assert (r.rows, r.matched_rows, r.new_days) == (3, 2, 2)
    assert _days(v) == [dt.date(2025, 3, 2), dt.date(2025, 3, 3)]


# --------------------------------------------------------------------------- concurrency (both engines)


def _parallel(app, jobs):
    """Run every job at the same moment, each in its own app context, session and connection; each
    commits as a route does. Returns what each returned or the ImportRefused it raised."""
    db.session.commit()
    db.session.close()
    barrier = threading.Barrier(len(jobs))

    def go(job):
        with app.app_context():
            barrier.wait()
            try:
                try:
                    out = job()
                except ImportRefused as exc:
                    db.session.rollback()
                    return exc
                db.session.commit()
                return out
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(go, jobs))


def test_concurrent_retries_of_one_api_batch_count_once(app, engine_name):
    # rule: VER-2 -- the UNIQUE (org, batch id) is the race guard: every retry gets the winner's result
    vid = _voucher().id
    org_id = _org().id
    records = _records([1, 2, 3, 4, 5, 6])

    def job():
        return connections.import_records(records, org=db.session.get(DataOrg, org_id), batch_id="race")

    results = _parallel(app, [job] * 4)
    assert all(isinstance(r, connections.ImportResult) for r in results), results
    assert len({r.import_id for r in results}) == 1 and {r.new_days for r in results} == {6}
    assert _count(ConnectionImport) == 1 and len(_days(db.session.get(Voucher, vid))) == 6


def test_concurrent_batches_proving_the_same_days_store_them_once(app, engine_name):
    # rule: VER-3, VER-2 -- two organisations' batches about the same days, at the same moment: both are
    # taken, each day is stored once (PostgreSQL: the primary key refuses the second insert, which re-reads)
    vid = _voucher().id
    org_ids = [_org(f"运营商{i}").id for i in range(3)]
    records = _records([1, 2, 3, 4, 5, 6])

    def job(org_id):
        return lambda: connections.import_records(records, org=db.session.get(DataOrg, org_id), batch_id="same-days")

    results = _parallel(app, [job(o) for o in org_ids])
    assert all(isinstance(r, connections.ImportResult) for r in results), results
    assert sum(r.new_days for r in results) == 6 and sum(r.vouchers_completed for r in results) == 1
    assert _count(ConnectionImport) == 3 and len(_days(db.session.get(Voucher, vid))) == 6
    assert usage.is_verified(db.session.get(Voucher, vid))


def test_concurrent_imports_of_one_file_import_it_once(app, tmp_path, engine_name):
    # rule: VER-2 -- the same file twice is refused, even at the same moment
    vid = _voucher().id
    path = _csv(tmp_path, _rows([1, 2, 3]))

    def job():
        return connections.import_csv(path, source="cli")

    results = _parallel(app, [job] * 3)
    done = [r for r in results if isinstance(r, connections.ImportResult)]
    refused = [r for r in results if isinstance(r, ImportRefused)]
    assert len(done) == 1 and len(refused) == 2, results
    assert all("导入过" in str(r) for r in refused)
    assert _count(ConnectionImport) == 1 and len(_days(db.session.get(Voucher, vid))) == 3


# --------------------------------------------------------------------------- the CLI


def test_the_cli_imports_a_file_and_prints_the_figures(app, tmp_path):
    # rule: VER-2 -- the same through a flask command, with a progress bar
    v = _voucher()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["connections", "import", _csv(tmp_path, _rows([1, 2]))])
    assert result.exit_code == 0, result.output
    assert "imported: 2 rows, 2 matched, 2 new days, 0 vouchers completed" in result.output
    db.session.rollback()
    assert len(_days(v)) == 2


def test_the_cli_lists_the_bad_lines_and_exits_1(app, tmp_path):
    # rule: VER-2
    _voucher()
    db.session.commit()
    rows = _rows([1, 2]) + ["2025-03-03 10:00:00,121.8.10.10"] * 120
    result = app.test_cli_runner().invoke(args=["connections", "import", _csv(tmp_path, rows)])
    assert result.exit_code == 1
    assert "第 4 行：字段个数不对" in result.output and "共 120 行有错误" in result.output
    db.session.rollback()
    _nothing_stored()


def test_the_cli_sends_the_health_notices(app):
    # rule: VER-3 -- the usage health check before the deadline (idempotent, from cron)
    v = _voucher()
    v.cycle.settlement_deadline = dt.date.today() + dt.timedelta(days=10)
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["connections", "health-notices"])
    assert first.exit_code == 0 and "sent 1 usage health notices" in first.output
    assert "sent 0" in runner.invoke(args=["connections", "health-notices"]).output


# --------------------------------------------------------------------------- one rule for both intakes


def _time_texts():
    from hypothesis import strategies as st

    two = lambda lo, hi: st.integers(lo, hi).map(lambda n: f"{n:02d}")  # noqa: E731
    year = st.one_of(st.integers(1890, 2110), st.integers(990, 10_000))
    date = st.tuples(year.map(lambda n: f"{n:04d}"), st.sampled_from("-/"), two(0, 13), two(0, 32)
                     ).map(lambda p: f"{p[0]}{p[1]}{p[2]}{p[1]}{p[3]}")
    offset = st.one_of(st.just(""), st.just("Z"), st.just("z"), st.tuples(
        st.sampled_from("+-"), two(0, 25), st.sampled_from(["", ":", "::"]), st.one_of(st.just(""), two(0, 61)))
        .map("".join))
    clock = st.one_of(st.just(""), st.tuples(
        st.sampled_from(["T", " ", "t", "  "]), two(0, 25), st.just(":"), two(0, 61),
        st.one_of(st.just(""), two(0, 61).map(lambda s: ":" + s)),
        st.one_of(st.just(""), st.integers(0, 10**10).map(lambda f: f".{f}")), offset).map("".join))
    blank = st.sampled_from(["", " ", "\t", "  "])
    return st.one_of(st.tuples(blank, date, clock, blank).map("".join), st.text(max_size=30))


def test_the_csv_and_the_api_read_times_the_same_way():
    # rule: VER-3 -- one definition of a valid time and its Beijing day, in SQL (files) and Python (API)
    from hypothesis import given, settings

    eng = connections._Engine()
    try:
        day_sql = connections._day_sql(eng.beijing).replace('"time"', "$1")
        bad_sql = connections._exprs(("time", "enterprise", "cloud"))["time_bad"].replace('"time"', "$1")

        @settings(max_examples=400, deadline=None)
        @given(_time_texts())
        def check(text):
            bad, day = eng.con.execute(f"SELECT {bad_sql}, CASE WHEN NOT {bad_sql} THEN {day_sql} END",
                                       [text]).fetchone()
            assert connections.beijing_day(text) == (None if bad else day), text

        check()
        # A DuckDB without ICU reads every time as UTC: the hand-made day (what a UTC session computes).
        eng.con.execute("SET TimeZone = 'UTC'")
        day_sql = connections._day_sql(False).replace('"time"', "$1")
        check()
        for text, day in [("2025-03-01T15:59:59Z", dt.date(2025, 3, 1)), ("2025-03-01T16:00:00Z", dt.date(2025, 3, 2)),
                          ("2024-02-29", dt.date(2024, 2, 29)), ("2025-02-29", None), ("2100-02-29", None),
                          ("2000-02-29 23:00-01:00", dt.date(2000, 3, 1)), ("2025-03-01 24:00:00", None),
                          (" 2025/03/01 08:00:00.123456789+0800 ", dt.date(2025, 3, 1)), ("yesterday", None)]:
            assert connections.beijing_day(text) == day, text
            bad, got = eng.con.execute(f"SELECT {bad_sql}, CASE WHEN NOT {bad_sql} THEN {day_sql} END",
                                       [text]).fetchone()
            assert (None if bad else got) == day, text
    finally:
        eng.close()
