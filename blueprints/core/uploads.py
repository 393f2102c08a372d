"""Uploads: PDF, JPEG or PNG only, checked by content (DOC-3, R26-R30).

Three gates: the name's extension, the magic bytes at offset 0, and a full parse
(pypdf for PDF, with active content refused; Pillow for images, which are re-encoded so
EXIF, trailers and polyglot tails are dropped; a phone photo is turned upright first).
Bytes are stored under their SHA-256 outside the web root, written to a temp file and
renamed before the database row is committed (R33). A file is kept only if the transaction that
wrote it commits a stored_file row naming it: when the outermost transaction ends, the files it
created that no committed row references are removed again (a form sent back with errors leaves
nothing on disk); `flask files orphans` sweeps what a crash left behind.

PDFs: whatever follows the last %%EOF is cut off, and a stream that inflates past a bound (a
deflate bomb) is refused after inflating at most that bound, in small steps (R29). Stored file
names lose their control and bidirectional-override characters.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from models import StoredFile, db

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_OWNER = 20  # R32 quota: stored files per owner record (DOC-3)
ALLOWED_EXT = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAGIC = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
PDF_FORBIDDEN = ("/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile",
                 "/EmbeddedFiles", "/RichMedia", "/XFA", "/SubmitForm", "/ImportData")
# Also refused as a name value (/Type /EmbeddedFile, /Subtype /RichMedia or /FileAttachment): active
# content reached through an annotation rather than a key of the catalog; /EF holds a file's embedded streams.
PDF_FORBIDDEN_VALUES = PDF_FORBIDDEN + ("/FileAttachment",)
PDF_FORBIDDEN_KEYS = PDF_FORBIDDEN + ("/EF",)
MAX_FILTER_DEPTH = 4  # /Filter [/FlateDecode /FlateDecode ...]: levels inflated (each bounded) before giving up
MAX_PDF_PAGES = 200
MAX_PIXELS = 40_000_000
MAX_PDF_STREAM_BYTES = 64 * 1024 * 1024  # R29: one decoded stream (a 600 dpi A4 colour scan is ~100 MB raw:
MAX_PDF_INFLATED_BYTES = 256 * 1024 * 1024  # such scans are JPEG-coded, never inflated here); all streams
ORPHAN_GRACE_MINUTES = 60  # files younger than this may belong to a request still running

log = logging.getLogger(__name__)


class UploadError(ValueError):
    pass


# Bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) are format characters
# (category Cf), like the zero-width ones; Cc are the C0/C1 controls (NUL, newline...).
_NAME_DROP = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def safe_filename(name: str | None) -> str:
    """The name a user gave a file, fit to keep as metadata: its base name only, without control or
    bidirectional-override characters (a right-to-left override makes "合同\u202efdp.exe" read as
    "合同exe.pdf"), NFC-normalised, at most 200 characters."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = "".join(" " if unicodedata.category(c) in ("Zs",) and c != " " else c
                   for c in text if unicodedata.category(c) not in _NAME_DROP)
    text = os.path.basename(text.replace("\\", "/")).strip()
    text = re.sub(r" {2,}", " ", text)
    if text in ("", ".", ".."):
        return ""
    if len(text) > 200:
        stem, ext = os.path.splitext(text)
        text = stem[: 200 - len(ext)] + ext if len(ext) <= 10 else text[:200]
    return text


_EOF = re.compile(rb"%%EOF[ \t]*(\r\n|\n|\r)?")
_STREAM = re.compile(rb"(?<!end)stream(\r\n|\n|\r)")


def cut_after_eof(data: bytes) -> bytes:
    """A PDF ends at its last %%EOF marker (and its line end): anything appended after it (a
    second file, a script, a ZIP) is cut off. Raises UploadError when there is no marker."""
    at = data.rfind(b"%%EOF")
    if at < 0:
        raise UploadError("文件不是有效的 PDF（文件不完整）")
    return data[: _EOF.match(data, at).end()]


def check_pdf_streams(data: bytes) -> None:
    """R29: inflate every deflate-coded stream in small steps (zlib.decompressobj with max_length)
    and refuse the file as soon as one stream, or all of them together, pass the bound; at most
    the bound is ever inflated and nothing inflated is kept. A stream that is not zlib data is
    left to the parser."""
    per_stream = current_app.config.get("MAX_PDF_STREAM_BYTES", MAX_PDF_STREAM_BYTES)
    overall = current_app.config.get("MAX_PDF_INFLATED_BYTES", MAX_PDF_INFLATED_BYTES)
    total = 0
    for m in _STREAM.finditer(data):
        start = m.end()
        end = data.find(b"endstream", start)
        raw = memoryview(data)[start:(end if end >= 0 else len(data))]
        size = 0

        def count(n: int) -> None:
            nonlocal size
            size += n
            if size > per_stream or total + size > overall:
                raise UploadError("PDF 中的内容解压后过大（疑似压缩炸弹），不能上传")

        # A stream deflated twice (or more) inflates to deflate data again: each level is inflated in
        # turn, lazily, and every level's output counts against the bounds.
        levels = [_inflated((raw[i:i + 65536] for i in range(0, len(raw), 65536)), count)]
        while len(levels) < MAX_FILTER_DEPTH:
            first = next(levels[-1], b"")
            if not _looks_deflated(first):
                break
            levels.append(_inflated(itertools.chain([first], levels[-1]), count))
        for level in reversed(levels):  # the rest of every level, innermost first
            for _ in level:
                pass
        total += size


def _looks_deflated(head: bytes) -> bool:
    """A zlib header: compression method 8 and the header check (RFC 1950)."""
    return len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0


def _inflated(chunks, count, step: int = 1 << 20):
    """Inflate zlib data given in chunks, yielding at most `step` bytes at a time; count(n) is told
    every piece (it raises past a bound). Data that is not zlib ends it: the parser decides."""
    d = zlib.decompressobj()
    try:
        for chunk in chunks:
            while chunk:
                out = d.decompress(chunk, step)
                chunk = d.unconsumed_tail
                if out:
                    count(len(out))
                    yield out
                if d.eof:
                    return
    except zlib.error:
        return


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadError("PDF 文件已加密，请上传未加密的文件")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise UploadError(f"PDF 页数超过 {MAX_PDF_PAGES} 页")
        if len(reader.pages) == 0:
            raise UploadError("PDF 文件没有页面")
    except UploadError:
        raise
    except (PdfReadError, Exception) as exc:  # any parse failure is a refusal
        raise UploadError("文件不是有效的 PDF") from exc
    try:
        active = _active_content(reader)
    except Exception as exc:  # objects are read as the walk reaches them: a broken one is a refusal too
        raise UploadError("文件不是有效的 PDF") from exc
    if active:
        raise UploadError("PDF 含有脚本、自动动作或嵌入文件，不能上传")


def _active_content(reader) -> bool:
    """Walk every object reachable from the trailer; True on any forbidden key or action."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    seen: set[int] = set()
    stack = [reader.trailer]
    budget = 200_000
    while stack and budget > 0:
        budget -= 1
        node = stack.pop()
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                continue
            seen.add(key)
            node = node.get_object()
        if isinstance(node, DictionaryObject):
            for k, v in node.items():
                if k in PDF_FORBIDDEN_KEYS:
                    return True
                if isinstance(v, NameObject) and v in PDF_FORBIDDEN_VALUES:
                    return True
                stack.append(v)
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return budget <= 0


def _reencode_image(data: bytes, mime: str) -> bytes:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    fmt = "JPEG" if mime == "image/jpeg" else "PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                if fmt == "JPEG" and img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                img.info.pop("comment", None)  # Pillow writes a JPEG's comment back: it may carry a script
                out = io.BytesIO()
                img.save(out, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
                return out.getvalue()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadError("图片尺寸过大") from exc
    except Exception as exc:
        raise UploadError("文件不是有效的图片") from exc


def check(filename: str, data: bytes) -> tuple[str, bytes]:
    """Return (mime, bytes to store) or raise UploadError with a Chinese message."""
    limit = current_app.config.get("MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES)
    if not data:
        raise UploadError("文件为空")
    if len(data) > limit:
        size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"
        raise UploadError(f"文件超过 {size}，请压缩后重新上传")
    ext = Path(filename or "").suffix.lower()
    mime = ALLOWED_EXT.get(ext)
    if mime is None:
        raise UploadError("只能上传 PDF、JPG 或 PNG 文件")
    if not data.startswith(MAGIC[mime]):
        raise UploadError("文件内容与扩展名不符（只能上传真实的 PDF、JPG 或 PNG 文件）")
    if mime == "application/pdf":
        data = cut_after_eof(data)
        check_pdf_streams(data)
        _check_pdf(data)
        return mime, data
    return mime, _reencode_image(data, mime)


def storage_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_for(sha: str) -> Path:
    return storage_dir() / sha[:2] / sha


def _publish(sha: str, fill, data: bytes | None = None) -> None:
    """Put a file under its SHA-256 once: fill(fh) writes it to a private temporary name in the
    target folder (fsynced, then renamed), so no reader ever sees half a file and two writers of
    the same content never share a temporary file. The file is noted in the session: unless a
    committed stored_file row names it when the transaction ends, it is removed again.

    A file already there is reused and touched (fresh again: the orphan sweep's grace period covers
    this request). If the touch finds it gone, the sweep has just moved it aside (_remove_orphan) and
    may delete it: a fresh copy is written from the source instead, as if it had never been there."""
    target = path_for(sha)
    if target.exists():
        try:
            os.utime(target)
        except FileNotFoundError:
            pass  # moved aside (or removed) since the check: write it below
        except OSError:  # cannot touch it (read-only storage?): reuse it as it is
            _note(sha, created=False, data=data)
            return
        else:
            _note(sha, created=False, data=data)
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".up-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    _note(sha, created=True, data=data)


def write_bytes(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    _publish(sha, lambda fh: fh.write(data), data)
    return sha


def write_path(src: str | os.PathLike) -> tuple[str, int]:
    """Move a finished temporary file into storage under its SHA-256 (hashed in chunks: big
    generated exports never sit in memory). Returns (sha256, size); the source is consumed."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    sha = h.hexdigest()

    def copy(out) -> None:  # the source may be on another file system than UPLOAD_DIR
        with open(src, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)

    _publish(sha, copy)
    os.unlink(src)
    return sha, size


# --------------------------------------------------------------------------- kept only if committed (R33)

_PENDING = "uploads.pending"  # Session.info key: {sha256: _Pending}


@dataclass
class _Pending:
    root: Path
    created: bool = False
    data: bytes | None = field(default=None, repr=False)


def _note(sha: str, *, created: bool, data: bytes | None) -> None:
    from models import db

    pending = db.session.info.setdefault(_PENDING, {})
    seen = pending.get(sha)
    if seen is None:
        pending[sha] = _Pending(storage_dir(), created, data)
    else:
        seen.created = seen.created or created
        seen.data = seen.data if seen.data is not None else data


def _referenced(bind, shas) -> set[str]:
    """The shas that a committed stored_file row names (read on a connection of its own)."""
    with bind.connect() as conn:
        return set(conn.execute(sa.select(StoredFile.sha256).where(StoredFile.sha256.in_(list(shas)))
                                .distinct()).scalars())


@sa.event.listens_for(Session, "after_transaction_end")
def _settle_files(session, transaction) -> None:
    """When the outermost transaction ends (commit, rollback or close): remove the files it
    created that no committed row names; put back a file a committed row needs that another,
    rolled-back request removed meanwhile (same content, both at once)."""
    if transaction.parent is not None or transaction.nested:
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        keep = _referenced(session.get_bind(), pending)
    except Exception:  # database unreachable: `flask files orphans` settles it later
        log.warning("could not settle %d uploaded files; the orphan sweep will", len(pending), exc_info=True)
        return
    for sha, p in pending.items():
        target = p.root / sha[:2] / sha
        try:
            if sha not in keep and p.created:
                target.unlink(missing_ok=True)
            elif sha in keep and p.data is not None and not target.exists():
                _refill(target, p.data)
        except OSError:
            log.warning("could not settle uploaded file %s", sha, exc_info=True)


def _refill(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".up-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o640)
    os.replace(tmp, target)


@dataclass
class Sweep:
    orphans: list[tuple[Path, int]] = field(default_factory=list)  # (path, bytes)
    missing: list[str] = field(default_factory=list)  # shas that rows name but the disk lacks
    young: int = 0  # unreferenced files inside the grace period, left alone
    cutoff: float = field(default_factory=time.time)  # files modified after this (epoch seconds) are young


_SHA_RE = re.compile(r"[0-9a-f]{64}")


def find_orphans(grace_minutes: float = ORPHAN_GRACE_MINUTES) -> Sweep:
    """Files under UPLOAD_DIR that no stored_file row names (content files, and the temporary
    files of writes that never finished), older than the grace period; and rows whose file is gone.
    Only the shapes this module writes are looked at: <2 hex>/<anything> and dot-files."""
    from models import db

    root = storage_dir()
    _restore_set_aside(root)
    referenced: set[str] = set()
    for sha in db.session.execute(sa.select(StoredFile.sha256).distinct()).scalars():
        referenced.add(sha)
    db.session.rollback()
    cutoff = time.time() - grace_minutes * 60
    out = Sweep(cutoff=cutoff)
    on_disk: set[str] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        ours = (len(rel) == 2 and re.fullmatch(r"[0-9a-f]{2}", rel[0])) or (len(rel) == 1 and rel[0].startswith("."))
        if not ours or not path.is_file() or path.is_symlink():
            continue
        name = rel[-1]
        if _SHA_RE.fullmatch(name) and name[:2] == rel[0]:
            on_disk.add(name)
            if name in referenced:
                continue
        st = path.stat()
        if st.st_mtime > cutoff:
            out.young += 1
            continue
        out.orphans.append((path, st.st_size))
    out.missing = sorted(referenced - on_disk)
    return out


_ASIDE = ".sweep-"  # the name prefix of a file the sweep has moved aside while it checks it once more
ASIDE_STALE_SECONDS = 600  # a file set aside longer ago than this was left by a sweep that died


def _restore_set_aside(root: Path) -> int:
    """Put back the files a sweep that died had set aside (a rename sets ctime: one set aside minutes ago
    belongs to no running sweep), so a file still in use is served again and is never listed as an orphan
    under its set-aside name; when a fresh copy exists already, the set-aside one goes. Returns how many."""
    stale = time.time() - ASIDE_STALE_SECONDS
    done = 0
    for aside in root.glob(f"[0-9a-f][0-9a-f]/{_ASIDE}*"):
        target = aside.with_name(aside.name[len(_ASIDE):])
        try:
            if aside.stat().st_ctime > stale or not _SHA_RE.fullmatch(target.name):
                continue
            if target.exists():
                aside.unlink()
            else:
                os.rename(aside, target)
            done += 1
        except FileNotFoundError:  # another sweep got to it first
            continue
    return done


def remove_orphans(sweep: Sweep) -> list[tuple[Path, int]]:
    """Delete the sweep's orphans, each checked once more right before it goes (a row may have been
    committed, or an upload may have reused the file, since the listing); returns what was removed."""
    from models import db

    removed = []
    for path, size in sweep.orphans:
        if _remove_orphan(db.engine, path, sweep.cutoff):
            removed.append((path, size))
    return removed


def _remove_orphan(bind, path: Path, cutoff: float) -> bool:
    """Move the file aside first (a rename: from then on an upload of the same content writes a fresh
    copy instead of reusing this one), then check it once more: still older than the grace period
    (an upload that reused it has touched it, _publish) and named by no committed row -> deleted;
    else put back. True when it was deleted."""
    name = path.name[len(_ASIDE):] if path.name.startswith(_ASIDE) else path.name  # left by a crashed sweep
    target = path.with_name(name)
    aside = target.with_name(_ASIDE + name)
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        keep = aside.stat().st_mtime > cutoff or (
            _SHA_RE.fullmatch(name) is not None and bool(_referenced(bind, {name})))
    except Exception:  # cannot tell (the database is unreachable): keep it, the next sweep decides
        log.warning("orphan sweep could not check %s; kept", target, exc_info=True)
        keep = True
    try:
        if not keep:
            aside.unlink()
            return True
        if target.exists():  # an upload wrote a fresh copy meanwhile (same content): that one stays
            aside.unlink()
        else:
            os.rename(aside, target)
    except FileNotFoundError:  # another sweep put it back or removed it meanwhile: its decision stands
        pass
    return False


def store_bytes(data: bytes, *, mime: str, name: str, kind: str, owner_type: str,
                owner_id: int | None, user_id: int | None) -> StoredFile:
    sha = write_bytes(data)
    f = StoredFile(sha256=sha, size=len(data), mime=mime, original_name=safe_filename(name),
                   kind=kind, owner_type=owner_type, owner_id=owner_id, uploaded_by=user_id)
    db.session.add(f)
    db.session.flush()
    return f


def check_owner_quota(owner_type: str, owner_id: int | None, limit: int | None = None) -> None:
    """R32/DOC-3: at most MAX_FILES_PER_OWNER stored files per owner record (a settlement, with
    its many invoices, passes its own larger limit); raises UploadError."""
    if owner_id is None:
        return
    limit = limit or current_app.config.get("MAX_FILES_PER_OWNER", MAX_FILES_PER_OWNER)
    count = db.session.execute(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.owner_type == owner_type, StoredFile.owner_id == owner_id)).scalar_one()
    if count >= limit:
        raise UploadError(f"该记录已上传 {count} 个文件，已达上限（每项最多 {limit} 个），不能再上传")


def save_upload(storage: FileStorage, *, kind: str, owner_type: str, owner_id: int | None,
                user_id: int | None, quota: int | None = None) -> StoredFile:
    """Validate and store an uploaded file; raises UploadError (nothing stored) when bad."""
    if storage is None or not storage.filename:
        raise UploadError("请选择文件")
    check_owner_quota(owner_type, owner_id, quota)
    limit = current_app.config.get("MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES)
    data = storage.stream.read(limit + 1)
    safe_name = safe_filename(storage.filename)
    mime, data = check(safe_name, data)
    return store_bytes(data, mime=mime, name=safe_name, kind=kind, owner_type=owner_type,
                       owner_id=owner_id, user_id=user_id)


def problem(storage: FileStorage) -> str | None:
    """Why an uploaded file would be refused (None when it is good), without storing it: a form
    whose other fields have errors names a bad file at once. The stream is rewound for the save."""
    if storage is None or not storage.filename:
        return None
    limit = current_app.config.get("MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES)
    try:
        check(safe_filename(storage.filename), storage.stream.read(limit + 1))
    except UploadError as exc:
        return str(exc)
    finally:
        storage.stream.seek(0)
    return None


def read_bytes(f: StoredFile) -> bytes:
    return path_for(f.sha256).read_bytes()
