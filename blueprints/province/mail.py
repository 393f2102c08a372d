"""Province: the mail outbox (blueprints/core/mail.py sends it). How many mails are waiting, sent and failed,
whether a mail server is configured at all, the failed and waiting mails with their last error, searched by
recipient address or title; a failed mail (or every one) goes back in the queue, with an audit record, and
the sender is kicked at once. The home page shows a line when mails have failed."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.core import audit, mail, paging
from blueprints.core import mail_outbox as outbox
from blueprints.core.htmx import page, redirect_to, wants_fragment
from blueprints.core.nav import register_nav, register_panel
from blueprints.province import bp
from blueprints.province.mail_forms import MailFilter
from models import MailOutbox, MailStatus, Role, db

register_nav(Role.PROVINCE, [("邮件发送", "province.mail_outbox")])
register_panel(Role.PROVINCE, "province/_panel_mail.html", lambda user: {"failed": outbox.failed_count()}, order=5)

PER_PAGE = 20
TEMPLATE = "province/mail_outbox.html"
ROW_TEMPLATE = "province/mail_row.html"  # one row, also rendered alone after a retry (htmx)


def _list_args(source) -> dict:
    """The list's filters and page, from the query string (GET) or the posted form (to return to them)."""
    f = MailFilter(formdata=source)
    args = f.args()
    if paging.page_arg(source.get("page")) > 1:
        args["page"] = paging.page_arg(source.get("page"))
    return args


HELPERS = {"title_of": outbox.title_of, "short_error": outbox.short_error}


@bp.route("/mail")
def mail_outbox():
    """Mails by status, whether SMTP is configured, and the failed and waiting mails, searched and paginated."""
    f = MailFilter(formdata=request.args)
    pg = paging.paginate(outbox.outbox_select(f.q.data, f.status.data), per_page=PER_PAGE)
    row_args = dict(f.args(), **({"page": pg.page} if pg.page > 1 else {}))  # a retry returns to this page
    return page(TEMPLATE, block="results", f=f, pg=pg, args=f.args(), row_args=row_args, counts=mail.counts(),
                smtp=mail.enabled(), **HELPERS)


def _kick_and_say() -> None:
    if mail.enabled():
        mail.kick()  # after the commit: the sender claims the rows now (the minute sweep would anyway)
    else:
        flash(_("未配置邮件服务器（SMTP_HOST），邮件将在配置后发送"), "info")


@bp.route("/mail/<int:mail_id>/retry", methods=["POST"])
def mail_retry(mail_id: int):
    """Put one failed mail back in the queue: due now, its attempts counted anew."""
    row = db.get_or_404(MailOutbox, mail_id)
    back = url_for("province.mail_outbox", **_list_args(request.form))
    if not outbox.retry_failed([row.id]):  # no longer failed: sent, or retried by someone else meanwhile
        db.session.rollback()
        flash(_("该邮件当前不是发送失败状态，无需重试"), "error")
        if wants_fragment():  # a 409 is not swapped in: the message travels as a toast
            return page(ROW_TEMPLATE, status=409, m=row, row_args=_list_args(request.form), **HELPERS)
        return redirect_to(back)
    audit.record("mail_outbox", row.id, "mail_retry", actor=current_user, from_state=MailStatus.FAILED,
                 to_state=MailStatus.PENDING, data={"to": row.to_addr, "attempts": row.attempts})
    db.session.commit()
    flash(_("已将发往 %(to)s 的邮件重新排入发送队列", to=row.to_addr), "success")
    _kick_and_say()
    if wants_fragment():  # the row in place, now waiting (or already sent by the kick)
        db.session.expire_all()
        return page(ROW_TEMPLATE, m=db.session.get(MailOutbox, row.id), row_args=_list_args(request.form), **HELPERS)
    return redirect_to(back)


@bp.route("/mail/retry-all", methods=["POST"])
def mail_retry_all():
    """Put every failed mail back in the queue at once (one audit record with their number)."""
    ids = outbox.retry_failed()
    if not ids:
        db.session.rollback()
        flash(_("没有发送失败的邮件"), "info")
        return redirect_to(url_for("province.mail_outbox", **_list_args(request.form)))
    audit.record("mail_outbox", 0, "mail_retry_all", actor=current_user, from_state=MailStatus.FAILED,
                 to_state=MailStatus.PENDING, data={"count": len(ids), "ids": ids[:200]})
    db.session.commit()
    flash(_("已将 %(n)s 封发送失败的邮件重新排入发送队列", n=len(ids)), "success")
    _kick_and_say()
    return redirect_to(url_for("province.mail_outbox", **_list_args(request.form)))
