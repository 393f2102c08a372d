"""htmx responses: one template per screen, a named block per swappable region.

Nothing else imports htmx_flask or jinja2_fragments: routes call page(), redirect_to()
and toast() from here.
"""
from __future__ import annotations

import json

from flask import flash, get_flashed_messages, redirect, render_template, request
from htmx_flask import make_response as hx_response
from jinja2_fragments.flask import render_block, render_blocks


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def wants_fragment() -> bool:
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def page(template: str, block: str | None = None, status: int = 200, url: str | None = None, **ctx):
    """The full page, or (for an htmx request) just the named block(s).

    `url`: the page's own GET address, for a page answered to a POST (a refused decision shown
    with its reason): the browser's address becomes it (HX-Replace-Url for htmx; for a full page,
    static/app.js reads <body data-replace-url>), so a reload shows the record instead of a 405."""
    if url is not None:
        ctx["replace_url"] = url
    if block is None or not wants_fragment():
        body = render_template(template, **ctx)
    elif isinstance(block, (list, tuple)):
        body = render_blocks(template, list(block), **ctx)
    else:
        body = render_block(template, block, **ctx)
    resp = hx_response(body, status)
    resp.headers["Vary"] = "HX-Request"
    if url is not None and is_htmx():
        resp.headers["HX-Replace-Url"] = url
    return resp


def redirect_to(url: str):
    """PRG after success. `url` must come from url_for (never from user input)."""
    if not url.startswith("/") or url.startswith("//"):
        url = "/"
    if is_htmx():
        resp = hx_response("", 204, redirect=url)
        resp.headers["Vary"] = "HX-Request"
        return resp
    return redirect(url, 303)


def toast(message: str, category: str = "info") -> None:
    flash(message, category)


def flashes_to_trigger(response):
    """after_request: for htmx responses, flash() messages travel as an HX-Trigger toast."""
    if not is_htmx() or response.status_code in (301, 302, 303):
        return response
    if "HX-Redirect" in response.headers or "HX-Location" in response.headers:
        return response  # the next full page shows them
    messages = get_flashed_messages(with_categories=True)
    if messages:
        trigger = {}
        existing = response.headers.get("HX-Trigger")
        if existing:
            try:
                trigger = json.loads(existing)
            except ValueError:
                trigger = {existing: None}
        trigger["toast"] = [{"level": c, "message": m} for c, m in messages]
        # ASCII escapes: a raw Chinese header value is refused by gunicorn and by http.server.
        response.headers["HX-Trigger"] = json.dumps(trigger)
    return response
