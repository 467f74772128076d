"""``manage.py reconcile [--since …] [--until …] [--json]``: every callback received is accounted for.

For the callbacks received in the window it prints how their deliveries
stand — received = delivered + dead + pending + retrying + held + delivering
+ validated (a C2B validation answered through a validation URL: a
synchronous exchange, no delivery) — and lists what is unaccounted for: a
callback with neither a delivery nor a validation exchange, or a
delivery in a state that cannot happen (delivered without a successful
attempt, dead without a dead letter, retrying without a next attempt time,
delivering without a start time, attempt rows that do not add up to its
attempt count). Exits non-zero when anything is unaccounted for. Read-only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Callback, ValidationExchange

Status = Delivery.Status
STATES = (Status.DELIVERED, Status.DEAD, Status.PENDING, Status.RETRYING, Status.HELD, Status.DELIVERING)
NO_DELIVERY = "callback without a delivery"
# What no code path can leave behind; each is checked on the deliveries annotated by _deliveries().
IMPOSSIBLE = {
    "unknown delivery status": ~Q(status__in=Status.values),
    "delivered without a successful attempt": Q(status=Status.DELIVERED)
    & (Q(delivered_at__isnull=True) | Q(has_delivered_attempt=False)),
    "dead without a dead letter": Q(status=Status.DEAD, has_dead_letter=False),
    "retrying without a next attempt time": Q(status=Status.RETRYING, next_attempt_at__isnull=True),
    "delivering without a start time": Q(status=Status.DELIVERING, started_delivering_at__isnull=True),
    "attempt rows do not match its attempt count": ~Q(attempt_rows=F("attempt_count")),
}
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass
class Reconciliation:
    since: str
    until: str
    received: int
    states: dict[str, int]
    without_delivery: int
    unaccounted: int
    validated: int
    duplicates_absorbed: int
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.unaccounted == 0


def reconciliation(*, since: datetime, until: datetime, limit: int = 50) -> Reconciliation:
    """Account for the callbacks received in ``[since, until)``; lists at most ``limit`` problems."""
    callbacks = Callback.objects.filter(received_at__gte=since, received_at__lt=until)
    # One statement, so the states add up to what was received even while callbacks keep arriving.
    rows = (
        callbacks.order_by()
        .annotate(validated=Exists(ValidationExchange.objects.filter(callback=OuterRef("pk"))))
        .values("deliveries__status", "validated")
        .annotate(n=Count("pk"))
    )
    by_state, validated = {}, 0
    for row in rows:
        if row["deliveries__status"] is None and row["validated"]:
            validated += row["n"]
        else:
            by_state[row["deliveries__status"]] = by_state.get(row["deliveries__status"], 0) + row["n"]
    received = sum(by_state.values()) + validated
    without_delivery = by_state.pop(None, 0)
    states = {state.value: by_state.pop(state.value, 0) for state in STATES}
    states.update(by_state)  # a status no code writes: shown, and listed as a problem below
    impossible = _deliveries().filter(callback__in=callbacks).filter(reduce(or_, IMPOSSIBLE.values()))
    unaccounted = callbacks.filter(
        Q(
            ~Exists(Delivery.objects.filter(callback=OuterRef("pk"))),
            ~Exists(ValidationExchange.objects.filter(callback=OuterRef("pk"))),
        )
        | Q(pk__in=impossible.values("callback_id"))
    ).count()
    problems = [
        {"callback": pk, "delivery": None, "problem": NO_DELIVERY}
        for pk in callbacks.filter(deliveries__isnull=True, validation_exchange__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    ]
    for problem, condition in IMPOSSIBLE.items():
        rows = impossible.filter(condition).order_by("pk").values_list("callback_id", "pk")[:limit]
        problems += [{"callback": c, "delivery": d, "problem": problem} for c, d in rows]
    return Reconciliation(
        since=since.isoformat(),
        until=until.isoformat(),
        received=received,
        states=states,
        without_delivery=without_delivery,
        unaccounted=unaccounted,
        validated=validated,
        duplicates_absorbed=callbacks.aggregate(n=Sum("duplicate_count"))["n"] or 0,
        problems=problems[:limit],
    )


def _deliveries() -> QuerySet[Delivery]:
    attempts = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"))
    attempt_rows = attempts.order_by().values("delivery").annotate(n=Count("pk")).values("n")
    return Delivery.objects.annotate(
        attempt_rows=Coalesce(Subquery(attempt_rows), 0),
        has_delivered_attempt=Exists(attempts.filter(outcome=DeliveryAttempt.Outcome.DELIVERED)),
        has_dead_letter=Exists(
            DeadLetter.objects.filter(delivery=OuterRef("pk")).exclude(
                resolution=DeadLetter.Resolution.RETRIED
            )
        ),
    )


def parse_moment(text: str, *, now: datetime, option: str) -> datetime:
    """``90m``/``24h``/``7d`` ago, an ISO 8601 date-time, or a date (midnight); naive means TIME_ZONE."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        moment = parse_datetime(text.strip())
        if moment is None:
            day = parse_date(text.strip())
            moment = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(
            f"{option} must be a duration ago (30m, 24h, 7d), an ISO 8601 date-time or a date, not {text!r}."
        )
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Account for every callback received in a time window: received = delivered + dead + pending "
        "+ retrying + held + delivering + validated (C2B validations answered through a validation URL). "
        "Exits non-zero if any is unaccounted for."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", default="24h", help="Start (default 24h ago): 30m, 24h, 7d, ISO date(-time)."
        )
        parser.add_argument("--until", default="", help="End, excluded (default now); same forms as --since.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument("--limit", type=int, default=50, help="List at most this many problems.")

    def handle(self, *args, **options):
        now = timezone.now()
        since = parse_moment(options["since"], now=now, option="--since")
        until = parse_moment(options["until"], now=now, option="--until") if options["until"] else now
        if since >= until:
            raise CommandError(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()}).")
        if options["limit"] < 0:
            raise CommandError("--limit cannot be negative.")
        result = reconciliation(since=since, until=until, limit=options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps({**asdict(result), "ok": result.ok}))
        else:
            self._print(result)
        if not result.ok:
            raise CommandError(f"{result.unaccounted} callback(s) unaccounted for.")

    def _print(self, result: Reconciliation) -> None:
        terms = " + ".join(f"{state} {count}" for state, count in result.states.items())
        self.stdout.write(f"Callbacks received from {result.since} to {result.until}")
        self.stdout.write(
            f"received {result.received} = {terms} + validated {result.validated}"
            f" + without delivery {result.without_delivery}"
        )
        self.stdout.write(
            f"duplicates absorbed (acknowledged, not delivered again): {result.duplicates_absorbed}"
        )
        self.stdout.write(f"unaccounted for: {result.unaccounted}")
        for problem in result.problems:
            delivery = f", delivery {problem['delivery']}" if problem["delivery"] else ""
            self.stdout.write(f"  callback {problem['callback']}{delivery}: {problem['problem']}")
