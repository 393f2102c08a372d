"""An organisation's own profile: fill in, save drafts, submit, read returns, propose changes.

Written for the enterprise (REG-1) and registered as well on the supplier blueprint (REG-2, see
blueprints/supplier/profile.py): `request.blueprint` is the kind ("enterprise" or "supplier"),
and the profile is always the logged-in user's own organisation (ROLE-8).
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import registration
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.enterprise import bp
from blueprints.enterprise.forms import EnterpriseProfileForm
from models import Enterprise, Role, Supplier, db

# kind -> (form class, initial data); blueprints/supplier/profile.py adds the supplier's.
FORMS = {"enterprise": (EnterpriseProfileForm, registration.enterprise_initial)}

register_nav(Role.ENTERPRISE, [("单位资料", "enterprise.profile_view")])
register_panel(Role.ENTERPRISE, "enterprise/_panel_reg.html",
               lambda user: registration.owner_panel(user.enterprise, "enterprise"), order=10)


def _mine():
    kind = request.blueprint
    model = Enterprise if kind == "enterprise" else Supplier
    return kind, get_visible_or_404(model, getattr(current_user, f"{kind}_id"))


def _form_ctx(kind, org, form, mode, change, errors, message=""):
    source = change if change is not None else org
    return dict(org=org, form=form, mode=mode, change=change, message=message,
                docs=registration.docs_context(kind, org, form, errors),
                reasons=source.return_reasons if source.status == "returned" else [])


@bp.route("/profile")
def profile_view():
    """The profile as it stands: review status, returns, pending change, history."""
    kind, org = _mine()
    return page(f"{kind}/profile_view.html", **registration.owner_view_context(org, current_user))


@bp.route("/profile/edit", methods=["GET", "POST"])
def profile_edit():
    """Edit and save as a draft or submit; after approval, propose a change (REG-9)."""
    kind, org = _mine()
    mode = registration.edit_mode(org)
    if mode is None:
        flash(registration.not_editable_message(org), "warning")
        return redirect_to(url_for(f"{kind}.profile_view"))
    change = registration.open_change(org) if mode == "change" else None
    form_cls, initial = FORMS[kind]
    form = form_cls(owner=org, data=initial(org, change and change.proposed))
    tpl = f"{kind}/profile_form.html"
    if request.method == "POST" and request.args.get("validate"):
        form.validate()
        return page(tpl, block="form", **_form_ctx(kind, org, form, mode, change, {}))
    if request.method == "POST":
        op = "change" if mode == "change" else ("submit" if request.form.get("op") == "submit" else "save")
        out = registration.handle_profile_post(kind, org, form, request.files, current_user, op)
        db.session.commit()  # also keeps valid uploads when the form is sent back
        if out.ok:
            flash(out.message, "success")
            return redirect_to(url_for(f"{kind}.profile_view"))
        return page(tpl, status=422, **_form_ctx(kind, org, form, mode, change, out.errors, out.message))
    return page(tpl, **_form_ctx(kind, org, form, mode, change, {}))


@bp.route("/profile/change/withdraw", methods=["POST"])
def profile_change_withdraw():
    """Withdraw the pending change; the approved facts stay as they are."""
    kind, org = _mine()
    change = registration.open_change(org)
    if change is None:
        flash("没有待审核的变更", "warning")
        return redirect_to(url_for(f"{kind}.profile_view"))
    registration.withdraw_change(change, current_user)
    db.session.commit()
    flash("变更申请已撤回", "success")
    return redirect_to(url_for(f"{kind}.profile_view"))
