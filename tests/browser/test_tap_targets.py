"""Phone ergonomics at 390x844: every link and button is a 44x44 px tap target on the main pages of
each role and on the public pages; amounts never wrap; the province dashboard fits a phone.

The main pages of a role are its home page and every page in its menu (read from the menu itself,
so a page added to a menu is measured without touching this test), plus the open menu.

What is measured: every visible `a[href]`, `button`, `summary`, `input[type=submit|button|reset]`,
`select` and `[role=button]`, by getBoundingClientRect. Nothing is excluded: links inside running text
are held to the same 44 px (the stylesheet gives them the height). A target narrower than 44 px is a
short, icon-like one (a count, a page number, 登录) and fails as well.
"""
from __future__ import annotations

import pytest

from models import db
from tests.browser.conftest import pass_second_factor, password_step

MIN = 44

# Returns the tap targets that are too small, with enough to find them in the template.
MEASURE = """(min) => {
  const sel = 'a[href], button, summary, input[type=submit], input[type=button], input[type=reset], select, [role=button]';
  const small = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.height < min - 0.5 || r.width < min - 0.5) {
      const where = [];
      for (let p = el; p && p !== document.body && where.length < 4; p = p.parentElement) {
        where.push(p.tagName.toLowerCase() + (p.id ? '#' + p.id : '') +
                   (p.classList.length ? '.' + [...p.classList].join('.') : ''));
      }
      small.push({text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30),
                  h: Math.round(r.height), w: Math.round(r.width), where: where.join(' < ')});
    }
  }
  return small;
}"""

DEMO_PASSWORD = "Demo-2026-gd"
# One demo account per role (cli.load_demo_data): enterprise, supplier, city, province, expert.
ROLE_LOGINS = ["ent_gz", "sup_gd", "city_guangzhou", "admin", "expert"]
OFFICIALS = {"city_guangzhou", "admin", "expert"}  # demo accounts enrolled in the second factor (R21)

PUBLIC_PAGES = ["/", "/login", "/signup", "/catalog", "/cycles", "/suppliers", "/public/pilots",
                "/public/settlement-lists", "/public/objections", "/public/messages/new", "/public/messages", "/v"]


def demo_world():
    """The demo data set (every city with its target and budgets, organisations, one issued voucher)
    plus rows that fill the lists and amounts: ent_fs's draft with a large fee (a seven-digit amount in
    the preview) and a draft catalog version whose caps changed (the catalog diff)."""
    from cli import load_demo_data
    from models import CatalogVersion, Cycle, User
    from tests.factories import make_application, make_catalog

    load_demo_data()
    db.session.flush()
    users = {u.username: u for u in db.session.execute(db.select(User)).scalars()}
    v1 = db.session.execute(db.select(CatalogVersion)).scalars().one()
    draft = make_application(users["ent_fs"].enterprise, users["sup_gd"].supplier,
                             db.session.execute(db.select(Cycle)).scalars().first(), item=v1.items[6],
                             fee_fen=3_000_000_00, users={"enterprise": users["ent_fs"]})
    make_catalog(cap_fen=3_000_000_00, published=False,
                 items=[(i.code, i.name, i.category, i.cap_fen * 10) for i in v1.items])
    return draft


def main_pages(pg) -> list[str]:
    """The role's home page and every page of its menu, as paths."""
    paths = [pg.evaluate("location.pathname")]
    for href in pg.eval_on_selector_all(".menu nav a[href]", "els => els.map(a => a.getAttribute('href'))"):
        if href not in paths:
            paths.append(href)
    return paths


def login(pg, base_url: str, username: str, typed: bool = False) -> None:
    """Log a demo account in through the forms; officials type their second-factor code (R21).
    typed: the password step is done already."""
    if not typed:
        password_step(pg, base_url, username, DEMO_PASSWORD)
    pass_second_factor(pg, username)  # types the code with the step boundary in mind
    assert "/login" not in pg.url, f"{username} is not logged in: {pg.url}"


MONEY_WRAPS = """() => {
  // Amounts (¥1,234.56, 1,234.56万) that the browser laid out over more than one line.
  const re = /¥[0-9,]+\\.[0-9]{2}|[0-9,]+\\.[0-9]{2}万/g;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const wrapped = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    for (const m of n.data.matchAll(re)) {
      const range = document.createRange();
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) wrapped.push(m[0]);
    }
  }
  return wrapped;
}"""


def check_page(pg, problems: list, where: str) -> None:
    """Measure the page as it stands (and with its menu open): small targets and wrapped amounts."""
    for small in pg.evaluate(MEASURE, MIN):
        problems.append(f"{where}: {small}")
    for amount in pg.evaluate(MONEY_WRAPS):
        problems.append(f"{where}: amount wraps: {amount}")


def check_menu(pg, problems: list, where: str) -> None:
    pg.click(".menu summary")
    pg.locator(".menu nav").wait_for()
    check_page(pg, problems, where + " (menu open)")
    pg.click(".menu summary")


@pytest.mark.browser
def test_public_pages_have_44px_targets_and_whole_amounts(live_server, page):
    # rule: ROLE-7 (the public pages); every target 44x44 px, amounts never wrap
    demo_world()
    db.session.commit()
    from models import Voucher

    code = db.session.execute(db.select(Voucher.code)).scalars().first()
    db.session.rollback()
    problems: list[str] = []
    for path in PUBLIC_PAGES + [f"/v/{code}"]:
        page.goto(live_server.url + path)
        check_page(page, problems, path)
    assert page.locator(".anon a").count() == 2
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("username", ROLE_LOGINS)
@pytest.mark.browser
def test_each_roles_main_pages_have_44px_targets(live_server, new_page, username):
    # R21 (the code step is measured too); every target 44x44 px, amounts never wrap
    demo_world()
    db.session.commit()
    pg = new_page()
    problems: list[str] = []
    password_step(pg, live_server.url, username, DEMO_PASSWORD)  # officials stop at the code step
    assert ("/login/code" in pg.url) == (username in OFFICIALS), pg.url
    if "/login/code" in pg.url:
        check_page(pg, problems, "/login/code")
    login(pg, live_server.url, username, typed=True)
    pages = main_pages(pg)
    assert len(pages) >= 3, pages
    check_menu(pg, problems, pages[0])
    for path in pages:
        pg.goto(live_server.url + path)
        check_page(pg, problems, path)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_province_dashboard_fits_a_phone_with_labelled_figures(live_server, page):
    # rule: CYC-5 (the dashboard), read on a phone
    demo_world()
    db.session.commit()
    login(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/province/dashboard")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, f"the dashboard is {height} px tall on a phone"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Every city is one line; the wide table is not what the phone shows.
    cities = page.locator("#city-list details.city-figures")
    assert cities.count() == 22  # 21 cities and the total
    assert not page.locator("#figures-table").is_visible()
    gz = page.locator("#city-figures-440100")
    assert "广州市" in gz.locator("summary").inner_text() and "发放 1 张" in gz.locator("summary").inner_text()
    gz.locator("summary").click()
    # Opened, each figure stands beside its label, and says which number is which.
    pairs = page.evaluate("""() => [...document.querySelectorAll('#city-figures-440100 dl.facts dt')]
        .map(dt => [dt.innerText.trim(), dt.nextElementSibling.tagName, dt.nextElementSibling.innerText.trim()])""")
    assert len(pairs) == 9 and all(label and tag == "DD" and value for label, tag, value in pairs), pairs
    facts = dict((label, value) for label, _, value in pairs)
    assert facts["企业注册"] == "提交 1 · 通过 1 · 审核中 0"
    assert facts["发放"] == "1 张 · 26.00万"
    assert facts["发放额度"].startswith("已用 26.00万 / 额度 7,500.00万")
    for label, _, value in pairs:  # no bare "1 / 1 / 0": every number is named
        assert not __import__("re").search(r"\\d\\s*/\\s*\\d+\\s*/", value), (label, value)
    # The scheme's progress: each figure names what it is against.
    for card in page.locator("#dashboard-progress .stat-card").all():
        text = card.inner_text()
        assert "目标" in text and "%" in text, text
    assert not page.evaluate(MONEY_WRAPS)


@pytest.mark.browser
def test_amounts_and_preview_labels_never_break(live_server, page):
    # rule: AMT-3 (the preview of the amount), CAT-3 (the catalog diff): amounts never wrap
    draft = demo_world()
    db.session.commit()
    draft_id = draft.id
    from models import CatalogVersion

    b = db.session.execute(db.select(CatalogVersion.id).where(CatalogVersion.number == 2)).scalar_one()
    db.session.rollback()
    login(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/province/catalog/diff?a=1&b={b}")
    # Money is laid out on one line whatever the width of its cell.
    assert page.evaluate("""() => [...document.querySelectorAll('.diff-cap, td.num')]
        .every(el => getComputedStyle(el).whiteSpace === 'nowrap')""")
    caps = page.locator("#catalog-diff-result .diff-cap")
    assert caps.count() == 16
    assert "¥3,000,000.00" in page.inner_text("#catalog-diff-result")
    assert page.evaluate(MONEY_WRAPS) == []
    # The check sees a wrap when there is one: squeeze a cap without the rule.
    caps.first.evaluate("el => { el.style.whiteSpace = 'normal'; el.style.width = '3em'; }")
    assert len(page.evaluate(MONEY_WRAPS)) == 1

    ent = page.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    try:
        login(ent, live_server.url, "ent_fs")
        ent.goto(f"{live_server.url}/enterprise/applications/{draft_id}/edit")
        box = ent.locator("#application-%d-preview" % draft_id)
        assert "¥3,000,000.00" in box.inner_text()
        assert ent.evaluate(MONEY_WRAPS) == []
        # Labels break only between words (at a space or before a bracket), never inside one.
        breaks = ent.evaluate("""(id) => {
          const out = [];
          for (const dt of document.querySelectorAll('#' + id + ' dl.amounts dt')) {
            const text = dt.textContent; let last = null;
            const walker = document.createTreeWalker(dt, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              for (let i = 0; i < n.data.length; i++) {
                const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
                const rect = r.getBoundingClientRect(); if (!rect.width) continue;
                if (last && rect.top > last.top + 2 && !/[\\s]/.test(last.ch) && !/[（(]/.test(n.data[i]))
                  out.push(text.trim() + ' @ ' + last.ch + '|' + n.data[i]);
                last = {top: rect.top, ch: n.data[i]};
              }
            }
          }
          return out;
        }""", f"application-{draft_id}-preview")
        assert breaks == [], breaks
    finally:
        ent.context.close()


@pytest.mark.browser
def test_phone_email_and_money_fields_bring_the_right_keyboard(live_server, page):
    # Phones show a number pad for phone numbers and amounts, an @ keyboard for e-mail.
    demo_world()
    db.session.commit()
    page.goto(f"{live_server.url}/signup")
    assert page.get_attribute("#phone", "type") == "tel" and page.get_attribute("#phone", "inputmode") == "tel"
    login(page, live_server.url, "ent_new")
    page.goto(f"{live_server.url}/enterprise/profile/edit")
    assert page.get_attribute("#contact_phone", "type") == "tel"
    assert page.get_attribute("#contact_phone", "inputmode") == "tel"
    assert page.get_attribute("#contact_email", "type") == "email"
    assert page.get_attribute("#revenue", "inputmode") == "decimal"
    # Every amount typed in the province's forms (caps, targets, quotas, budgets) is a MoneyField.
    from wtforms import Form

    from blueprints.province.forms import MoneyField

    class F(Form):
        cap = MoneyField("cap")

    assert 'inputmode="decimal"' in F().cap()


@pytest.mark.parametrize("path,username", [("/signup", None), ("/account/password", "ent_gz")])
@pytest.mark.browser
def test_password_mismatch_shows_while_typing(live_server, page, path, username):
    # R05-style feedback before submitting: the second password differs
    demo_world()
    db.session.commit()
    if username:
        login(page, live_server.url, username)
    page.goto(live_server.url + path)
    page.fill("input[name=password]", "Long-enough-2026")
    page.locator("input[name=confirm]").press_sequentially("Long-enough-2025")
    msg = page.locator("[data-password-mismatch]")
    msg.wait_for()
    assert msg.inner_text() == "两次输入的密码不一致"
    assert page.get_attribute("input[name=confirm]", "aria-invalid") == "true"
    page.fill("input[name=confirm]", "Long-enough-2026")
    page.locator("input[name=confirm]").dispatch_event("input")
    assert page.locator("[data-password-mismatch]").count() == 0
    assert page.get_attribute("input[name=confirm]", "aria-invalid") is None
