#!/usr/bin/env python3
"""Benchmark of the settlement list documents and the payout allocation:
a list of 5,000 entries as PDF in ≤ 5 s and ≤ 300 MB on a 2-core machine; the allocation of 10,000 entries
in ≤ 1 s.

1. 5,000 realistic rows (deterministic): company names of realistic lengths (district + trade name +
   industry + form, a fifth of them long, up to ~60 characters, some with rare hanzi outside GB 2312 that
   need the full system font), supplier names, voucher codes as displayed (GD-XXXX-…), face values,
   20,000,000-fen bonuses on some, ~10% pilot entries.
2. The PDF (blueprints.core.list_docs.render_pdf), in a fresh process: the first render (fonts loaded,
   as a new job worker would) and a second one; wall time, and the peak RSS of the process (VmHWM, and
   resource.getrusage RUSAGE_SELF) and of any child process (RUSAGE_CHILDREN); pages and size.
3. The xlsx (list_docs.write_xlsx), in a fresh process: time and peak memory.
4. blueprints.core.payout.allocate over 10,000 random items (pilot, carried-over, budgets that pay about
   half): median of 5 runs.

Usage: .venv/bin/python scripts/bench/settlement_list.py [--rows 5000] [--items 10000] [--markdown]
The Markdown table is printed and written to instance/bench/settlement_list.md.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "instance" / "bench"
SEED = 2026
PDF_SECONDS, PDF_MB, ALLOC_SECONDS = 5.0, 300, 1.0

DISTRICTS = ["广州市", "广州市天河区", "广州市番禺区", "广州市黄埔区", "广州市白云区", "广州市南沙区", "广州市花都区",
             "广东省", "广州", "广州开发区", "广州市增城区", "广州市从化区", "广州市越秀区", "广州市海珠区"]
TRADE = list("华祥瑞丰泰鑫宏达聚源德盛恒通隆兴嘉润远航凯越博创星辉锦程卓越正和安信捷力睿智腾飞汇金永晟佳利益新")
RARE = list("喆犇珺淏昇玥煜琍堃璟")  # outside GB 2312: drawn from the full system font
INDUSTRY = ["智能科技", "信息技术", "电子科技", "机械制造", "新材料科技", "生物医药", "网络科技", "数据服务",
            "精密五金制品", "食品", "服装", "汽车零部件", "包装印刷", "环保科技", "物流", "建材", "家具制造",
            "化工", "智能装备", "医疗器械", "光电科技", "纺织", "塑胶制品", "电气设备"]
FORM = ["有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
LONG_TAIL = ["（广州）", "第二分公司", "广州分公司", "研究院", "（有限合伙）", "实业发展", "进出口贸易", "供应链管理"]
SUPPLIERS = ["阿里云计算有限公司", "华为云计算技术有限公司", "腾讯云计算（北京）有限责任公司", "中国电信股份有限公司广州分公司",
             "中国移动通信集团广东有限公司", "广州市玄武无线科技股份有限公司", "金蝶软件（中国）有限公司",
             "用友网络科技股份有限公司", "广东中科云智能科技有限公司", "天翼云科技有限公司广东分公司",
             "京东科技信息技术有限公司", "广州云上数据服务有限公司"]


def log(msg: str) -> None:
    print(f"[list-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def company(rng: random.Random) -> str:
    trade = "".join(rng.choice(TRADE) for _ in range(rng.choice((2, 2, 3, 4))))
    if rng.random() < 0.02:
        trade = trade[:-1] + rng.choice(RARE)
    name = rng.choice(DISTRICTS) + trade + rng.choice(INDUSTRY)
    if rng.random() < 0.2:  # the long ones: 40 to 60+ characters
        name += "".join(rng.sample(LONG_TAIL, rng.randint(2, 4))) + rng.choice(INDUSTRY) + rng.choice(INDUSTRY)
    return name + rng.choice(FORM)


def code(rng: random.Random) -> str:
    body = base64.b32encode(rng.randbytes(16)).decode().rstrip("=")
    return "-".join(["GD"] + [body[i:i + 4] for i in range(0, len(body), 4)])  # as issuance.display_code


def make_rows(n: int):
    from blueprints.core.list_docs import ListRow

    rng = random.Random(SEED)
    rows = []
    for i in range(1, n + 1):
        face = rng.choice((2, 3, 5, 8, 10, 15, 20, 30, 50)) * 10_000 * 100 + rng.choice((0, 0, 0, 5_000_00))
        bonus = 20_000_000 if rng.random() < 0.08 else 0
        rows.append(ListRow(i, company(rng), rng.choice(SUPPLIERS) if rng.random() < 0.7 else company(rng),
                            code(rng), face, bonus, face + bonus, rng.random() < 0.1))
    return rows


def header():
    from blueprints.core.list_docs import ListHeader

    return ListHeader("广州市2026年第1期结算清单（第 1 批）", "广州市", "2026年第1期",
                      "公示期：2026-12-01 至 2026-12-08", dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc))


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def usage_mb() -> tuple[float, float]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


# ---------------------------------------------------------------------- the measurements (each in a fresh process)


def child_pdf(n: int) -> dict:
    rows = make_rows(n)
    before = vm_hwm_mb()
    calls = []
    t = time.perf_counter()
    from blueprints.core import list_docs

    data = list_docs.render_pdf(header(), rows, progress=lambda done, total: calls.append(done))
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = list_docs.render_pdf(header(), rows)
    warm = time.perf_counter() - t
    from pypdf import PdfReader
    import io

    reader = PdfReader(io.BytesIO(data))
    last = reader.pages[-1].extract_text()
    self_mb, children_mb = usage_mb()
    return dict(rows=n, first=first, warm=warm, pages=len(reader.pages), bytes=len(data), same=data == again,
                totals_on_last="合计" in last, progress_calls=len(calls), before_mb=before, peak_mb=vm_hwm_mb(),
                self_mb=self_mb, children_mb=children_mb)


def child_xlsx(n: int) -> dict:
    rows = make_rows(n)
    before = vm_hwm_mb()
    from blueprints.core import list_docs

    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        t = time.perf_counter()
        list_docs.write_xlsx(header(), rows, path)
        seconds = time.perf_counter() - t
        size = os.path.getsize(path)
    finally:
        os.unlink(path)
    self_mb, children_mb = usage_mb()
    return dict(rows=n, seconds=seconds, bytes=size, before_mb=before, peak_mb=vm_hwm_mb(), self_mb=self_mb,
                children_mb=children_mb)


def child_alloc(n: int) -> dict:
    from blueprints.core.payout import Item, allocate

    rng = random.Random(SEED)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    items = []
    for i in range(1, n + 1):
        amount = rng.choice((2, 3, 5, 8, 10, 20, 50)) * 1_000_000 + (20_000_000 if rng.random() < 0.08 else 0)
        items.append(Item(i, amount, pilot=rng.random() < 0.1, carried=rng.random() < 0.05,
                          order=(start + dt.timedelta(seconds=rng.randrange(30 * 86400)), i)))
    rng.shuffle(items)
    total = sum(i.amount for i in items)
    pilot_total = sum(i.amount for i in items if i.pilot)
    times, result = [], None
    for _ in range(5):
        t = time.perf_counter()
        result = allocate(items, general_left=total // 2, pilot_left=pilot_total // 2)
        times.append(time.perf_counter() - t)
    return dict(items=n, median=statistics.median(times), max=max(times), paid=len(result.paid),
                waiting=len(result.waiting))


def child(mode: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, f"--child-{mode}", str(n)], cwd=ROOT, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--markdown", action="store_true", help="print only the Markdown table")
    for mode in ("pdf", "xlsx", "alloc"):
        ap.add_argument(f"--child-{mode}", type=int)
    args = ap.parse_args()
    for mode, fn in (("pdf", child_pdf), ("xlsx", child_xlsx), ("alloc", child_alloc)):
        n = getattr(args, f"child_{mode}")
        if n is not None:
            print(json.dumps(fn(n)))
            return

    OUT.mkdir(parents=True, exist_ok=True)
    log(f"PDF of {args.rows:,} rows (fresh process)")
    pdf = child("pdf", args.rows)
    log(f"xlsx of {args.rows:,} rows (fresh process)")
    xl = child("xlsx", args.rows)
    log(f"allocation of {args.items:,} items (fresh process)")
    al = child("alloc", args.items)

    ok = lambda good: "✓" if good else "✗"  # noqa: E731
    tree_mb = pdf["peak_mb"] + pdf["children_mb"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "")
    lines = [
        f"Settlement list benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {cpu}; "
        f"{args.rows:,} realistic rows, a fifth with long names, ~10% pilot):",
        "",
        "| measure | figure | goal |",
        "|---|---|---|",
        f"| settlement list PDF, {pdf['rows']:,} rows, first render in a fresh process (fonts loaded) "
        f"| {pdf['first']:.2f} s ({pdf['pages']} pages, {pdf['bytes'] / 1e6:.1f} MB; again in the same process "
        f"{pdf['warm']:.2f} s{', same bytes' if pdf['same'] else ''}) | ≤ {PDF_SECONDS:.0f} s {ok(pdf['first'] <= PDF_SECONDS)} |",
        f"| peak memory while making it | {pdf['peak_mb']:.0f} MB RSS (RUSAGE_SELF {pdf['self_mb']:.0f} MB; "
        f"RUSAGE_CHILDREN {pdf['children_mb']:.0f} MB: the `ldconfig -p` ctypes runs when pdf.py loads, no render "
        f"workers; self + children {tree_mb:.0f} MB; "
        f"{pdf['before_mb']:.0f} MB with the rows before rendering) "
        f"| ≤ {PDF_MB} MB {ok(tree_mb <= PDF_MB)} |",
        f"| totals on the last page / progress reports | {'yes' if pdf['totals_on_last'] else 'NO'} / "
        f"{pdf['progress_calls']} calls | |",
        f"| settlement list xlsx, {xl['rows']:,} rows (write-only openpyxl) | {xl['seconds']:.2f} s "
        f"({xl['bytes'] / 1e6:.1f} MB), peak {xl['peak_mb']:.0f} MB | (shown for reference) |",
        f"| payout allocation `allocate()`, {al['items']:,} items (median of 5) | {al['median'] * 1000:.0f} ms "
        f"(max {al['max'] * 1000:.0f} ms; {al['paid']:,} paid, {al['waiting']:,} waiting) "
        f"| ≤ {ALLOC_SECONDS:.0f} s {ok(al['max'] <= ALLOC_SECONDS)} |",
    ]
    table = "\n".join(lines) + "\n"
    out = OUT / "settlement_list.md"
    out.write_text(table)
    print(table)
    if not args.markdown:
        print(f"(written to {out.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
