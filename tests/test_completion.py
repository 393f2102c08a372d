"""The completion table, 企业“上云上平台”完成情况表 (VER-4, DOC-2): per cycle and city, every voucher not
released with its enterprise, supplier, days counted of N, first and last day seen, completed or not and the
province's overrides marked; as PDF (A4, Chinese, a header and "第 X 页 / 共 Y 页" on every page) and xlsx;
sent to the city, which then sees and downloads it, and no other city does."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from blueprints.core import completion, uploads
from blueprints.core.issuance import display_code, new_code
from blueprints.core.timeutil import now
from models import (
    AppStatus, Application, CompletionTable, Job, Notice, Role, StoredFile, Voucher, VoucherStatus, VoucherUsage, db,
)
from tests.factories import make_cycle, make_enterprise, make_supplier, make_user, make_world

GZ, SZ = "440100", "440300"
_n = itertools.count(1)


@pytest.fixture
def w(app):
    world = make_world()
    world.prov_user = make_user(Role.PROVINCE)
    world.gz_user = make_user(Role.CITY, city_code=GZ)
    world.sz_user = make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    return world


def _vouchers(w, n: int, *, city: str = GZ, cycle=None, fen: int = 50_000_00) -> list[Voucher]:
    """n issued vouchers, each of its own enterprise and supplier (distinct rows catch a lazy load per row)."""
    cycle = cycle or w.cycle
    out = []
    for _ in range(n):
        e = make_enterprise(city_code=city)
        s = make_supplier()
        a = Application(enterprise_id=e.id, supplier_id=s.id, cycle_id=cycle.id, city_code=city,
                        catalog_version_id=w.item.version_id, catalog_item_id=w.item.id,
                        contract_no=f"HT-C{next(_n):05d}", contract_fee_fen=fen, status=AppStatus.APPROVED,
                        submitted_at=now(), item_amount_fen=fen, return_reasons=[],
                        contract_signed_on=dt.date(2025, 1, 10))
        db.session.add(a)
        db.session.flush()
        v = Voucher(code=new_code(), application_id=a.id, enterprise_id=e.id, supplier_id=s.id, cycle_id=cycle.id,
                    city_code=city, face_value_fen=fen, status=VoucherStatus.ISSUED)
        db.session.add(v)
        db.session.flush()
        out.append(v)
    db.session.commit()
    return out


def _usage(v, days, first=None, last=None, override="", reason=""):
    db.session.add(VoucherUsage(voucher_id=v.id, days=days, first_day=first, last_day=last, override=override,
                                override_reason=reason))


@pytest.fixture
def table(w):
    """Guangzhou: one completed, one short, one overridden to not completed, one void, one released; plus a
    Shenzhen voucher and one of another cycle (neither in Guangzhou's table of this cycle)."""
    done, short, overridden, void, released = _vouchers(w, 5)
    _usage(done, 6, dt.date(2025, 2, 1), dt.date(2025, 3, 9))
    _usage(short, 2, dt.date(2025, 2, 3), dt.date(2025, 2, 4))
    _usage(overridden, 9, dt.date(2025, 2, 1), dt.date(2025, 4, 1), "not_verified", "现场核查：连接来自测试环境")
    void.status = VoucherStatus.VOID
    released.status = VoucherStatus.RELEASED
    sz = _vouchers(w, 1, city=SZ)[0]
    other = _vouchers(w, 1, cycle=make_cycle(name="2026年第二批"))[0]
    db.session.commit()
    return dict(done=done, short=short, overridden=overridden, void=void, released=released, sz=sz, other=other)


# --------------------------------------------------------------------------- the rows


def test_rows_hold_every_voucher_not_released_of_the_city_and_cycle(w, table):
    # rule: VER-4
    rows = {r.voucher_id: r for r in completion.rows(w.cycle, GZ)}
    assert set(rows) == {table[k].id for k in ("done", "short", "overridden", "void")}
    r = rows[table["done"].id]
    assert (r.status.days, r.status.needed, r.result) == (6, 5, "已完成")
    assert (r.status.first_day, r.status.last_day) == (dt.date(2025, 2, 1), dt.date(2025, 3, 9))
    assert r.code == display_code(table["done"].code) and r.enterprise == table["done"].enterprise.name
    assert rows[table["short"].id].result == "未完成"
    o = rows[table["overridden"].id]
    assert o.result == "未完成" and o.override_text == "省级核定为未完成：现场核查：连接来自测试环境"  # 9 days, overridden
    assert rows[table["void"].id].status.days == 0 and rows[table["void"].id].voucher_status == "void"


def test_rows_are_one_query_whatever_their_number(w, table, count_queries):
    # rule: VER-4 (no N+1: voucher, enterprise, supplier and usage in one join)
    db.session.expire_all()
    assert w.cycle.verification_days == 5  # the cycle is loaded before counting
    with count_queries() as few:
        assert len(completion.rows(w.cycle, GZ)) == 4
    _vouchers(w, 6)
    db.session.expire_all()
    assert w.cycle.verification_days == 5
    with count_queries() as more:
        assert len(completion.rows(w.cycle, GZ)) == 10
    assert few.count == more.count == 1


# --------------------------------------------------------------------------- the documents


def _pdf(t: CompletionTable) -> PdfReader:
    return PdfReader(io.BytesIO(uploads.read_bytes(db.session.get(StoredFile, t.pdf_file_id))))


def _check_pages(reader: PdfReader, cycle_name: str) -> str:
    """Every page has the header (title, city, cycle, generation time) and "第 X 页 / 共 Y 页"; returns all text."""
    texts = [p.extract_text() for p in reader.pages]
    n = len(texts)
    for i, text in enumerate(texts, start=1):
        assert "企业“上云上平台”完成情况表" in text, i
        assert "地市：广州市" in text and f"批次：{cycle_name}" in text and "生成时间：" in text, i
        assert f"第 {i} 页 / 共 {n} 页" in text, i
    return "\n".join(texts)


def test_pdf_holds_the_figures_with_a_header_and_page_numbers_on_every_page(w, table):
    # rule: VER-4, DOC-2
    _vouchers(w, 40)  # several pages
    t = completion.generate(w.cycle, GZ, w.prov_user)
    db.session.commit()
    assert (t.rows, t.completed) == (44, 1)
    reader = _pdf(t)
    assert len(reader.pages) >= 2
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape, in points
    text = _check_pages(reader, w.cycle.name)
    for key in ("done", "short", "overridden", "void"):
        assert display_code(table[key].code) in text, key
    assert display_code(table["released"].code) not in text and display_code(table["sz"].code) not in text
    assert display_code(table["other"].code) not in text
    line = next(ln for ln in text.splitlines() if "6 / 5" in ln)
    assert "2025-02-01" in line and "2025-03-09" in line and "已完成" in line
    assert "2 / 5" in text and "未完成" in text
    flat = text.replace("\n", "")  # a long remark wraps in its cell
    assert "省级核定为未完成：现场核查：连接来自测试环境" in flat
    assert "服务券已作废" in flat
    assert "共 44 张服务券：已完成 1 张，未完成 43 张（其中 1 张经省级核定）" in text.replace("\n", "")


def test_a_long_table_is_laid_out_in_parts_and_numbered_as_one(w, table, monkeypatch):
    # rule: DOC-2 (memory stays bounded: parts of PDF_CHUNK_ROWS rows, numbered across the whole document)
    _vouchers(w, 10)
    monkeypatch.setattr(completion, "PDF_CHUNK_ROWS", 5)
    t = completion.generate(w.cycle, GZ, w.prov_user)
    reader = _pdf(t)
    assert len(reader.pages) >= 3  # 14 rows in parts of 5: a page each at least
    text = _check_pages(reader, w.cycle.name)
    assert text.count("共 14 张服务券") == 1  # the summary once, on the first page
    for key in ("done", "short", "overridden", "void"):
        assert display_code(table[key].code) in text


def test_xlsx_reads_back_with_the_same_figures(w, table):
    # rule: VER-4, DOC-2
    t = completion.generate(w.cycle, GZ, w.prov_user)
    f = db.session.get(StoredFile, t.xlsx_file_id)
    assert f.owner_type == "completion_table" and f.owner_id == t.id and f.original_name.endswith(".xlsx")
    wb = load_workbook(io.BytesIO(uploads.read_bytes(f)))
    ws = wb["完成情况表"]
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == completion.XLSX_HEADER
    rows = {r[1]: r for r in values[1:]}
    assert len(rows) == 4
    done = rows[display_code(table["done"].code)]
    assert done[2] == table["done"].enterprise.name and done[3] == table["done"].enterprise.uscc
    assert float(done[5]) == 50_000.0 and done[6:8] == (6, 5)
    assert done[8].date() == dt.date(2025, 2, 1) and done[9].date() == dt.date(2025, 3, 9) and done[10] == "已完成"
    o = rows[display_code(table["overridden"].code)]
    assert o[6] == 9 and o[10] == "未完成" and o[11] == "核定为未完成" and o[12] == "现场核查：连接来自测试环境"
    assert rows[display_code(table["void"].code)][13] == "已作废"
    about = dict(wb["说明"].iter_rows(values_only=True))
    assert about["标题"] == completion.TITLE and about["地市"] == "广州市" and about["批次"] == w.cycle.name
    assert (about["服务券数"], about["已完成"], about["未完成"]) == (4, 1, 3)


# --------------------------------------------------------------------------- sending and access


def test_send_puts_it_on_the_city_page_with_a_notice_and_no_other_city_sees_it(w, table, login):
    # rule: VER-4, DOC-2
    t = completion.generate(w.cycle, GZ, w.prov_user)
    db.session.commit()
    gz, sz, prov = login(w.gz_user), login(w.sz_user), login(w.prov_user)
    pdf_url, xlsx_url = f"/files/{t.pdf_file_id}", f"/files/{t.xlsx_file_id}"
    # Before it is sent: the province only.
    assert prov.get(pdf_url).status_code == 200
    assert gz.get(pdf_url).status_code == 404 and gz.get(xlsx_url).status_code == 404
    assert f"completion-{t.id}-row" not in gz.get("/city/completion-tables").get_data(as_text=True)

    r = prov.post(f"/province/completion-tables/{t.id}/send")
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(CompletionTable, t.id).sent_at is not None
    notice = db.session.execute(db.select(Notice).where(Notice.user_id == w.gz_user.id)).scalar_one()
    assert "完成情况表" in notice.title and notice.link == "/city/completion-tables" and "已完成 1 张" in notice.body
    assert db.session.execute(db.select(Notice).where(Notice.user_id == w.sz_user.id)).first() is None

    html = gz.get("/city/completion-tables").get_data(as_text=True)
    assert f'id="completion-{t.id}-row"' in html and f'href="{pdf_url}"' in html and f'href="{xlsx_url}"' in html
    r = gz.get(pdf_url)
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert gz.get(xlsx_url).status_code == 200
    # Another city: not listed, and its files are 404.
    assert f"completion-{t.id}-row" not in sz.get("/city/completion-tables").get_data(as_text=True)
    assert sz.get(pdf_url).status_code == 404 and sz.get(xlsx_url).status_code == 404
    # Sending twice is refused.
    r = prov.post(f"/province/completion-tables/{t.id}/send")
    assert r.status_code == 409 and "该完成情况表已下发" in r.get_data(as_text=True)


def test_province_page_generates_a_city_then_every_city_as_a_job_and_sends_all(w, table, login):
    # rule: VER-4, DOC-2
    prov = login(w.prov_user)
    html = prov.get(f"/province/completion-tables?cycle={w.cycle.id}").get_data(as_text=True)
    assert 'id="completion-440100-row"' in html and 'id="completion-440300-row"' in html
    assert 'id="completion-440100-generate"' in html and "未生成" in html

    r = prov.post("/province/completion-tables/generate", data={"cycle_id": w.cycle.id, "city": GZ})
    assert r.status_code == 303
    t = db.session.execute(db.select(CompletionTable)).scalar_one()
    assert (t.city_code, t.rows, t.completed, t.sent_at) == (GZ, 4, 1, None)
    html = prov.get(f"/province/completion-tables?cycle={w.cycle.id}").get_data(as_text=True)
    assert f'id="completion-{t.id}-send"' in html and f'id="completion-{t.id}-pdf"' in html

    # Every city: a background job (run at once in tests) that makes a new table per city and a zip of the files.
    r = prov.post("/province/completion-tables/generate", data={"cycle_id": w.cycle.id, "city": "all"})
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"]
    job = db.session.execute(db.select(Job).order_by(Job.id.desc())).scalars().first()
    db.session.refresh(job)
    assert job.status == "done", job.message
    latest = completion.latest(w.cycle.id)
    assert set(latest) == {GZ, SZ} and latest[GZ].id != t.id and latest[SZ].rows == 1
    names = zipfile.ZipFile(io.BytesIO(uploads.read_bytes(job.result_file))).namelist()
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["pdf", "pdf", "xlsx", "xlsx"]
    assert any("广州市" in n for n in names) and any("深圳市" in n for n in names)

    r = prov.post("/province/completion-tables/send-all", data={"cycle_id": w.cycle.id})
    assert r.status_code == 303
    db.session.expire_all()
    assert all(x.sent_at is not None for x in completion.latest(w.cycle.id).values())
    assert db.session.get(CompletionTable, t.id).sent_at is None  # the superseded one stays unsent
    for user in (w.gz_user, w.sz_user):
        assert db.session.execute(db.select(db.func.count(Notice.id)).where(Notice.user_id == user.id)).scalar() == 1
    html = login(w.sz_user).get("/city/completion-tables").get_data(as_text=True)
    assert f'id="completion-{latest[SZ].id}-row"' in html and f"completion-{latest[GZ].id}-row" not in html


def test_a_big_city_is_generated_as_a_job(w, table, login, app):
    # rule: DOC-2
    app.config["COMPLETION_JOB_ROWS"] = 2
    r = login(w.prov_user).post("/province/completion-tables/generate", data={"cycle_id": w.cycle.id, "city": GZ})
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"]
    t = db.session.execute(db.select(CompletionTable)).scalar_one()
    assert (t.city_code, t.rows) == (GZ, 4) and t.pdf_file_id and t.xlsx_file_id


def test_generate_refuses_an_unknown_city_and_an_empty_cycle(w, login):
    # rule: VER-4
    prov = login(w.prov_user)
    r = prov.post("/province/completion-tables/generate", data={"cycle_id": w.cycle.id, "city": "999999"})
    assert r.status_code == 422 and "请选择地市" in r.get_data(as_text=True)
    r = prov.post("/province/completion-tables/generate", data={"cycle_id": w.cycle.id, "city": "all"})
    assert r.status_code == 422 and "该批次还没有服务券" in r.get_data(as_text=True)
    assert prov.post("/province/completion-tables/generate", data={"cycle_id": 999999, "city": "all"}).status_code == 404
    assert db.session.execute(db.select(CompletionTable)).first() is None
