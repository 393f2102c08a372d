"""Expert scores on a supplier under province review (REG-4)."""
from __future__ import annotations

from sqlalchemy.orm import selectinload

from blueprints.core import audit, timeutil, workflow
from blueprints.core.registration.common import R
from models import ExpertReview, Supplier, db


# --------------------------------------------------------------------------- expert reviews


def record_expert_review(s: Supplier, user, score: int, opinion: str) -> ExpertReview:
    """An expert's score and opinion for this round (one per expert, may be revised until decided)."""
    if s.status != R.PROVINCE_REVIEW:
        raise workflow.NotAllowed("该供应商不在省级复核阶段，不能评分")
    review = my_review(s, user)
    if review is None:
        review = ExpertReview(supplier_id=s.id, expert_id=user.id, round=s.review_round)
        db.session.add(review)
    review.score, review.opinion, review.at = score, opinion.strip()[:4000], timeutil.now()
    db.session.flush()
    audit.record("supplier", s.id, "expert_review", actor=user, reason=review.opinion,
                 data={"score": score, "round": s.review_round})
    return review


def my_review(s: Supplier, user) -> ExpertReview | None:
    return db.session.execute(
        db.select(ExpertReview).where(ExpertReview.supplier_id == s.id, ExpertReview.expert_id == user.id,
                                      ExpertReview.round == s.review_round)
    ).scalar_one_or_none()


def expert_reviews(s: Supplier) -> list[ExpertReview]:
    """Every round's scores, the current round first."""
    q = db.select(ExpertReview).where(ExpertReview.supplier_id == s.id).options(selectinload(ExpertReview.expert))
    return list(db.session.execute(q.order_by(ExpertReview.round.desc(), ExpertReview.id)).scalars())
