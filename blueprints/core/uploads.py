"""Uploads: PDF, JPEG or PNG only, checked by content (DOC-3, R26-R30).

Three gates: the name's extension, the magic bytes at offset 0, and a full parse
(pypdf for PDF, with active content refused; Pillow for images, which are re-encoded so
EXIF, trailers and polyglot tails are dropped; a phone photo is turned upright first).
Bytes are stored under their SHA-256 outside the web root, written to a temp file and
renamed before the database row is committed.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from models import StoredFile, db

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_OWNER = 20  # R32 quota: stored files per owner record (DOC-3)
ALLOWED_EXT = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAGIC = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
PDF_FORBIDDEN = ("/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile",
                 "/EmbeddedFiles", "/RichMedia", "/XFA", "/SubmitForm", "/ImportData")
MAX_PDF_PAGES = 200
MAX_PIXELS = 40_000_000


class UploadError(ValueError):
    pass


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
    if _active_content(reader):
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
                if k in PDF_FORBIDDEN:
                    return True
                if k == "/S" and isinstance(v, NameObject) and v in PDF_FORBIDDEN + ("/JavaScript",):
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
        _check_pdf(data)
        return mime, data
    return mime, _reencode_image(data, mime)


def storage_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_for(sha: str) -> Path:
    return storage_dir() / sha[:2] / sha


def _publish(sha: str, fill) -> None:
    """Put a file under its SHA-256 once: fill(fh) writes it to a private temporary name in the
    target folder (fsynced, then renamed), so no reader ever sees half a file and two writers of
    the same content never share a temporary file."""
    target = path_for(sha)
    if target.exists():
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


def write_bytes(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    _publish(sha, lambda fh: fh.write(data))
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


def store_bytes(data: bytes, *, mime: str, name: str, kind: str, owner_type: str,
                owner_id: int | None, user_id: int | None) -> StoredFile:
    sha = write_bytes(data)
    f = StoredFile(sha256=sha, size=len(data), mime=mime, original_name=(name or "")[:200],
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
    mime, data = check(storage.filename, data)
    safe_name = os.path.basename(storage.filename.replace("\\", "/"))
    return store_bytes(data, mime=mime, name=safe_name, kind=kind, owner_type=owner_type,
                       owner_id=owner_id, user_id=user_id)


def read_bytes(f: StoredFile) -> bytes:
    return path_for(f.sha256).read_bytes()
