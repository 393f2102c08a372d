"""A stored file lives exactly as long as a committed stored_file row names it (R33): a request
that rolls back leaves nothing on disk, and `flask files orphans` sweeps what a crash left."""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

from werkzeug.datastructures import FileStorage

from blueprints.core import uploads
from models import Complaint, StoredFile, db
from tests.factories import contract_pdf_bytes
from tests.test_complaints import _form as complaint_form

# R33


def _files(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _save(data: bytes, name: str = "合同.pdf") -> StoredFile:
    return uploads.save_upload(FileStorage(stream=io.BytesIO(data), filename=name), kind="contract",
                               owner_type="application", owner_id=1, user_id=None)


def test_a_rolled_back_upload_leaves_no_file(app):
    f = _save(contract_pdf_bytes("一"))
    path = uploads.path_for(f.sha256)
    assert path.is_file()  # written before the commit (R33 order), so a row never lacks its file
    db.session.rollback()
    assert not path.exists() and _files(app) == []


def test_a_committed_upload_is_kept(app):
    f = _save(contract_pdf_bytes("二"))
    db.session.commit()
    assert uploads.path_for(f.sha256).is_file()
    db.session.rollback()  # a later rollback does not touch files of earlier commits
    assert uploads.path_for(f.sha256).is_file()


def test_a_rolled_back_savepoint_drops_its_file_when_the_rest_commits(app):
    with db.session.begin_nested() as sp:
        f = _save(contract_pdf_bytes("三"))
        sha = f.sha256
        sp.rollback()
    db.session.commit()
    assert not uploads.path_for(sha).exists()


def test_the_same_content_already_stored_survives_a_rollback(app):
    data = contract_pdf_bytes("四")
    kept = _save(data)
    db.session.commit()
    _save(data, "again.pdf")
    db.session.rollback()
    assert uploads.path_for(kept.sha256).is_file()  # still named by the committed row


def test_a_refused_complaint_with_a_good_file_leaves_nothing_on_disk(app, client):
    # A good file and a bad one: 422, no rows, and no bytes left behind (the good file's used to stay).
    good = contract_pdf_bytes("证据")
    data = complaint_form(client, files=[(io.BytesIO(good), "证据.pdf"),
                                         (io.BytesIO(b"MZ\x90\x00 not a pdf"), "virus.pdf")])
    r = client.post("/public/messages/new", data=data, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "virus.pdf" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0
    assert _files(app) == []


def test_a_bad_file_is_named_at_once_beside_another_fields_error(app, client):
    # Never lose what was typed: the file's problem is reported with the other error, not after it
    data = complaint_form(client, text="", files=[(io.BytesIO(b"MZ\x90\x00"), "合同.pdf")])
    r = client.post("/public/messages/new", data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="err-complaint-files"' in html and "合同.pdf" in html and "文件内容与扩展名不符" in html
    assert 'id="err-complaint-text"' in html or "请" in html
    assert db.session.execute(db.select(db.func.count(Complaint.id))).scalar_one() == 0
    assert _files(app) == []


def _age(path: Path, minutes: float) -> None:
    t = time.time() - minutes * 60
    os.utime(path, (t, t))


def test_files_orphans_lists_then_removes_only_old_unreferenced_files(app):
    kept = _save(contract_pdf_bytes("留"))
    db.session.commit()
    root = Path(app.config["UPLOAD_DIR"])
    orphan = root / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x" * 3000)
    stale_tmp = root / kept.sha256[:2] / ".up-crashed"
    stale_tmp.write_bytes(b"half a file")
    young = root / "cd" / ("cd" + "1" * 62)
    young.parent.mkdir(parents=True, exist_ok=True)
    young.write_bytes(b"being uploaded")
    foreign = root / "README.txt"
    foreign.write_text("not ours")
    for p in (orphan, stale_tmp, foreign, uploads.path_for(kept.sha256)):
        _age(p, 180)
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["files", "orphans"])
    assert listed.exit_code == 0, listed.output
    assert f"orphan ab/{orphan.name} (3,000 bytes)" in listed.output
    assert ".up-crashed" in listed.output and "2 orphan files" in listed.output
    assert orphan.exists() and stale_tmp.exists()  # listing removes nothing

    removed = runner.invoke(args=["files", "orphans", "--delete"])
    assert removed.exit_code == 0, removed.output
    assert f"removed ab/{orphan.name}" in removed.output and "2 orphan files, 3,011 bytes removed" in removed.output
    assert "1 younger than 60 minutes left alone" in removed.output
    assert not orphan.exists() and not stale_tmp.exists()
    assert young.exists() and foreign.exists() and uploads.path_for(kept.sha256).is_file()

    _age(young, 180)
    again = runner.invoke(args=["files", "orphans", "--delete", "--grace-minutes", "0"])
    assert "1 orphan files" in again.output and not young.exists()


def test_files_orphans_reports_rows_whose_file_is_missing(app):
    f = _save(contract_pdf_bytes("丢"))
    db.session.commit()
    uploads.path_for(f.sha256).unlink()
    result = app.test_cli_runner().invoke(args=["files", "orphans"])
    assert result.exit_code == 1
    assert f"missing file for stored rows: {f.sha256}" in result.output


def test_a_file_set_aside_by_a_sweep_that_died_is_put_back_and_never_listed_as_an_orphan(app, monkeypatch):
    # R33 -- a sweep killed between setting a file aside and putting it back: the next run restores it
    kept = _save(contract_pdf_bytes("留存"))
    db.session.commit()
    stored = uploads.path_for(kept.sha256)
    aside = stored.with_name(".sweep-" + stored.name)
    os.rename(stored, aside)  # as the dead sweep left it
    monkeypatch.setattr(uploads, "ASIDE_STALE_SECONDS", 0)  # the rename was "long ago"
    time.sleep(0.01)
    listed = app.test_cli_runner().invoke(args=["files", "orphans"])
    assert listed.exit_code == 0, listed.output  # no row misses its file, nothing listed as an orphan
    assert ".sweep-" not in listed.output and "0 orphan files" in listed.output
    assert stored.is_file() and not aside.exists()
    # a set-aside copy beside a fresh one goes; a just-set-aside file (a running sweep's) is left alone
    aside.write_bytes(stored.read_bytes())
    monkeypatch.setattr(uploads, "ASIDE_STALE_SECONDS", 3600)
    app.test_cli_runner().invoke(args=["files", "orphans"])
    assert aside.exists()
    monkeypatch.setattr(uploads, "ASIDE_STALE_SECONDS", 0)
    app.test_cli_runner().invoke(args=["files", "orphans"])
    assert not aside.exists() and stored.is_file()


def test_the_orphan_sweep_checks_each_file_again_right_before_deleting_it(app, monkeypatch):
    # Three files unreferenced and old when listed. While the first is being deleted, a request commits a
    # row naming the second, and another reuses the third (an upload of the same content touches it) without
    # having committed yet: both must survive; only the first goes.
    root = Path(app.config["UPLOAD_DIR"])
    paths = []
    for prefix, data in (("aa", b"first orphan"), ("bb", b"second orphan"), ("cc", b"third orphan")):
        p = root / prefix / (prefix + "0" * 62)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        _age(p, 180)
        paths.append(p)
    first, second, third = paths
    sweep = uploads.find_orphans(60)
    assert [p for p, _ in sweep.orphans] == paths
    real_unlink = Path.unlink
    happened = []

    def unlink(self, *args, **kwargs):
        if not happened:  # between the listing (and any check before the loop) and the next files' turn
            happened.append(self)
            db.session.add(StoredFile(sha256=second.name, size=13, mime="application/pdf", original_name="b.pdf",
                                      kind="contract", owner_type="application", owner_id=1))
            db.session.commit()
            os.utime(third)
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    removed = uploads.remove_orphans(sweep)
    monkeypatch.undo()
    assert [p for p, _ in removed] == [first] and happened
    assert not first.exists() and second.read_bytes() == b"second orphan" and third.read_bytes() == b"third orphan"
    assert sorted(p.name for p in _files(app)) == [second.name, third.name]  # nothing left aside


def _swept_while_reused(app, monkeypatch, data: bytes) -> tuple[Path, list[bool]]:
    """An old unreferenced copy of `data` is stored; the next touch of it (an upload of the same content
    reusing it, _publish) first lets the orphan sweep move it aside and delete it: the sweep's rename
    falls between the upload's exists-check and its touch."""
    import hashlib

    target = uploads.path_for(hashlib.sha256(data).hexdigest())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    _age(target, 180)
    real_utime = os.utime
    swept = []

    def utime(path, *args, **kwargs):
        if Path(path) == target and not swept:
            swept.append(uploads._remove_orphan(db.engine, target, time.time() - 3600))
        return real_utime(path, *args, **kwargs)

    monkeypatch.setattr(os, "utime", utime)
    return target, swept


def test_a_file_moved_in_from_disk_survives_the_sweep_taking_its_stored_copy_at_the_touch(app, monkeypatch, tmp_path):
    data = b"%PDF-1.4 generated export " * 50
    target, swept = _swept_while_reused(app, monkeypatch, data)
    src = tmp_path / "export.pdf"
    src.write_bytes(data)
    sha, size = uploads.write_path(src)
    monkeypatch.undo()
    assert swept == [True]  # the sweep did delete the old copy
    db.session.add(StoredFile(sha256=sha, size=size, mime="application/pdf", original_name="导出.pdf",
                              kind="export", owner_type="application", owner_id=1))
    db.session.commit()
    assert target.read_bytes() == data and not src.exists()
    assert [p.name for p in _files(app)] == [sha]  # nothing left aside


def test_the_fresh_copy_written_after_the_sweep_took_the_old_one_goes_with_a_rollback(app, monkeypatch, tmp_path):
    data = b"%PDF-1.4 another export " * 50
    target, swept = _swept_while_reused(app, monkeypatch, data)
    src = tmp_path / "export.pdf"
    src.write_bytes(data)
    sha, size = uploads.write_path(src)
    monkeypatch.undo()
    assert swept == [True] and target.read_bytes() == data  # written again, kept only if committed
    db.session.add(StoredFile(sha256=sha, size=size, mime="application/pdf", original_name="导出.pdf",
                              kind="export", owner_type="application", owner_id=1))
    db.session.rollback()
    assert _files(app) == []
