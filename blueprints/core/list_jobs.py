"""The settlement list's PDF and xlsx (DOC-2), made by a background job: a list of 5,000 entries takes
seconds, so the officer's page shows a progress bar (common.job_detail polls the Job row) and the files
are offered when done. The rendering itself is blueprints/core/list_docs.py (pure, from rows)."""
from __future__ import annotations

import os
import tempfile
import zipfile

from blueprints.core import jobs, uploads
from blueprints.core.cycles import period_label
from blueprints.core.sqlite_tx import deferred_reads
from blueprints.core.timeutil import now
from models import Enterprise, ListEntry, ListStatus, Settlement, SettlementList, Supplier, User, Voucher, db

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rows_of(lst: SettlementList):
    """The list's rows in list order, as list_docs.ListRow (one query)."""
    from blueprints.core.list_docs import ListRow

    q = (db.select(ListEntry.seq, Enterprise.name, Supplier.name, Voucher.code, ListEntry.face_fen,
                   ListEntry.bonus_fen, ListEntry.amount_fen, ListEntry.pilot)
         .join(Settlement, Settlement.id == ListEntry.settlement_id)
         .join(Enterprise, Enterprise.id == Settlement.enterprise_id)
         .join(Supplier, Supplier.id == Settlement.supplier_id)
         .join(Voucher, Voucher.id == ListEntry.voucher_id)
         .where(ListEntry.list_id == lst.id).order_by(ListEntry.seq))
    from blueprints.core.issuance import display_code

    return [ListRow(seq, ent, sup, display_code(code), face, bonus, amount, bool(pilot))
            for seq, ent, sup, code, face, bonus, amount, pilot in db.session.execute(q).all()]


def header_of(lst: SettlementList):
    from blueprints.core.list_docs import ListHeader

    if lst.status == ListStatus.PUBLISHED and lst.published_at is not None:
        from blueprints.core.timeutil import local

        status = f"公示期：{local(lst.published_at):%Y-%m-%d} 至 {lst.publicity_ends_on:%Y-%m-%d}"
    else:
        status = "草稿（未公示）"
    return ListHeader(title=lst.title, city=lst.city.name, period_label=period_label(lst.period),
                      status_line=status, generated_at=now())


def start(lst: SettlementList, user):
    return jobs.start("settlement_list_docs", {"list_id": lst.id}, user, total=lst.entries_count,
                      title=f"{lst.title} PDF 和 Excel")


@jobs.handler("settlement_list_docs", "结算清单文件生成")
def settlement_list_docs_job(job, progress) -> jobs.Result:
    """Render the PDF (list_docs.render_pdf) and the xlsx, store both on the list, offer a zip of both."""
    from blueprints.core import list_docs

    lst = db.session.get(SettlementList, job.params["list_id"])
    if lst is None or lst.status == "discarded":
        raise jobs.JobError("该结算清单不存在或已删除")
    rows = rows_of(lst)
    header = header_of(lst)
    total = max(len(rows), 1)
    progress(0, total, force=True)
    pdf = list_docs.render_pdf(header, rows, progress=lambda done, _t=None: progress(min(done, total), total))
    fd, xlsx_path = tempfile.mkstemp(suffix=".xlsx", prefix="list-")
    os.close(fd)
    fd, zip_path = tempfile.mkstemp(suffix=".zip", prefix="list-")
    os.close(fd)
    try:
        list_docs.write_xlsx(header, rows, xlsx_path)
        base = f"{lst.title}"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{base}.pdf", pdf)
            zf.write(xlsx_path, f"{base}.xlsx")
        db.session.commit()  # end the read before writing
        with deferred_reads(False):
            user = db.session.get(User, job.user_id)
            lst = db.session.get(SettlementList, job.params["list_id"])
            p = uploads.store_bytes(pdf, mime="application/pdf", name=f"{base}.pdf", kind="settlement_list_pdf",
                                    owner_type="settlement_list", owner_id=lst.id, user_id=getattr(user, "id", None))
            with open(xlsx_path, "rb") as fh:
                x = uploads.store_bytes(fh.read(), mime=XLSX_MIME, name=f"{base}.xlsx", kind="settlement_list_xlsx",
                                        owner_type="settlement_list", owner_id=lst.id,
                                        user_id=getattr(user, "id", None))
            lst.pdf_file_id, lst.xlsx_file_id = p.id, x.id
            db.session.commit()
    except BaseException:
        if os.path.exists(zip_path):
            os.unlink(zip_path)
        raise
    finally:
        if os.path.exists(xlsx_path):
            os.unlink(xlsx_path)
    return jobs.Result(zip_path, f"{lst.title}.zip", "application/zip",
                       message=f"已生成结算清单 PDF 和 Excel（{len(rows)} 项），也可在清单页面下载")
