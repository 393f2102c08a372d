"""Registration and review of enterprises and suppliers (REG-1..9, SLA-1, SLA-4, SLA-5, DOC-3).

What this package owns (one module per concern, each re-exported here so that
`from blueprints.core.registration import X` and `registration.X` keep working):
- checks shared by the profile forms: USCC (GB 32100-2015 check digit via python-stdnum) and
  its uniqueness (REG-8), cloud endpoints (IP, CIDR or domain), related parties, revenue in 元/万元;
- the profile life cycle: draft saves, uploads that survive a form with errors, submission
  with its working-day deadline (SLA-1), decisions (approve / return with every reason at
  once / reject: REG-3..6), and changes to an approved profile (ProfileChange, REG-9);
- reviewer queues (own city only, overdue first: SLA-5), bulk approve with a per-item result,
  expert scores (REG-4), the province directory with its xlsx export, the public supplier list;
- the working-day calendar overrides the province edits (SLA-4).
Routes stay thin: they parse the request, call one function here and choose the response.
"""
from __future__ import annotations

from blueprints.core.registration.common import (  # noqa: F401
    ENTITY_TYPES, KIND_LABELS, KIND_MODELS, OPEN_CHANGE, PER_PAGE, R, SLA_WORKING_DAYS, kind_of, owner_kind,
)
from blueprints.core.registration.fields import (  # noqa: F401
    ACTION_LABELS, ATTR_LABELS, DOCS, Doc, FILE_ATTRS, IMMEDIATE_ATTRS, REASON_FIELDS, city_names, display,
)
from blueprints.core.registration.checks import (  # noqa: F401
    MAX_ENDPOINTS, _DOMAIN, _special, duplicate_message, normalise_uscc, parse_endpoint, parse_endpoints,
    parse_related_parties, related_text, uscc_problem, uscc_taken,
)
from blueprints.core.registration.validators import (  # noqa: F401
    EMAIL_RE, MustTick, PHONE_MESSAGE, PHONE_RE, Required, _empty, check_categories, check_city,
    check_endpoints, check_not_future, check_related, check_revenue, check_uscc, city_choices,
)
from blueprints.core.registration.mapping import (  # noqa: F401
    _decode, _encode, _files_as_text, _plain, _text, enterprise_initial, enterprise_values, supplier_initial,
    supplier_values,
)
from blueprints.core.registration.files import (  # noqa: F401
    _pending_file, docs_context, docs_for, files_by_id, missing_docs, new_file_values, take_uploads,
)
from blueprints.core.registration.lifecycle import (  # noqa: F401
    Outcome, _assign, _due, _set_related, _tell_reviewers, changes_since, completeness, edit_mode,
    not_editable_message, open_change, previous_snapshot, save_profile, snapshot, submit,
)
from blueprints.core.registration.changes import (  # noqa: F401
    apply_change, change_rows, change_summary, propose_change,
)
from blueprints.core.registration.posting import (  # noqa: F401
    VALUE_FIELDS, _save_valid_part, handle_profile_post,
)
from blueprints.core.registration.decisions import (  # noqa: F401
    BulkResult, DecisionError, MAX_REASONS, _notify_owner, _owner_link, bulk_decide, decide, parse_reasons,
    reasons_text, withdraw_change,
)
from blueprints.core.registration.experts import (  # noqa: F401
    expert_reviews, my_review, record_expert_review,
)
from blueprints.core.registration.workdays import (  # noqa: F401
    calendar_month, calendar_overrides, calendar_warning, clear_calendar_day, days_left_many, official_day,
    set_calendar_day,
)
from blueprints.core.registration.queues import (  # noqa: F401
    QUEUE_KINDS, QueueArgs, QueueRow, STATUS_FILTERS, _like, _pending_status, _scope, bulk_messages,
    display_name, expert_select, my_scores, parse_queue_args, queue_context, queue_counts, queue_rows,
    queue_select,
)
from blueprints.core.registration.records import (  # noqa: F401
    decision_context, expert_panel, history, load, owner_panel, owner_view_context, record_files,
    returns_history, reviewer_panel,
)
from blueprints.core.registration.directory import (  # noqa: F401
    DIRECTORY_COLUMNS, DIRECTORY_WIDTHS, count_directory, directory_args, directory_select, public_suppliers,
    write_directory_xlsx,
)
from blueprints.core.registration import (  # noqa: F401  (the modules themselves)
    common, fields, checks, validators, mapping, files, lifecycle, changes, posting, decisions, experts,
    workdays, queues, records, directory,
)
