#!/usr/bin/env python3
"""Data for the money probes, made through the app's own service functions (tests/factories.py):
`--apps N` approved enterprises, each with one application waiting for the city (equal amounts), in one
city whose issuance quota is set to `--quota-share` of their sum. Prints a JSON manifest.

Runs against DATABASE_URL (the reliability run's database, with the demo data loaded).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def unique_numbers(factories) -> None:
    """The factories number USCCs, usernames and contracts from 1 in each process: start this run's
    numbers past every earlier run's, so runs on one database never collide."""
    import itertools
    import time

    factories._seq = itertools.count(time.time_ns() // 1000 % 10**12)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, required=True)
    ap.add_argument("--fee-fen", type=int, default=10_000_00)
    ap.add_argument("--quota-share", type=float, default=1 / 3)
    ap.add_argument("--city", default="")
    args = ap.parse_args()

    from app import create_app
    from models import Application, Cycle, CityTarget, Role, User, db
    from tests import factories
    from tests.factories import make_application, make_enterprise, make_supplier, make_user

    unique_numbers(factories)

    app = create_app()
    with app.app_context():
        cycle = db.session.execute(db.select(Cycle).order_by(Cycle.id.desc())).scalars().first()
        targets = db.session.execute(db.select(CityTarget).where(CityTarget.year == cycle.year,
                                                                 CityTarget.issued_fen == 0)
                                     .order_by(CityTarget.city_code.desc())).scalars().all()
        used = {r[0] for r in db.session.execute(db.select(Application.city_code).distinct())}
        target = next(t for t in targets if (t.city_code == args.city if args.city else t.city_code not in used))
        suppliers = [make_supplier() for _ in range(max(1, args.apps // 20))]
        ids = []
        for i in range(args.apps):
            ent = make_enterprise(city_code=target.city_code)
            a = make_application(ent, suppliers[i % len(suppliers)], cycle, stage="city_review", fee_fen=args.fee_fen)
            ids.append(a.id)
        amount = db.session.get(Application, ids[0]).item_amount_fen
        # The city may issue a share of what is asked (in whole applications, all of equal amount).
        fits = int(args.apps * args.quota_share)
        target.quota_fen = fits * amount
        db.session.flush()
        officer = db.session.execute(db.select(User.username).where(User.role == Role.CITY,
                                                                    User.city_code == target.city_code)).scalar()
        if officer is None:
            officer = make_user(Role.CITY, city_code=target.city_code).username
        db.session.commit()
        json.dump({"city": target.city_code, "year": cycle.year, "quota_fen": target.quota_fen, "amount_fen": amount,
                   "fits": fits, "apps": ids, "officer": officer}, sys.stdout)


if __name__ == "__main__":
    main()
