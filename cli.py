"""flask commands: create-admin, demo-data, audit verify/checkpoint, prune, seed-cities."""
from __future__ import annotations

import datetime as dt
import getpass
import time
from pathlib import Path

import click
from flask import Flask

from blueprints.core import audit, security, sqlite_tx
from blueprints.core.timeutil import now, today
from models import (
    Budget, CatalogItem, CatalogStatus, CatalogVersion, City, CityTarget, Cycle, Enterprise, RegStatus, Role,
    Supplier, User, db,
)

GUANGDONG_CITIES = [
    ("440100", "广州市", "Guangzhou"), ("440200", "韶关市", "Shaoguan"), ("440300", "深圳市", "Shenzhen"),
    ("440400", "珠海市", "Zhuhai"), ("440500", "汕头市", "Shantou"), ("440600", "佛山市", "Foshan"),
    ("440700", "江门市", "Jiangmen"), ("440800", "湛江市", "Zhanjiang"), ("440900", "茂名市", "Maoming"),
    ("441200", "肇庆市", "Zhaoqing"), ("441300", "惠州市", "Huizhou"), ("441400", "梅州市", "Meizhou"),
    ("441500", "汕尾市", "Shanwei"), ("441600", "河源市", "Heyuan"), ("441700", "阳江市", "Yangjiang"),
    ("441800", "清远市", "Qingyuan"), ("441900", "东莞市", "Dongguan"), ("442000", "中山市", "Zhongshan"),
    ("445100", "潮州市", "Chaozhou"), ("445200", "揭阳市", "Jieyang"), ("445300", "云浮市", "Yunfu"),
]

DEMO_PASSWORD = "Demo-2026-gd"
# Demo officials are enrolled in the second factor (R21) with this published secret: add it to an
# authenticator app, or print the current code with `flask demo-totp`. Demo data only, never real accounts.
DEMO_TOTP_SECRET = "GDDEMOTOTPSECRETGDDEMOTOTPSECRET"


def seed_cities() -> None:
    existing = set(db.session.execute(db.select(City.code)).scalars())
    for pos, (code, name, en) in enumerate(GUANGDONG_CITIES):
        if code not in existing:
            db.session.add(City(code=code, name=name, name_en=en, position=pos))
    db.session.flush()


def make_user(username: str, role: Role, password: str, display_name: str = "", **scope) -> User:
    user = User(username=username, role=role, password_hash=security.hash_password(password),
                display_name=display_name or username, **scope)
    db.session.add(user)
    db.session.flush()
    audit.record("user", user.id, "create", actor=None, to_state="active", data={"role": str(role)})
    return user


DEMO_ENTERPRISES = [
    # username, name, uscc, city, revenue (yuan), established
    ("ent_gz", "广州明辉精密制造有限公司", "91440101MA5CXK8A3P", "440100", 86_000_000, dt.date(2012, 5, 18)),
    ("ent_fs", "佛山顺和陶瓷科技有限公司", "91440604MA4UJ2N71Q", "440600", 45_500_000, dt.date(2009, 3, 2)),
    ("ent_dg", "东莞新科电子有限公司", "91441900MA51RTYW2E", "441900", 23_800_000, dt.date(2016, 11, 8)),
]
DEMO_SUPPLIERS = [
    ("sup_gd", "广东云擎工业互联网科技有限公司", "91440101MA59UHC2XN", True, "440100",
     ["工业互联网平台", "工业SaaS"], ["203.0.113.0/24", "cloud.yunqing.example.cn"]),
    ("sup_sz", "深圳智造云服务有限公司", "91440300MA5FPXY15M", True, "440300",
     ["云基础资源", "生产管控"], ["198.51.100.10"]),
    ("sup_bj", "北京数联工业云有限公司", "91110108MA01R0WQ4T", False, None, ["研发设计", "工业App"], ["bj.shulian.example.com"]),
]


def _valid_uscc(base17: str) -> str:
    from stdnum.cn import uscc

    return base17 + uscc.calc_check_digit(base17)


def load_demo_data() -> list[tuple[str, str, str]]:
    """Create demo cities, officers, organisations, catalog and an open cycle. Returns logins."""
    seed_cities()
    logins: list[tuple[str, str, str]] = []
    pw = DEMO_PASSWORD

    def add(username, role, label, **kw):
        user = make_user(username, role, pw, **kw)
        if role in (Role.PROVINCE, Role.CITY, Role.EXPERT, Role.OPERATOR):
            user.totp_secret, user.totp_enabled_at = DEMO_TOTP_SECRET, now()
        logins.append((username, label, str(role)))

    add("admin", Role.PROVINCE, "省工业和信息化厅管理员", display_name="省厅管理员")
    add("expert", Role.EXPERT, "专家委员会专家", display_name="李专家")
    add("operator", Role.OPERATOR, "第三方机构（代省厅）", display_name="第三方机构运营")
    add("operator_gz", Role.OPERATOR, "第三方机构（代广州市）", display_name="第三方机构（广州）", city_code="440100")
    cities = db.session.execute(db.select(City).order_by(City.position)).scalars().all()
    for c in cities:
        add(f"city_{c.name_en.lower()}", Role.CITY, f"{c.name}经信部门", display_name=f"{c.name}经信局", city_code=c.code)

    for username, name, base, city, revenue, est in DEMO_ENTERPRISES:
        e = Enterprise(
            uscc=_valid_uscc(base[:17]), name=name, city_code=city, legal_rep="张伟", established_on=est,
            revenue_fen=revenue * 100, contact_name="王敏", contact_phone="13800138000",
            no_violation_declared=True, status=RegStatus.APPROVED, submitted_at=now(), decided_at=now(),
        )
        db.session.add(e)
        db.session.flush()
        add(username, Role.ENTERPRISE, f"企业：{name}", display_name="王敏", enterprise_id=e.id)
    e_new = Enterprise(contact_name="陈新", contact_phone="13900139000")
    db.session.add(e_new)
    db.session.flush()
    add("ent_new", Role.ENTERPRISE, "企业（刚注册，资料待填写）", display_name="陈新", enterprise_id=e_new.id)

    for username, name, base, inprov, city, cats, eps in DEMO_SUPPLIERS:
        s = Supplier(
            uscc=_valid_uscc(base[:17]), name=name, in_province=inprov, city_code=city, categories=cats,
            endpoints=eps, contact_name="刘洋", contact_phone="13700137000", status=RegStatus.APPROVED,
            submitted_at=now(), decided_at=now(), is_pilot=(username == "sup_gd"),
        )
        db.session.add(s)
        db.session.flush()
        add(username, Role.SUPPLIER, f"供应商：{name}", display_name="刘洋", supplier_id=s.id)

    version = CatalogVersion(number=1, title="2026年应用服务目录", status=CatalogStatus.PUBLISHED,
                             cumulative_cap_fen=50_000_000, published_at=now())
    for pos, (code, name, cat, cap) in enumerate(DEMO_CATALOG_ITEMS):
        version.items.append(CatalogItem(code=code, name=name, category=cat, cap_fen=cap * 100, position=pos,
                                         description=f"{name}：按合同所列上云上平台费用核定。"))
    db.session.add(version)
    year = today().year
    cycle = Cycle(name=f"{year}年第一批", year=year, status="announced", announced_at=now(),
                  application_deadline=today() + dt.timedelta(days=60),
                  settlement_deadline=today() + dt.timedelta(days=240))
    db.session.add(cycle)
    for c in cities:
        db.session.add(CityTarget(city_code=c.code, year=year, target_enterprises=500,
                                  target_amount_fen=5_000_000_000, quota_fen=7_500_000_000))
        db.session.add(Budget(city_code=c.code, period=f"{year}-1", kind="general", cap_fen=3_000_000_000))
        db.session.add(Budget(city_code=c.code, period=f"{year}-1", kind="pilot", cap_fen=500_000_000))
    db.session.flush()
    _demo_voucher(version.items[6])
    return logins


def _blank_pdf(title: str) -> bytes:
    import io

    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    w.add_metadata({"/Title": title})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _demo_voucher(item: CatalogItem) -> None:
    """ent_gz holds one issued voucher from sup_gd (so settlement can be tried at once) and a 两化融合
    certificate in its approved profile (its first approved settlement carries the AMT-4 bonus)."""
    from blueprints.core import application as flow
    from blueprints.core import issuance, uploads

    ent = db.session.execute(db.select(User).where(User.username == "ent_gz")).scalar_one()
    sup = db.session.execute(db.select(User).where(User.username == "sup_gd")).scalar_one()
    city = db.session.execute(db.select(User).where(User.username == "city_guangzhou")).scalar_one()
    e = ent.enterprise
    cert = uploads.store_bytes(_blank_pdf("两化融合管理体系评定证书"), mime="application/pdf", name="贯标评定证书.pdf",
                               kind="dcmm_certificate", owner_type="enterprise", owner_id=e.id, user_id=ent.id)
    e.dcmm_certified, e.dcmm_file_id = True, cert.id
    from models import Application, AppStatus

    cycle = db.session.execute(db.select(Cycle)).scalars().first()
    a = Application(enterprise_id=e.id, cycle_id=cycle.id, city_code=e.city_code, status=AppStatus.DRAFT,
                    return_reasons=[])
    db.session.add(a)
    db.session.flush()
    contract = uploads.store_bytes(_blank_pdf("上云服务合同 YQ-2026-0001"), mime="application/pdf", name="合同.pdf",
                                   kind="contract", owner_type="application", owner_id=a.id, user_id=ent.id)
    flow.save_draft(a, flow.DraftData(contract_no="YQ-2026-0001", contract_signed_on=today() - dt.timedelta(days=20),
                                      contract_fee_fen=260_000_00, catalog_item_id=item.id, supplier_id=sup.supplier_id,
                                      place_in_guangdong=True, single_fund_declared=True), contract, ent)
    flow.submit(a, ent)
    flow.confirm(a, sup)
    issuance.approve(a, city)


# The demo catalog (code, name, category, cap in 元); `make bench` seeds the same one.
DEMO_CATALOG_ITEMS = [
    ("YF-01", "云端协同研发设计平台", "研发设计", 150_000),
    ("SC-01", "生产过程数据上云与可视化", "生产管控", 200_000),
    ("SC-02", "设备联网与远程运维", "生产管控", 200_000),
    ("JY-01", "云ERP（经营管理）", "经营管理", 100_000),
    ("SH-01", "产品远程售后服务平台", "售后服务", 100_000),
    ("JC-01", "公有云基础资源（计算、存储、网络）", "云基础资源", 80_000),
    ("PT-01", "工业互联网平台接入服务", "工业互联网平台", 300_000),
    ("SA-01", "工业SaaS订阅服务", "工业SaaS", 120_000),
]


def register_cli(app: Flask) -> None:
    from blueprints.core import jobs, mail

    jobs.register_cli(app)
    mail.register_cli(app)

    @app.cli.command("seed-cities")
    def seed_cities_cmd():
        """Create Guangdong's 21 cities (idempotent)."""
        seed_cities()
        db.session.commit()
        click.echo("21 cities ready")

    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password", help="omit to be asked (not echoed)")
    def create_admin(username, password):
        """Create a province admin account (the first admin of a new installation)."""
        seed_cities()
        if db.session.execute(db.select(User.id).where(User.username == username)).first():
            raise click.ClickException("该用户名已存在")
        password = password or getpass.getpass("密码: ")
        problem = security.password_problem(password, username)
        if problem:
            raise click.ClickException(problem)
        make_user(username, Role.PROVINCE, password, display_name="省厅管理员")
        db.session.commit()
        click.echo(f"province admin {username} created")

    @app.cli.command("demo-totp")
    def demo_totp():
        """Print the current two-factor code of the demo officials (their published demo secret)."""
        import pyotp

        click.echo(pyotp.TOTP(DEMO_TOTP_SECRET).now())

    @app.cli.command("demo-data")
    @click.option("--if-empty", is_flag=True, help="do nothing when users already exist")
    def demo_data(if_empty):
        """Load demo cities, accounts, organisations, a catalog and an open cycle."""
        if db.session.execute(db.select(User.id).limit(1)).first():
            if if_empty:
                click.echo("demo data already loaded (database not empty)")
                return
            raise click.ClickException("database is not empty; demo data is only for a new database")
        logins = load_demo_data()
        db.session.commit()
        click.echo(f"demo data loaded; every demo account's password: {DEMO_PASSWORD}")
        click.echo(f"officials' two-factor secret: {DEMO_TOTP_SECRET} (current code: flask demo-totp)")
        for username, label, _ in logins[:8]:
            click.echo(f"  {username:<16} {label}")
        click.echo("  city_<城市拼音>    e.g. city_guangzhou, city_shenzhen (21 city officers)")

    @app.cli.group("audit")
    def audit_group():
        """Audit-trail tools."""

    def _verified(max_problems: int, expect: tuple[str, ...], checkpoint_file: str | None):
        """Run verify() against the checkpoint file and any checkpoints typed from a report; print problems."""
        path = Path(checkpoint_file) if checkpoint_file else audit.checkpoint_path()
        try:
            marks = audit.read_checkpoints(path) + [audit.parse_expected(e) for e in expect]
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        with sqlite_tx.deferred_reads():  # a reader: SQLite writers are not held up meanwhile
            total = db.session.execute(db.select(db.func.count()).select_from(audit.AuditEvent)).scalar_one()
            started = time.monotonic()

            def progress(checked: int) -> None:  # on stderr, so the report on stdout stays clean
                click.echo(f"  checked {checked:,} / {total:,} events ({time.monotonic() - started:.0f} s)", err=True)

            result = audit.verify(max_problems=max_problems, progress=progress if total >= 200_000 else None,
                                  checkpoints=marks)
            db.session.rollback()
        if not result.intact:
            for p in result.problems:
                click.echo(p)
            if result.problem_count > len(result.problems):
                click.echo(f"……另有 {result.problem_count - len(result.problems)} 个问题未列出"
                           f"（共 {result.problem_count} 个）")
            raise SystemExit(1)
        return result, path

    @audit_group.command("verify")
    @click.option("--max-problems", default=audit.MAX_PROBLEMS, show_default=True,
                  help="problems listed; the rest are counted")
    @click.option("--expect", multiple=True, metavar="COUNT:HASH",
                  help="a checkpoint from a report (repeatable), checked like those in the file")
    @click.option("--checkpoint-file", type=click.Path(dir_okay=False), default=None,
                  help="default: AUDIT_CHECKPOINT_FILE or instance/audit-checkpoints.txt")
    def audit_verify(max_problems, expect, checkpoint_file):
        """Recompute the hash chain and compare it with the checkpoints; exit 1 when any row was edited or
        removed, or the chain is shorter than a checkpoint."""
        result, path = _verified(max_problems, expect, checkpoint_file)
        click.echo(f"audit trail intact ({result.checked} events)")
        if result.checkpoints:
            click.echo(f"agrees with {result.checkpoints} checkpoint(s)")
        else:
            click.echo(f"no checkpoints yet ({path}): run `flask audit checkpoint` daily")
        if result.legacy:
            click.echo(f"{result.legacy} events were hashed before actor names were covered (hash version 1)")

    @audit_group.command("checkpoint")
    @click.option("--checkpoint-file", type=click.Path(dir_okay=False), default=None,
                  help="default: AUDIT_CHECKPOINT_FILE or instance/audit-checkpoints.txt")
    def audit_checkpoint(checkpoint_file):
        """Verify the chain, then append its length and head hash to the checkpoint file (outside the
        database) and print them for the province's report. Run daily (cron)."""
        result, path = _verified(audit.MAX_PROBLEMS, (), checkpoint_file)
        line = audit.append_checkpoint(path, now().isoformat(timespec="seconds"), result.checked, result.head)
        click.echo(f"audit checkpoint {line.replace(chr(9), ' ')}")
        click.echo(f"for the report: flask audit verify --expect {result.checked}:{result.head or '-'}")
        click.echo(f"appended to {path}")

    @app.cli.command("prune")
    def prune():
        """Delete expired working rows (rate-limit events older than a day) and blank the link out of stored
        invitation mails that no longer need it (invitation expired, accepted or revoked; mail failed for
        good); safe to run any time, e.g. daily."""
        from blueprints.core import team

        removed = 0
        while True:
            n = security.prune_rate_events(batch=10_000)
            db.session.commit()
            removed += n
            if n < 10_000:
                break
        click.echo(f"pruned {removed} rate events")
        blanked = team.forget_dead_links()
        db.session.commit()
        click.echo(f"blanked the link in {blanked} invitation mails")

    @app.cli.group("files")
    def files_group():
        """Stored files (UPLOAD_DIR)."""

    @files_group.command("orphans")
    @click.option("--delete", is_flag=True, help="Remove the orphans (without it, only list them).")
    @click.option("--grace-minutes", default=60, show_default=True, type=click.FloatRange(min=0),
                  help="Leave files younger than this alone: they may belong to a request still running.")
    def files_orphans(delete: bool, grace_minutes: float):
        """R33: list (or with --delete remove) files under UPLOAD_DIR that no stored_file row names,
        and report rows whose file is missing (exit 1 then). Safe to run any time, e.g. hourly from cron."""
        from blueprints.core import uploads

        sweep = uploads.find_orphans(grace_minutes)
        root = uploads.storage_dir()
        rows = uploads.remove_orphans(sweep) if delete else sweep.orphans
        for path, size in rows:
            click.echo(f"{'removed' if delete else 'orphan'} {path.relative_to(root)} ({size:,} bytes)")
        total = sum(size for _, size in rows)
        verb = "removed" if delete else "found (run with --delete to remove)"
        click.echo(f"{len(rows)} orphan files, {total:,} bytes {verb}; "
                   f"{sweep.young} younger than {grace_minutes:g} minutes left alone")
        for sha in sweep.missing:
            click.echo(f"missing file for stored rows: {sha}")
        if sweep.missing:
            raise SystemExit(1)

    @app.cli.group("vouchers")
    def vouchers_group():
        """Voucher housekeeping."""

    @vouchers_group.command("void-expired")
    @click.option("--on", "on_text", default="", help="Treat this date (YYYY-MM-DD, Beijing time) as today.")
    def void_expired(on_text: str):
        """DL-2: make void every issued voucher with no settlement filed by its cycle's settlement deadline
        (or not resubmitted within 5 working days of a return). Idempotent: run it daily from cron."""
        from blueprints.core import settlement

        on = dt.date.fromisoformat(on_text) if on_text else None
        if on is not None and on > today():
            raise click.UsageError(f"--on {on} is in the future: a voucher still in time must never be voided")
        n = settlement.void_expired(on)
        click.echo(f"voided {n} vouchers")

    @app.cli.group("connections")
    def connections_group():
        """Usage verification: connection records (VER-2) and the usage health notices."""

    @connections_group.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def connections_import(path: str):
        """Import a CSV file of connection records (time,enterprise,cloud[,bytes]); all of it or nothing.
        Exit code 1 when the file is refused."""
        import sys

        from blueprints.core import connections

        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:  # on stderr, so the result on stdout stays clean
                bars.append(click.progressbar(length=max(total, 1), label="导入中", show_pos=True, file=sys.stderr))
                bars[0].__enter__()
            bar = bars[0]
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        try:
            try:
                result = connections.import_file(path, source="cli", progress=progress)
            finally:
                if bars:
                    bars[0].__exit__(None, None, None)
        except connections.ImportRefused as exc:
            click.echo(f"未导入：{exc}", err=True)
            for where, reason in exc.errors:
                click.echo(f"  第 {where} 行：{reason}", err=True)
            if exc.count > len(exc.errors):
                click.echo(f"  ……共 {exc.count} 行有错误（以上为前 {len(exc.errors)} 行）", err=True)
            raise SystemExit(1)
        click.echo(f"imported: {result.rows:,} rows, {result.matched_rows:,} matched, {result.new_days:,} new days, "
                   f"{result.vouchers_completed:,} vouchers completed, {result.seconds:.1f} s "
                   f"(import #{result.import_id})")

    @connections_group.command("health-notices")
    def connections_health_notices():
        """Notify the enterprise and the supplier of every voucher still short of its N days, 15 days before
        the settlement deadline (once per voucher). Idempotent: run it daily from cron."""
        from blueprints.core import usage

        n = usage.health_notices()
        db.session.commit()
        click.echo(f"sent {n} usage health notices")
