"""Exports stream: the city's voucher export and the province directory at 20,000 rows give exactly
the rows that match, with memory that does not grow with the rows; user text stays text in every export."""
from __future__ import annotations

import datetime as dt
import gc
import io
import tracemalloc
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from blueprints.core import issuance, registration
from blueprints.core.money import fen_to_decimal
from blueprints.core.timeutil import LOCAL_TZ, now, today
from cli import seed_cities
from models import (
    Application, AppStatus, Enterprise, RegStatus, RelatedParty, Role, Supplier, Voucher, VoucherStatus, db,
)
from tests.factories import make_catalog, make_cycle, make_enterprise, make_supplier, make_user

BIG, SMALL = 20_000, 2_000
GZ, SZ = "440100", "440300"
FIRST_ID = 1_000_000  # bulk rows take ids far above the factories' own
ISSUED = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _uscc(n: int) -> str:
    return f"91440{n:013d}"


def _read(path) -> list[tuple]:
    wb = load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


def _yuan(value) -> Decimal:
    """A money cell read back (openpyxl gives a float) as the exact decimal it was written as."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _peak(write, path) -> tuple[int, int]:
    """(peak bytes allocated by Python while write(file) builds the export into path, rows written)."""
    gc.collect()
    tracemalloc.start()
    try:
        with open(path, "wb") as f:
            n = write(f)
        return tracemalloc.get_traced_memory()[1], n
    finally:
        tracemalloc.stop()


def _assert_flat(write_small, write_big, tmp_path) -> None:
    """Building 10x the rows must not need 10x the memory: the sheet is never held, only a batch of rows."""
    with open(tmp_path / "warm.xlsx", "wb") as f:  # imports and compiled statements are not the export's cost
        write_small(f)
    small, n_small = _peak(write_small, tmp_path / "small.xlsx")
    big, n_big = _peak(write_big, tmp_path / "big.xlsx")
    assert (n_small, n_big) == (SMALL, BIG)
    assert big < 2 * small + 1_000_000, f"peak {big:,} B for {BIG} rows vs {small:,} B for {SMALL} rows"


# --------------------------------------------------------------------------- vouchers


def _voucher_world():
    """20,000 vouchers in Guangzhou over two cycles (every 3rd a pilot), 2,000 in Shenzhen: bulk inserted."""
    seed_cities()
    item = make_catalog(items=(("SC-01", "生产数据上云", "生产管控", 200_000_00),)).items[0]
    c1, c2 = make_cycle(name="2026年第一批"), make_cycle(name="2026年第二批")
    sup = make_supplier(name="广东云服务有限公司")
    db.session.commit()
    ents, apps, vouchers, expected = [], [], [], {}
    for i in range(BIG + SMALL):
        ident, city = FIRST_ID + i, GZ if i < BIG else SZ
        cycle = c2 if i % 2 else c1
        if i % 10 == 0:  # one enterprise per ten vouchers
            ent = {"id": ident, "uscc": _uscc(i), "name": f"企业{i:05d}有限公司", "city_code": city,
                   "status": RegStatus.APPROVED}
            ents.append(ent)
        contract = f"HT-{i:05d}"
        apps.append({"id": ident, "enterprise_id": ent["id"], "supplier_id": sup.id, "cycle_id": cycle.id,
                     "city_code": city, "catalog_item_id": item.id, "contract_no": contract,
                     "status": AppStatus.APPROVED})
        v = {"id": ident, "code": f"GD{i:026d}", "application_id": ident, "enterprise_id": ent["id"],
             "supplier_id": sup.id, "cycle_id": cycle.id, "city_code": city, "face_value_fen": 50_000_00 + i * 7,
             "status": VoucherStatus.VOID if i % 50 == 0 else VoucherStatus.ISSUED, "pilot": i % 3 == 0,
             "issued_at": ISSUED + dt.timedelta(minutes=i)}
        vouchers.append(v)
        expected[issuance.display_code(v["code"])] = (
            "已作废" if v["status"] == VoucherStatus.VOID else "已发放", "是" if v["pilot"] else None, ent["name"],
            ent["uscc"], sup.name, "SC-01 生产数据上云", contract, fen_to_decimal(v["face_value_fen"]), cycle.name,
            city, v["issued_at"].astimezone(LOCAL_TZ).replace(tzinfo=None))
    for model, rows in ((Enterprise, ents), (Application, apps), (Voucher, vouchers)):
        db.session.execute(insert(model), rows)
    db.session.commit()
    return c2, vouchers, expected


def _check_voucher_rows(rows, vouchers, expected, keep) -> None:
    assert rows[0] == issuance.XLSX_HEADER
    want = sorted((v for v in vouchers if keep(v)), key=lambda v: (v["issued_at"], v["id"]), reverse=True)
    assert [r[0] for r in rows[1:]] == [issuance.display_code(v["code"]) for v in want]  # newest first, all
    for r in rows[1:]:
        got = (r[1], r[2], r[3], r[4], r[5], r[6], r[7], _yuan(r[8]), r[9], r[10], r[11])
        assert got == expected[r[0]]


def test_city_voucher_export_at_20000_rows_is_exact_and_memory_flat(app, tmp_path):
    # rule: AMT-5
    c2, vouchers, expected = _voucher_world()
    calls: list[int] = []
    _assert_flat(lambda f: issuance.write_vouchers_xlsx(f, city_code=SZ),
                 lambda f: issuance.write_vouchers_xlsx(f, city_code=GZ, progress=calls.append), tmp_path)
    # Every Guangzhou voucher, nothing from Shenzhen: no silent cut at any size.
    _check_voucher_rows(_read(tmp_path / "big.xlsx"), vouchers, expected, lambda v: v["city_code"] == GZ)
    assert calls == list(range(1000, BIG + 1, 1000)) + [BIG]  # a background job's progress bar
    assert issuance.count_vouchers(city_code=GZ) == BIG

    # The list's filters apply to the export and to its count alike.
    filters = dict(city_code=GZ, cycle_id=c2.id, status=VoucherStatus.ISSUED, pilot=True)
    with open(tmp_path / "filtered.xlsx", "wb") as f:
        n = issuance.write_vouchers_xlsx(f, **filters)
    keep = lambda v: (v["city_code"] == GZ and v["cycle_id"] == c2.id and v["pilot"]  # noqa: E731
                      and v["status"] == VoucherStatus.ISSUED)
    _check_voucher_rows(_read(tmp_path / "filtered.xlsx"), vouchers, expected, keep)
    assert n == issuance.count_vouchers(**filters) == sum(map(keep, vouchers)) > 0


# --------------------------------------------------------------------------- the province directory


def _directory_world(kind: str):
    """20,000 registered enterprises or suppliers in Guangzhou, 2,000 in Shenzhen, and some under review."""
    seed_cities()
    model = Enterprise if kind == "enterprise" else Supplier
    decided = dt.datetime(2026, 2, 1, 20, 0, tzinfo=dt.timezone.utc)  # 2 February, local time
    rows, parties = [], []
    for i in range(BIG + SMALL + 100):
        ident = FIRST_ID + i
        row = {"id": ident, "uscc": _uscc(i), "name": f"单位{i:05d}有限公司", "city_code": GZ if i < BIG else SZ,
               "status": RegStatus.APPROVED if i < BIG + SMALL else RegStatus.CITY_REVIEW, "decided_at": decided,
               "contact_name": "李四", "contact_phone": f"138{i:08d}"}
        if i >= BIG + SMALL:
            row["city_code"] = GZ  # under review: never in the directory
        if kind == "enterprise":
            row.update(legal_rep="张三", established_on=dt.date(2015, 1, 1) + dt.timedelta(days=i % 3000),
                       revenue_fen=1_000_000_00 + i * 13, dcmm_certified=i % 2 == 0)
        else:
            row.update(in_province=True, categories=["工业SaaS", "工业App"], endpoints=[f"203.0.113.{i % 250}"])
            if i % 10 == 0:
                parties.append({"supplier_id": ident, "uscc": _uscc(900_000 + i), "name": f"关联{i}"})
        rows.append(row)
    db.session.execute(insert(model), rows)
    if parties:
        db.session.execute(insert(RelatedParty), parties)
    db.session.commit()
    return rows


def _check_directory_rows(kind, rows, world, keep) -> None:
    assert list(rows[0]) == registration.DIRECTORY_COLUMNS[kind]
    want = sorted((w for w in world if keep(w)), key=lambda w: (w["city_code"], w["name"], w["id"]))
    assert [(r[0], r[1]) for r in rows[1:]] == [(w["name"], w["uscc"]) for w in want]
    by_name = {w["name"]: w for w in want}
    for r in rows[1:]:
        w = by_name[r[0]]
        if kind == "enterprise":
            assert (r[2], r[4].date(), _yuan(r[5]), r[6], r[9], r[11].date()) == (
                "广州市" if w["city_code"] == GZ else "深圳市", w["established_on"], fen_to_decimal(w["revenue_fen"]),
                "是" if w["dcmm_certified"] else "否", w["contact_phone"], dt.date(2026, 2, 2))
        else:
            n = int(w["name"][2:7])
            assert (r[3], r[4], r[5], r[6], r[8], r[10].date()) == (
                "广州市" if w["city_code"] == GZ else "深圳市", "工业SaaS、工业App", w["endpoints"][0],
                f"{_uscc(900_000 + n)} 关联{n}" if n % 10 == 0 else None, w["contact_phone"], dt.date(2026, 2, 2))


@pytest.mark.parametrize("kind", ["enterprise", "supplier"])
def test_directory_export_at_20000_rows_is_exact_and_memory_flat(app, tmp_path, kind):
    # rule: REG-1, REG-2, AMT-5
    world = _directory_world(kind)
    _assert_flat(lambda f: registration.write_directory_xlsx(f, kind, city=SZ),
                 lambda f: registration.write_directory_xlsx(f, kind, city=GZ), tmp_path)
    approved = lambda w: w["status"] == RegStatus.APPROVED  # noqa: E731
    _check_directory_rows(kind, _read(tmp_path / "big.xlsx"), world,
                          lambda w: approved(w) and w["city_code"] == GZ)
    assert registration.count_directory(kind, city=GZ) == BIG

    # A search across cities (Guangzhou and Shenzhen, never one under review); the count says the same.
    with open(tmp_path / "q.xlsx", "wb") as f:
        n = registration.write_directory_xlsx(f, kind, q="000有限")
    _check_directory_rows(kind, _read(tmp_path / "q.xlsx"), world, lambda w: approved(w) and "000有限" in w["name"])
    assert n == registration.count_directory(kind, q="000有限") == 22  # 单位00000, 单位01000 … 单位21000


# --------------------------------------------------------------------------- every export, over HTTP


def test_every_export_keeps_user_text_as_text(app, login):
    # rule: AMT-5, CAT-2
    from tests.factories import make_application, make_target

    evil = '=HYPERLINK("http://evil.example","点击领取")'
    seed_cities()
    cat = make_catalog(items=(("SC-01", "=1+1", "生产管控", 200_000_00),), published_at=now() - dt.timedelta(days=1))
    cycle = make_cycle()
    make_target(year=cycle.year)
    ent = make_enterprise(name=evil, decided_at=now())
    sup = make_supplier(name="@SUM(A1)有限公司", decided_at=now())
    make_application(ent, sup, cycle, stage="approved", contract_no="=2+2")
    city, province = make_user(Role.CITY, city_code=GZ), make_user(Role.PROVINCE)
    db.session.commit()
    p = login(province)
    exports = {
        "/city/vouchers/export.xlsx": (login(city), "vouchers.xlsx", {evil, "@SUM(A1)有限公司", "SC-01 =1+1", "=2+2"}),
        "/province/directory/export": (p, f"enterprises-{today():%Y%m%d}.xlsx", {evil}),
        "/province/directory/export?kind=supplier": (p, None, {"@SUM(A1)有限公司"}),
        f"/province/catalog/{cat.id}/export.xlsx": (p, f"catalog-v{cat.number}.xlsx", {"=1+1"}),
        "/province/dashboard.xlsx": (p, None, set()),
    }
    for url, (client, filename, typed) in exports.items():
        r = client.get(url)
        assert r.status_code == 200 and r.mimetype == XLSX_MIME, url
        assert r.headers["Cache-Control"] == "no-store" and int(r.headers["Content-Length"]) == len(r.data)
        if filename:
            assert r.headers["Content-Disposition"] == f"attachment; filename={filename}"
        ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
        cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
        assert all(c.data_type != "f" for c in cells), url  # not one formula anywhere
        assert typed <= {c.value for c in cells if c.data_type == "s"}, url  # the typed text, verbatim, as text
        assert all(c.font.b for c in ws[1] if c.value is not None), url  # bold header
