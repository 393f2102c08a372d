#!/usr/bin/env python3
"""A province-scale data set of its own for `make bench`.

At --vouchers 50000 (the default) it writes what the issue measured: Guangdong's 21 cities,
10,000 approved enterprises (Guangzhou about 1/5) plus a few hundred registrations still in
review, 500 approved suppliers (a few big ones carry most contracts), a published catalog and
an open cycle, 60,000 applications (mostly issued; some waiting for the supplier or the city,
overdue ones among them, returned, rejected, withdrawn, drafts), 50,000 vouchers (Guangzhou
about 10,700), ~310,000 audit events forming one valid hash chain (`flask audit verify`
passes) and ~282,000 notices. Everything scales with --vouchers (1000 builds the small set).

Rows go in with bulk inserts of ~5,000 through the model tables (never one ORM object at a
time), with explicit ids so foreign keys need no round trip; PostgreSQL's sequences are moved
past them afterwards. What the app keeps beside the rows is filled in to match: contract
claims of live applications, the per-enterprise cycle counters, each city's quota used, face
values by AMT-1/AMT-3 within the catalog's cumulative cap. The bench enterprise's vouchers get
their real PDF (rendered by the app, stored under --upload-dir); other contract and voucher
files exist as rows only (their bytes are not stored, so those downloads do not work).

Every account has the password PASSWORD. Logins: city_guangzhou (city officer), admin
(province), sup_bench (the busiest supplier), ent_bench (a Guangzhou enterprise with vouchers).

Usage: .venv/bin/python scripts/bench/seed.py --database-url URL [--vouchers 50000]
           [--upload-dir DIR] [--manifest FILE] [--no-pdf]
The database must exist and be empty; the schema is created with the migrations
(`flask db upgrade`). build() also works in a test's app context on a create_all() schema.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cli import DEMO_CATALOG_ITEMS  # noqa: E402

PASSWORD = "Bench-2026-gd"
TOTP_SECRET = "GDBENCHTOTPSECRETGDBENCHTOTPSECR"  # the officials' second factor (base32)
OFFICIAL_ROLES = ("province", "city", "operator", "expert")
BATCH = 5_000
GZ = "440100"
# Per 50,000 vouchers (the measurement).
FULL = dict(enterprises=10_000, suppliers=500, other_applications=10_000, audit=310_000, notices=282_000,
            reg_review=250, reg_returned=50, reg_draft=100, sup_city_review=10, sup_province_review=15)
GZ_ENTERPRISE_SHARE = 0.20
GZ_VOUCHER_SHARE = 10_700 / 50_000
# Rough industrial weight of the other 20 cities (enterprises and vouchers follow it).
CITY_WEIGHTS = {
    "440300": 16, "440600": 11, "441900": 11, "441300": 5, "442000": 4, "440700": 4, "440400": 3,
    "440500": 3, "441200": 2.5, "441800": 2, "440800": 2, "440900": 2, "445200": 2, "445100": 1.5,
    "440200": 1.5, "441400": 1.2, "441600": 1.2, "441700": 1.2, "441500": 1, "445300": 1,
}
# Applications without a voucher, by status (shares of FULL["other_applications"]).
OTHER_STATUS = {"supplier_review": 20, "city_review": 35, "returned": 15, "rejected": 10, "withdrawn": 5,
                "draft": 15}
CITY_OVERDUE_SHARE = 0.3
VOID_SHARE = 0.005
CUMULATIVE_CAP_FEN = 50_000_000  # 500,000 yuan per enterprise and cycle
ITEMS = DEMO_CATALOG_ITEMS  # as `flask demo-data`
ENT_WORDS = ("明辉", "顺和", "新科", "华润", "恒达", "金源", "宏图", "瑞丰", "嘉信", "永盛", "德力", "康泰", "创维",
             "海天", "立信", "远航", "中恒", "润发", "天成", "鸿运", "精工", "联合", "兴业", "博雅", "卓越", "锦绣",
             "南方", "粤海", "珠江", "岭南")
ENT_TRADES = ("精密制造", "陶瓷科技", "电子", "五金制品", "塑胶", "纺织服装", "家具", "食品", "化工", "机械设备",
              "汽车零部件", "照明电器", "模具", "包装材料", "新材料", "医疗器械", "建材", "印刷")
SUP_WORDS = ("云擎", "智造云", "数联", "天翼云", "工赋", "星火", "链工", "慧云", "云谷", "万象", "擎天", "数智",
             "易云", "极光", "云帆")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁"
GIVEN = ("伟", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "芳")
CITY_RETURN = ("合同扫描件或照片不清晰、不完整", "合同未单独列明上云上平台费用", "填报的上云上平台费用与合同不一致",
               "合同编号或签订日期与合同不一致")
SUPPLIER_RETURN = ("合同编号与合同不一致", "上云上平台费用与合同不一致", "所选目录服务项与合同内容不符")


def _log(msg: str) -> None:
    print(f"[seed {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def split(total: int, weights: dict) -> dict:
    """`total` shared out by `weights` in whole numbers (largest remainder), summing to `total`."""
    wsum = float(sum(weights.values()))
    raw = {k: total * w / wsum for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def scaled(full: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(full * scale))


class _Event:
    """Just the attributes audit._canonical reads (a transient AuditEvent, without the ORM cost)."""

    __slots__ = ("at", "actor_id", "actor_name", "actor_role", "body", "entity_type", "entity_id", "action",
                 "from_state", "to_state", "reason", "data", "ip")


class Builder:
    def __init__(self, vouchers: int, seed: int):
        from blueprints.core.timeutil import now, today

        self.rng = random.Random(seed)
        self.v = vouchers
        self.s = vouchers / 50_000
        self.now = now()
        self.today = today()
        self.year = self.today.year
        self.rows: dict[str, list[dict]] = {}
        self.events: list[tuple] = []  # (at, seq, actor_id, entity_type, entity_id, action, from, to, reason, data)
        self.notices: list[tuple] = []  # (at, seq, user_id, title, body, link)
        self.seq = 0
        self.users: dict[int, dict] = {}

    # ------------------------------------------------------------------ helpers
    def ago(self, lo_days: float, hi_days: float) -> dt.datetime:
        return self.now - dt.timedelta(seconds=self.rng.uniform(lo_days * 86400, hi_days * 86400))

    def later(self, t: dt.datetime, lo_hours: float, hi_hours: float) -> dt.datetime:
        out = t + dt.timedelta(seconds=self.rng.uniform(lo_hours * 3600, hi_hours * 3600))
        return min(out, self.now - dt.timedelta(seconds=self.rng.uniform(1, 600)))

    def person(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < .6 else "")

    def phone(self) -> str:
        return f"13{self.rng.randrange(10**9):09d}"

    def event(self, at, actor_id, entity_type, entity_id, action, from_state="", to_state="", reason="", data=None):
        self.seq += 1
        self.events.append((at, self.seq, actor_id, entity_type, entity_id, action, str(from_state), str(to_state),
                            reason, data))

    def notify(self, at, user_ids, title, body="", link=""):
        for uid in user_ids:
            self.seq += 1
            self.notices.append((at, self.seq, uid, title, body, link))

    def add(self, table: str, row: dict) -> dict:
        self.rows.setdefault(table, []).append(row)
        return row

    def new_user(self, username, role, created, display_name, **scope) -> dict:
        uid = len(self.users) + 1
        row = dict(id=uid, username=username, role=role, display_name=display_name, phone=self.phone(),
                   enterprise_id=scope.get("enterprise_id"), supplier_id=scope.get("supplier_id"),
                   city_code=scope.get("city_code"), is_active=True, session_version=1, locale="zh_Hans",
                   created_at=created)
        self.users[uid] = row
        self.event(created, None, "user", uid, "create", to_state="active", data={"role": role})
        return row

    # ------------------------------------------------------------------ the world
    def build(self, cities: list[tuple[str, str, str]]) -> None:
        t0 = self.now - dt.timedelta(days=420)
        self.city_names = {c: n for c, n, _ in cities}
        admin = self.new_user("admin", "province", t0, "省厅管理员")
        self.admin_id = admin["id"]
        self.new_user("expert", "expert", t0, "李专家")
        self.new_user("operator", "operator", t0, "第三方机构运营")
        self.city_users: dict[str, list[int]] = {}
        for code, name, en in cities:
            u = self.new_user(f"city_{en.lower()}", "city", t0, f"{name}经信局", city_code=code)
            self.city_users[code] = [u["id"]]
        op = self.new_user("operator_gz", "operator", t0, "第三方机构（广州）", city_code=GZ)
        self.city_users[GZ].append(op["id"])

        self._enterprises()
        self._suppliers()
        self._catalog_and_cycle()
        self._applications()
        self._pad()

    def _enterprises(self) -> None:
        from stdnum.cn import uscc

        rng, s = self.rng, self.s
        n = scaled(FULL["enterprises"], s, 5)
        weights = {GZ: GZ_ENTERPRISE_SHARE * 100, **{c: w * (1 - GZ_ENTERPRISE_SHARE) * 100 / sum(CITY_WEIGHTS.values())
                                                     for c, w in CITY_WEIGHTS.items()}}
        counts = split(n, weights)
        approved = [c for c, k in counts.items() for _ in range(k)]
        rng.shuffle(approved)
        extra = ([("city_review", c) for c in rng.choices(list(weights), list(weights.values()),
                                                           k=scaled(FULL["reg_review"], s))]
                 + [("returned", c) for c in rng.choices(list(weights), list(weights.values()),
                                                         k=scaled(FULL["reg_returned"], s))]
                 + [("draft", None) for _ in range(scaled(FULL["reg_draft"], s))])
        self.ent_by_city: dict[str, list[int]] = {}
        self.ent_user: dict[int, int] = {}
        self.ents: dict[int, dict] = {}
        for i, (status, city) in enumerate([("approved", c) for c in approved] + extra, start=1):
            created = self.ago(160, 410) if status == "approved" else self.ago(1, 40)
            row = dict(id=i, uscc=None, name="", city_code=None, legal_rep="", established_on=None, revenue_fen=None,
                       contact_name=self.person(), contact_phone=self.phone(), contact_email="",
                       dcmm_certified=False, no_violation_declared=False, status=status, submitted_at=None,
                       due_on=None, decided_at=None, return_reasons=[], returned_by="", created_at=created, version=1)
            user = self.new_user(f"e{i:05d}", "enterprise", created, row["contact_name"], enterprise_id=i)
            self.ent_user[i] = user["id"]
            if status != "draft":
                base = f"91{city}{i:09d}"
                short = self.city_names[city][:-1]
                row.update(uscc=base + uscc.calc_check_digit(base),
                           name=f"{short}{rng.choice(ENT_WORDS)}{rng.choice(ENT_WORDS)}{rng.choice(ENT_TRADES)}有限公司",
                           city_code=city, legal_rep=self.person(),
                           established_on=dt.date(rng.randrange(1995, 2022), rng.randrange(1, 13),
                                                  rng.randrange(1, 29)),
                           revenue_fen=rng.randrange(20, 50_000) * 1_000_000, dcmm_certified=rng.random() < .15,
                           no_violation_declared=True, submitted_at=self.later(created, 1, 72), version=2)
                self.event(row["submitted_at"], user["id"], "enterprise", i, "submit", "draft", "city_review")
                officer = self.city_users[city][0]
                if status == "approved":
                    row["decided_at"] = self.later(row["submitted_at"], 24, 240)
                    row["version"] = 3
                    self.event(row["decided_at"], officer, "enterprise", i, "approve", "city_review", "approved")
                    self.ent_by_city.setdefault(city, []).append(i)
                elif status == "returned":
                    reasons = [{"field": "licence_file_id", "label": "营业执照", "text": "营业执照扫描件不清晰"}]
                    t = self.later(row["submitted_at"], 24, 120)
                    row.update(return_reasons=reasons, returned_by="city", version=3)
                    self.event(t, officer, "enterprise", i, "return", "city_review", "returned",
                               "营业执照：营业执照扫描件不清晰", {"reasons": reasons})
                    self.notify(t, [user["id"]], "地市经信部门退回了您的注册资料，请修改后重新提交")
                else:  # in review: some past the 10-working-day deadline (SLA-5)
                    row["due_on"] = (row["submitted_at"].date() + dt.timedelta(days=14))
            self.ents[i] = row
            self.add("enterprise", row)

    def _suppliers(self) -> None:
        from models import CATALOG_CATEGORIES
        from stdnum.cn import uscc

        rng, s = self.rng, self.s
        n = scaled(FULL["suppliers"], s, 3)
        pending = ([("city_review", True)] * scaled(FULL["sup_city_review"], s)
                   + [("province_review", rng.random() < .6)] * scaled(FULL["sup_province_review"], s))
        cities = list(CITY_WEIGHTS) + [GZ] * 12
        self.sups: dict[int, dict] = {}
        self.sup_user: dict[int, int] = {}
        for i, (status, inprov) in enumerate([("approved", True)] * n + pending, start=1):
            inprov = inprov if status != "approved" else (i == 1 or rng.random() < .85)
            city = GZ if i == 1 else (rng.choice(cities) if inprov else None)
            created = self.ago(300, 410) if status == "approved" else self.ago(1, 30)
            base = f"91{city or '110108'}{500_000 + i:09d}"
            cats = rng.sample(CATALOG_CATEGORIES, 2)
            row = dict(id=i, uscc=base + uscc.calc_check_digit(base),
                       name=f"{'广东' if inprov else '北京'}{rng.choice(SUP_WORDS)}{rng.choice(ENT_WORDS)}科技有限公司",
                       in_province=inprov, city_code=city, categories=cats,
                       endpoints=[f"cloud{i}.example.cn", f"203.0.{i % 250}.0/24"], contact_name=self.person(),
                       contact_phone=self.phone(), contact_email="", status=status,
                       is_pilot=(i == 1 or rng.random() < .05),
                       review_round=1, return_reasons=[], returned_by="", created_at=created, version=1,
                       submitted_at=None, decided_at=None, due_on=None)
            user = self.new_user("sup_bench" if i == 1 else f"s{i:04d}", "supplier", created, row["contact_name"],
                                 supplier_id=i)
            self.sup_user[i] = user["id"]
            row["submitted_at"] = self.later(created, 1, 48)
            first = "city_review" if inprov else "province_review"
            self.event(row["submitted_at"], user["id"], "supplier", i, "submit", "draft", first)
            if inprov and status != "city_review":
                t = self.later(row["submitted_at"], 24, 120)
                self.event(t, self.city_users[city][0], "supplier", i, "approve", "city_review", "province_review")
            else:
                t = row["submitted_at"]
            if status == "approved":
                row["decided_at"] = self.later(t, 24, 240)
                self.event(row["decided_at"], self.admin_id, "supplier", i, "approve", "province_review", "approved")
            else:
                row["due_on"] = t.date() + dt.timedelta(days=14)
            self.sups[i] = row
            self.add("supplier", row)
        self.approved_sups = list(range(1, n + 1))

    def _catalog_and_cycle(self) -> None:
        announced = self.now - dt.timedelta(days=150)
        self.announced = announced
        self.add("catalog_version", dict(id=1, number=1, title=f"{self.year}年应用服务目录", status="published",
                                         cumulative_cap_fen=CUMULATIVE_CAP_FEN,
                                         published_at=announced - dt.timedelta(days=10),
                                         created_at=announced - dt.timedelta(days=20), created_by=self.admin_id))
        self.event(announced - dt.timedelta(days=10), self.admin_id, "catalog_version", 1, "publish", "draft",
                   "published")
        self.items = []
        for pos, (code, name, cat, cap) in enumerate(ITEMS, start=1):
            self.items.append((pos, cap * 100))
            self.add("catalog_item", dict(id=pos, version_id=1, code=code, name=name, category=cat, cap_fen=cap * 100,
                                          position=pos - 1, description=f"{name}：按合同所列上云上平台费用核定。"))
        self.add("cycle", dict(id=1, name=f"{self.year}年第一批", year=self.year, status="announced",
                               announced_at=announced, application_deadline=self.today + dt.timedelta(days=60),
                               settlement_deadline=self.today + dt.timedelta(days=240), verification_days=5,
                               created_at=announced - dt.timedelta(days=5)))
        self.event(announced, self.admin_id, "cycle", 1, "announce", "draft", "announced")
        self.add("cycle_notice", dict(id=1, cycle_id=1, at=announced, kind="announce",
                                      application_deadline=self.today + dt.timedelta(days=60),
                                      settlement_deadline=self.today + dt.timedelta(days=240), reason="",
                                      actor_id=self.admin_id))

    def _applications(self) -> None:
        from blueprints.core.eligibility import contract_key

        rng, s = self.rng, self.s
        with_ents = {c: len(v) for c, v in self.ent_by_city.items()}
        vweights = {c: (GZ_VOUCHER_SHARE * 100 if c == GZ else CITY_WEIGHTS[c] * (1 - GZ_VOUCHER_SHARE) * 100
                        / (sum(CITY_WEIGHTS[x] for x in with_ents if x != GZ) or 1)) for c in with_ents}
        plan = [("approved", c) for c, k in split(self.v, vweights).items() for _ in range(k)]
        others = split(scaled(FULL["other_applications"], s, 10), OTHER_STATUS)
        ocities = rng.choices(list(with_ents), list(with_ents.values()), k=sum(others.values()))
        plan += list(zip([st for st, k in others.items() for _ in range(k)], ocities))
        rng.shuffle(plan)
        # Round robin over each city's enterprises: a handful of applications each, as in a real cycle.
        pools = {c: rng.sample(v, len(v)) for c, v in self.ent_by_city.items()}
        turn = {c: 0 for c in pools}
        # A few large suppliers carry most contracts (Zipf-like), as cloud vendors do.
        weights = [1 / (k ** 0.8) for k in range(1, len(self.approved_sups) + 1)]
        sup_pick = rng.choices(self.approved_sups, weights, k=len(plan))

        apps = []
        for (status, city), sup in zip(plan, sup_pick):
            e = pools[city][turn[city] % len(pools[city])]
            turn[city] += 1
            a = dict(status=status, city_code=city, enterprise_id=e, supplier_id=sup)
            self._times(a)
            apps.append(a)
        apps.sort(key=lambda a: a["created_at"])
        for i, a in enumerate(apps, start=1):
            a["id"] = i

        # Face values (AMT-1, AMT-3) in the order of approval, within each enterprise's cumulative cap.
        issued: dict[int, int] = {}
        for a in sorted((a for a in apps if a["status"] == "approved"), key=lambda a: a["decided_at"]):
            item_id, cap = rng.choice(self.items)
            a["catalog_item_id"] = item_id
            a["item_amount_fen"] = min(cap, a["fee"])
            face = min(a["item_amount_fen"], CUMULATIVE_CAP_FEN - issued.get(a["enterprise_id"], 0))
            if face <= 0:
                a["status"] = "rejected"
                a["reject_reason"] = "该企业本批次累计奖补上限已用完（AMT-3）"
                continue
            a["face"] = face
            issued[a["enterprise_id"]] = issued.get(a["enterprise_id"], 0) + face

        ent_cycle = {}
        voucher_rows = []
        for a in apps:
            self._application_rows(a, contract_key, ent_cycle, voucher_rows)
        from blueprints.core.issuance import display_code

        voucher_rows.sort(key=lambda r: (r["issued_at"], r["application_id"]))
        quota_used: dict[str, int] = {}
        for vid, r in enumerate(voucher_rows, start=1):
            r["id"] = vid
            app_id = r.pop("_app")
            self.event(r["issued_at"] + dt.timedelta(microseconds=1), self._city_actor(r["city_code"]), "voucher", vid,
                       "issue", "", "issued", data={"face_value_fen": r["face_value_fen"], "application_id": app_id})
            ent_user = self.ent_user[r["enterprise_id"]]
            self.notify(r["issued_at"], [ent_user], "服务券已发放", f"面值 {r['face_value_fen'] / 100:,.2f} 元，券号 "
                        f"{display_code(r['code'])}", f"/enterprise/vouchers/{vid}")
            self.notify(r["issued_at"], [self.sup_user[r["supplier_id"]]], "客户的服务券已发放",
                        f"{self.ents[r['enterprise_id']]['name']}：面值 {r['face_value_fen'] / 100:,.2f} 元")
            if r["status"] == "issued":
                quota_used[r["city_code"]] = quota_used.get(r["city_code"], 0) + r["face_value_fen"]
            self.add("voucher", r)
        for k, ((e, c), n) in enumerate(sorted(ent_cycle.items()), start=1):
            self.add("enterprise_cycle_counter", dict(id=k, enterprise_id=e, cycle_id=c, issuances=n))
        for k, code in enumerate(sorted(self.city_names), start=1):
            used = quota_used.get(code, 0)
            quota = max(7_500_000_000, (used * 13 // 10 // 100_000_000 + 1) * 100_000_000)  # ~30% headroom
            self.add("city_target", dict(id=k, city_code=code, year=self.year, target_enterprises=500,
                                         target_amount_fen=5_000_000_000,
                                         quota_fen=quota,
                                         issued_fen=used))
            self.add("budget", dict(id=2 * k - 1, city_code=code, period=f"{self.year}-1", kind="general",
                                    cap_fen=3_000_000_000, committed_fen=0))
            self.add("budget", dict(id=2 * k, city_code=code, period=f"{self.year}-1", kind="pilot",
                                    cap_fen=500_000_000, committed_fen=0))
        # The bench enterprise: the Guangzhou enterprise holding the most vouchers (ties: the lowest id).
        per_ent: dict[int, int] = {}
        for r in voucher_rows:
            if r["city_code"] == GZ:
                per_ent[r["enterprise_id"]] = per_ent.get(r["enterprise_id"], 0) + 1
        self.bench_ent = min(per_ent, key=lambda e: (-per_ent[e], e))
        self.users[self.ent_user[self.bench_ent]]["username"] = "ent_bench"

    def _times(self, a: dict) -> None:
        """When each step happened, working back from the last one (pending ones are recent)."""
        rng, st = self.rng, a["status"]
        a["fee"] = rng.randrange(100, 601) * 10_000  # 10,000-60,000 yuan: at most 8 contracts fit the cap
        if st == "approved":
            a["decided_at"] = self.ago(0.01, 140)
            a["confirmed_at"] = a["decided_at"] - dt.timedelta(hours=rng.uniform(2, 200))
        elif st == "city_review":
            overdue = rng.random() < CITY_OVERDUE_SHARE
            a["confirmed_at"] = self.ago(16, 45) if overdue else self.ago(0.01, 13)
            a["due_on"] = a["confirmed_at"].date() + dt.timedelta(days=14)
        elif st == "rejected":
            a["decided_at"] = self.ago(0.5, 140)
            a["confirmed_at"] = a["decided_at"] - dt.timedelta(hours=rng.uniform(2, 200))
        elif st == "returned":
            a["returned_at"] = self.ago(0.1, 20)
            a["returned_by"] = "city" if rng.random() < .6 else "supplier"
            if a["returned_by"] == "city":
                a["confirmed_at"] = a["returned_at"] - dt.timedelta(hours=rng.uniform(2, 120))
        elif st == "withdrawn":
            a["withdrawn_at"] = self.ago(0.5, 100)
            a["was_submitted"] = rng.random() < .7
        last = (a.get("confirmed_at") or a.get("returned_at") or a.get("withdrawn_at")
                or (self.ago(0, 10) if st == "supplier_review" else None))
        if st == "draft":
            a["created_at"] = self.ago(0.01, 30)
            return
        if st == "withdrawn" and not a["was_submitted"]:
            a["created_at"] = last - dt.timedelta(hours=rng.uniform(1, 200))
            return
        a["submitted_at"] = last - dt.timedelta(hours=rng.uniform(1, 72)) if st != "supplier_review" else last
        a["created_at"] = a["submitted_at"] - dt.timedelta(minutes=rng.uniform(5, 4000))
        floor = self.announced + dt.timedelta(hours=1)
        if a["created_at"] < floor:  # keep every step inside the cycle
            shift = floor - a["created_at"]
            for k in ("created_at", "submitted_at", "confirmed_at", "decided_at", "returned_at", "withdrawn_at"):
                if a.get(k):
                    a[k] = min(a[k] + shift, self.now - dt.timedelta(seconds=1))

    def _city_actor(self, city: str) -> int:
        return self.city_users[city][0]

    def _application_rows(self, a: dict, contract_key, ent_cycle: dict, voucher_rows: list) -> None:
        rng = self.rng
        st, aid, e, sup = a["status"], a["id"], a["enterprise_id"], a["supplier_id"]
        ent_user, sup_user, city_users = self.ent_user[e], self.sup_user[sup], self.city_users[a["city_code"]]
        officer = city_users[0]
        ent_name = self.ents[e]["name"]
        complete = st != "draft" or rng.random() < .5
        if "catalog_item_id" not in a:
            item_id, cap = rng.choice(self.items)
            a["catalog_item_id"] = item_id
            a["item_amount_fen"] = min(cap, a["fee"])
        contract_no = f"HT-{self.year}-{aid:06d}"
        file_id = None
        if complete:
            file_id = aid
            self.add("stored_file", dict(id=aid, sha256=hashlib.sha256(f"bench-contract-{aid}".encode()).hexdigest(),
                                         size=rng.randrange(80_000, 2_000_000), mime="application/pdf",
                                         original_name="合同.pdf", kind="contract", owner_type="application",
                                         owner_id=aid, uploaded_by=ent_user, created_at=a["created_at"]))
        submitted = a.get("submitted_at")
        pilot = bool(self.sups[sup]["is_pilot"] and a.get("confirmed_at") and rng.random() < .5)
        row = dict(id=aid, enterprise_id=e, supplier_id=sup if complete else None, cycle_id=1, city_code=a["city_code"],
                   catalog_version_id=1 if submitted else None,
                   catalog_item_id=a["catalog_item_id"] if complete else None,
                   contract_no=contract_no if complete else "",
                   contract_signed_on=((a["created_at"] - dt.timedelta(days=rng.randrange(3, 90))).date()
                                       if complete else None),
                   contract_fee_fen=a["fee"] if complete else None, contract_file_id=file_id, place_in_guangdong=True,
                   single_fund_declared=complete, related_party=False, enterprise_fair_price=False,
                   supplier_fair_price=False, pilot=pilot, status=st, submitted_at=submitted,
                   item_amount_fen=a["item_amount_fen"] if submitted else None, due_on=a.get("due_on"),
                   created_at=a["created_at"], version=1, related_declared=False, return_reasons=[], returned_by="",
                   confirmed_at=a.get("confirmed_at"), decided_at=a.get("decided_at"))
        self.event(a["created_at"], ent_user, "application", aid, "create", "", "draft")
        if submitted:
            self.event(submitted, ent_user, "application", aid, "submit", "draft", "supplier_review",
                       data={"item_amount_fen": a["item_amount_fen"], "catalog_version_id": 1, "resubmitted": False})
            self.notify(submitted, [sup_user], "有新的客户申领待您确认",
                        f"{ent_name} 提交了服务券申领（合同编号 {contract_no}）。", f"/supplier/applications/{aid}")
            ent_cycle[(e, 1)] = ent_cycle.get((e, 1), 0) + 1
            row["version"] += 1
        if a.get("confirmed_at"):
            t = a["confirmed_at"]
            self.event(t, sup_user, "application", aid, "confirm", "supplier_review", "city_review",
                       data={"pilot": pilot, "supplier_fair_price": False})
            self.notify(t, city_users, "有新的服务券申领待审核", f"{ent_name}（{(t.date() + dt.timedelta(days=14)):%Y-%m-%d} 前审结）",
                        f"/city/applications/{aid}")
            self.notify(t, [ent_user], "供应商已确认您的申领，已提交地市审核", "", f"/enterprise/applications/{aid}")
            row["version"] += 1
        claim = st in ("supplier_review", "city_review", "returned", "approved")
        if st == "approved":
            t = a["decided_at"]
            row["due_on"] = None
            self.event(t, officer, "application", aid, "approve", "city_review", "approved",
                       data={"face_value_fen": a["face"], "item_amount_fen": a["item_amount_fen"],
                             "issued_before_fen": 0, "earlier_pending_fen": 0})
            ent_cycle[(e, 1)] += 1
            row["version"] += 1
            code = "GD" + base64.b32encode(rng.getrandbits(128).to_bytes(16, "big")).decode().rstrip("=")
            voucher_rows.append(dict(code=code, application_id=aid, enterprise_id=e, supplier_id=sup, cycle_id=1,
                                     city_code=a["city_code"], face_value_fen=a["face"],
                                     status="void" if rng.random() < VOID_SHARE else "issued", pilot=pilot,
                                     issued_at=t, pdf_file_id=None, _app=aid))
        elif st == "rejected":
            reason = a.get("reject_reason") or "合同所列服务不属于上云上平台服务范围"
            self.event(a["decided_at"], officer, "application", aid, "reject", "city_review", "rejected", reason)
            self.notify(a["decided_at"], [ent_user], "您的服务券申领已被驳回", reason, f"/enterprise/applications/{aid}")
            row["version"] += 1
        elif st == "returned":
            by_city = a["returned_by"] == "city"
            reasons = rng.sample(CITY_RETURN if by_city else SUPPLIER_RETURN, rng.randrange(1, 3))
            self.event(a["returned_at"], officer if by_city else sup_user, "application", aid, "return",
                       "city_review" if by_city else "supplier_review", "returned", "\n".join(reasons),
                       {"reasons": reasons})
            who = "地市经信部门" if by_city else "供应商"
            self.notify(a["returned_at"], [ent_user], f"{who}退回了您的服务券申领，请修改后重新提交",
                        "\n".join(f"{i}. {r}" for i, r in enumerate(reasons, 1)), f"/enterprise/applications/{aid}")
            row.update(return_reasons=reasons, returned_by=a["returned_by"], version=row["version"] + 1)
        elif st == "withdrawn":
            self.event(a["withdrawn_at"], ent_user, "application", aid, "withdraw",
                       "supplier_review" if submitted else "draft", "withdrawn")
            if submitted:
                self.notify(a["withdrawn_at"], [sup_user], "客户已撤回服务券申领",
                            f"{ent_name} 撤回了申领（合同编号 {contract_no}）。")
            row["version"] += 1
        if claim:
            self.add("contract_claim", dict(id=aid, application_id=aid, supplier_id=sup,
                                            contract_no=contract_key(contract_no),
                                            file_sha256=self.rows["stored_file"][-1]["sha256"]))
        self.add("application", row)

    def _pad(self) -> None:
        """Logins and registration notices up to the issue's totals (~310,000 events, ~282,000 notices)."""
        rng = self.rng
        uids = list(self.users)
        for _ in range(scaled(FULL["audit"], self.s) - len(self.events)):
            uid = rng.choice(uids)
            self.event(self.ago(0, 140), uid, "user", uid, "login")
        ents = list(self.ent_user.values())
        for _ in range(scaled(FULL["notices"], self.s) - len(self.notices)):
            self.notify(self.ago(100, 400), [rng.choice(ents)], "您的企业注册已通过审核")


# ---------------------------------------------------------------------- writing


def _insert(table, rows: list[dict]) -> None:
    from models import db

    for i in range(0, len(rows), BATCH):
        db.session.execute(table.insert(), rows[i:i + BATCH])


def _write(b: Builder, password_hash: str) -> None:
    from blueprints.core import audit
    from models import db

    md = db.metadata.tables
    users = list(b.users.values())
    for u in users:
        u["password_hash"] = password_hash
        # Officials log in with a second factor: enrolled with a known secret (every row has the keys).
        official = u["role"] in OFFICIAL_ROLES
        u["totp_secret"] = TOTP_SECRET if official else None
        u["totp_enabled_at"] = dt.datetime.now(dt.timezone.utc) if official else None
    order = ["enterprise", "supplier", "user", "catalog_version", "catalog_item", "cycle", "cycle_notice",
             "city_target", "budget", "stored_file", "application", "voucher", "contract_claim",
             "enterprise_cycle_counter"]
    b.rows["user"] = users
    for name in order:
        t = time.perf_counter()
        _insert(md[name], b.rows.get(name, []))
        _log(f"{name}: {len(b.rows.get(name, []))} rows ({time.perf_counter() - t:.1f} s)")

    # The audit trail: one chain in time order, hashed exactly as audit.record() does.
    t = time.perf_counter()
    b.events.sort(key=lambda e: (e[0], e[1]))
    body = {"enterprise": lambda u: f"enterprise:{u['enterprise_id']}",
            "supplier": lambda u: f"supplier:{u['supplier_id']}",
            "city": lambda u: f"city:{u['city_code']}", "province": lambda u: "province",
            "expert": lambda u: "province",
            "operator": lambda u: f"city:{u['city_code']}" if u["city_code"] else "province"}
    prev, batch = "", []
    ev = _Event()
    for i, (at, _, actor_id, etype, eid, action, frm, to, reason, data) in enumerate(b.events, start=1):
        u = b.users.get(actor_id) if actor_id else None
        ev.at, ev.actor_id, ev.entity_type, ev.entity_id, ev.action = at, actor_id, etype, eid, action
        ev.actor_name = u["display_name"] if u else ""
        ev.actor_role = u["role"] if u else ""
        ev.body = body[u["role"]](u) if u else ""
        ev.from_state, ev.to_state, ev.reason, ev.data = frm, to, reason, data
        ev.ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" if u else ""
        row_hash = audit._hash(prev, ev)
        batch.append(dict(id=i, at=at, actor_id=actor_id, actor_name=ev.actor_name, actor_role=ev.actor_role,
                          body=ev.body, entity_type=etype, entity_id=eid, action=action, from_state=frm,
                          to_state=to, reason=reason, data=data, ip=ev.ip, prev_hash=prev, row_hash=row_hash))
        prev = row_hash
        if len(batch) == BATCH:
            _insert(md["audit_event"], batch)
            batch = []
    _insert(md["audit_event"], batch)
    _log(f"audit_event: {len(b.events)} rows, hash-chained ({time.perf_counter() - t:.1f} s)")

    t = time.perf_counter()
    b.notices.sort(key=lambda n: (n[0], n[1]))
    week_ago = b.now - dt.timedelta(days=7)
    rows = []
    for i, (at, _, uid, title, text, link) in enumerate(b.notices, start=1):
        read = at < week_ago and b.rng.random() < .85
        rows.append(dict(id=i, user_id=uid, at=at, title=title, body=text, link=link,
                         read_at=at + dt.timedelta(hours=b.rng.uniform(1, 72)) if read else None))
        if len(rows) == BATCH:
            _insert(md["notice"], rows)
            rows = []
    _insert(md["notice"], rows)
    _log(f"notice: {len(b.notices)} rows ({time.perf_counter() - t:.1f} s)")


def _move_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences at 1: move each past its table's largest id."""
    from sqlalchemy import text

    from models import db

    if db.session.get_bind().dialect.name != "postgresql":
        return
    present = set(db.session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
                  .scalars())
    for table in db.metadata.sorted_tables:
        col = table.c.get("id")
        if table.name not in present or col is None or not col.primary_key or not col.autoincrement:
            continue
        seq = db.session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                 {"t": f'"{table.name}"'}).scalar()
        if seq:
            db.session.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'),
                               {"s": seq})


def _voucher_pdfs(b: Builder) -> int:
    """The bench enterprise's vouchers get their real PDF, rendered and stored as at issuance."""
    from blueprints.core import issuance
    from models import User, Voucher, db

    user = db.session.get(User, b.ent_user[b.bench_ent])
    vouchers = db.session.execute(db.select(Voucher).where(Voucher.enterprise_id == b.bench_ent)
                                  .order_by(Voucher.id)).scalars().all()
    for v in vouchers:
        issuance.store_pdf(v, user)
    return len(vouchers)


def build(vouchers: int = 50_000, *, seed: int = 2026, pdfs: bool = True) -> dict:
    """Fill the empty database of the current app context; commit; return the manifest."""
    from sqlalchemy import text

    from blueprints.core import security
    from cli import GUANGDONG_CITIES
    from models import City, User, Voucher, db

    if db.session.execute(db.select(User.id).limit(1)).first():
        raise SystemExit("the database is not empty: the bench data set needs a new, empty database")
    started = time.perf_counter()
    existing = set(db.session.execute(db.select(City.code)).scalars())
    _insert(db.metadata.tables["city"], [dict(code=c, name=n, name_en=en, position=i)
                                          for i, (c, n, en) in enumerate(GUANGDONG_CITIES) if c not in existing])
    b = Builder(vouchers, seed)
    b.build(GUANGDONG_CITIES)
    _log(f"generated in memory ({time.perf_counter() - started:.1f} s)")
    _write(b, security.hash_password(PASSWORD))
    _move_sequences()
    db.session.flush()
    n_pdf = _voucher_pdfs(b) if pdfs else 0
    db.session.commit()
    from blueprints.core import jobs

    jobs.analyze()  # what the job consumer does at its start and hourly (and PostgreSQL's autovacuum)
    bench_vouchers = db.session.execute(db.select(Voucher.id).where(Voucher.enterprise_id == b.bench_ent)
                                        .order_by(Voucher.id)).scalars().all()
    verify_code = db.session.execute(db.select(Voucher.code).where(Voucher.city_code == GZ, Voucher.status == "issued")
                                     .order_by(Voucher.id).limit(1)).scalar()
    counts = {name: len(rows) for name, rows in b.rows.items()}
    counts.update(audit_event=len(b.events), notice=len(b.notices),
                  enterprise_approved=sum(1 for e in b.ents.values() if e["status"] == "approved"),
                  voucher_guangzhou=sum(1 for r in b.rows.get("voucher", []) if r["city_code"] == GZ))
    manifest = dict(vouchers=vouchers, password=PASSWORD, totp_secret=TOTP_SECRET, city_code=GZ, counts=counts,
                    logins={"city": "city_guangzhou", "province": "admin", "supplier": "sup_bench",
                            "enterprise": "ent_bench"},
                    verify_code=verify_code, pdf_voucher_id=bench_vouchers[0] if bench_vouchers and n_pdf else None,
                    seconds=round(time.perf_counter() - started, 1))
    _log(f"done in {manifest['seconds']} s: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return manifest


def schema_drift(fill: bool) -> list[str]:
    """Tables, columns, indexes and VARCHAR lengths of models.py the migrated schema lacks (a
    migration not written yet).

    With fill, create the tables and indexes and widen the VARCHARs (PostgreSQL; SQLite does not
    enforce lengths): a stop-gap so the bench can measure a change before its migration exists.
    Missing columns are only reported.
    """
    from sqlalchemy import String, inspect, text

    from models import db

    insp = inspect(db.engine)
    tables = set(insp.get_table_names())
    pg = db.engine.dialect.name == "postgresql"
    # Index names from the catalog: the inspector skips expression indexes (with a warning).
    sql = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()" if pg
           else "SELECT name FROM sqlite_master WHERE type = 'index'")
    with db.engine.connect() as conn:
        have_ix = set(conn.execute(text(sql)).scalars())
    missing, widen, new_ix = [], [], []
    for t in db.metadata.sorted_tables:
        if t.name not in tables:
            missing.append(f"table {t.name}")
            continue
        have = {c["name"]: c for c in insp.get_columns(t.name)}
        for c in t.columns:
            if c.name not in have:
                missing.append(f"column {t.name}.{c.name}")
                continue
            want, got = getattr(c.type, "length", None), getattr(have[c.name]["type"], "length", None)
            if pg and isinstance(c.type, String) and want and got and want > got:
                missing.append(f"length of {t.name}.{c.name} ({got}, models.py: {want})")
                widen.append((t.name, c.name, want))
        new_ix += [ix for ix in t.indexes if ix.name not in have_ix]
    missing += [f"index {ix.name}" for ix in new_ix]
    if not missing:
        return []
    if fill:
        with db.engine.begin() as conn:
            db.metadata.create_all(conn)  # only the missing tables (with their indexes)
            have_now = set(conn.execute(text(sql)).scalars())
            for ix in new_ix:
                if ix.name not in have_now:
                    ix.create(conn)
            for table, column, length in widen:
                conn.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR({length})'))
        _log("schema from models.py added what the migrations lack: " + ", ".join(missing))
    else:
        _log("WARNING: the migrations lack what models.py has (pages may fail or be slower than they will be): "
             + ", ".join(missing) + " (BENCH_SCHEMA_FROM_MODELS=1 creates them)")
    return missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--vouchers", type=int, default=50_000, help="scale: everything follows (default 50000)")
    ap.add_argument("--upload-dir", help="where the bench enterprise's voucher PDFs are stored")
    ap.add_argument("--manifest", help="write logins, counts and sample ids here (JSON)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-pdf", action="store_true", help="do not render the bench enterprise's voucher PDFs")
    ap.add_argument("--schema-from-models", action="store_true",
                    help="after the migrations, create the tables and indexes models.py has and they lack")
    args = ap.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    from flask_migrate import upgrade

    from app import _database_url, create_app
    from models import db

    overrides = {"SQLALCHEMY_DATABASE_URI": _database_url()}
    if args.upload_dir:
        overrides["UPLOAD_DIR"] = args.upload_dir
    app = create_app(overrides)
    with app.app_context():
        t = time.perf_counter()
        upgrade()  # the schema exactly as `flask db upgrade` makes it
        _log(f"schema by migrations ({time.perf_counter() - t:.1f} s)")
        schema_drift(fill=args.schema_from_models)
        manifest = build(args.vouchers, seed=args.seed, pdfs=not args.no_pdf)
        db.session.remove()
        db.engine.dispose()
    if args.manifest:
        Path(args.manifest).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    print(f"bench data set ready: every account's password is {PASSWORD}")
    for role, name in manifest["logins"].items():
        print(f"  {name:<16} {role}")


if __name__ == "__main__":
    main()
