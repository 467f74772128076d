"""``manage.py prune [--older-than DAYS] [--dry-run] [--batch-size N]``: retention of delivered callbacks.

Removes callbacks received more than DAYS ago (default ``RETENTION_DAYS``)
whose every delivery was delivered, with their deliveries, attempts and
resolved dead letters. Never touches a callback with a delivery in any
other state (pending, retrying, held, in flight, dead) or with an open dead
letter. Safe while the relay runs: batches of ``--batch-size`` callbacks,
each deleted in its own short transaction that locks only that batch's
deliveries and checks them again before deleting.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deadletter.models import DeadLetter
from deadletter.selectors import open_dead_letters
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Callback

MAX_BATCH_SIZE = 10_000


@dataclass
class PruneCounts:
    callbacks: int = 0
    deliveries: int = 0
    attempts: int = 0
    dead_letters: int = 0

    def add(self, other: PruneCounts) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def describe(self) -> str:
        return (
            f"{self.callbacks} callbacks, {self.deliveries} deliveries, {self.attempts} attempts, "
            f"{self.dead_letters} resolved dead letters"
        )


def prunable_callbacks(*, received_before: datetime, after_pk: int, limit: int) -> list[int]:
    """Ids (ascending, past ``after_pk``) of callbacks older than the cutoff, all delivered, none open."""
    delivered = Delivery.objects.filter(callback=OuterRef("pk"), status=Delivery.Status.DELIVERED)
    unfinished = Delivery.objects.filter(callback=OuterRef("pk")).exclude(status=Delivery.Status.DELIVERED)
    open_letter = open_dead_letters().filter(callback=OuterRef("pk"))
    return list(
        Callback.objects.filter(received_at__lt=received_before, pk__gt=after_pk)
        .filter(Exists(delivered))
        .exclude(Exists(unfinished))
        .exclude(Exists(open_letter))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def _still_prunable(callback_ids: list[int]) -> list[int]:
    """The ids whose deliveries are (still) all delivered and that have no open dead letter.

    Called inside the batch's transaction after its deliveries are locked
    (``SELECT … FOR UPDATE`` on PostgreSQL), so nothing can change them between
    this check and the delete.
    """
    statuses = (
        Delivery.objects.select_for_update()
        .filter(callback_id__in=callback_ids)
        .order_by("pk")
        .values_list("callback_id", "status")
    )
    keep = {callback_id for callback_id, status in statuses if status != Delivery.Status.DELIVERED}
    keep |= set(
        open_dead_letters().filter(callback_id__in=callback_ids).values_list("callback_id", flat=True)
    )
    return [callback_id for callback_id in callback_ids if callback_id not in keep]


def prune_batch(callback_ids: list[int], *, dry_run: bool) -> PruneCounts:
    """Delete (or, in a dry run, count) the callbacks and everything hanging off them, in one transaction."""
    with transaction.atomic():
        ids = _still_prunable(callback_ids)
        if dry_run:
            return PruneCounts(
                callbacks=len(ids),
                deliveries=Delivery.objects.filter(callback_id__in=ids).count(),
                attempts=DeliveryAttempt.objects.filter(delivery__callback_id__in=ids).count(),
                dead_letters=DeadLetter.objects.filter(callback_id__in=ids).count(),
            )
        # only("pk"): the cascade needs the keys, not the bodies.
        _, removed = Callback.objects.filter(pk__in=ids).only("pk").delete()
        return PruneCounts(
            callbacks=removed.get(Callback._meta.label, 0),
            deliveries=removed.get(Delivery._meta.label, 0),
            attempts=removed.get(DeliveryAttempt._meta.label, 0),
            dead_letters=removed.get(DeadLetter._meta.label, 0),
        )


def prune(*, older_than_days: int, batch_size: int, dry_run: bool, progress=None) -> PruneCounts:
    """Prune delivered callbacks older than ``older_than_days``; returns what was (or would be) removed."""
    received_before = timezone.now() - timedelta(days=older_than_days)
    total = PruneCounts()
    after_pk = 0
    while True:
        batch = prunable_callbacks(received_before=received_before, after_pk=after_pk, limit=batch_size)
        if not batch:
            return total
        counts = prune_batch(batch, dry_run=dry_run)
        total.add(counts)
        after_pk = batch[-1]
        if progress is not None:
            progress(counts, total)


class Command(BaseCommand):
    help = (
        "Delete delivered callbacks older than the retention window (default RETENTION_DAYS) with their "
        "deliveries, attempts and resolved dead letters, in small batches. Undelivered callbacks and "
        "open dead letters are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="DAYS",
            help=f"Retention in days (default RETENTION_DAYS, now {settings.RETENTION_DAYS}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be removed, remove nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Callbacks per transaction (default 500)."
        )

    def handle(self, *args, **options):
        days = settings.RETENTION_DAYS if options["older_than"] is None else options["older_than"]
        batch_size = options["batch_size"]
        window_days = settings.DUPLICATE_WINDOW_HOURS / 24
        if days < 1:
            raise CommandError(f"--older-than must be at least 1 day, got {days}.")
        if days < window_days:
            # A repeat of a pruned callback would no longer be recognised and would be delivered again.
            raise CommandError(
                f"--older-than {days} is inside the duplicate window (DUPLICATE_WINDOW_HOURS = "
                f"{settings.DUPLICATE_WINDOW_HOURS:g} h): keep at least {window_days:g} days."
            )
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}.")
        dry_run = options["dry_run"]
        verb = "Would remove" if dry_run else "Removed"

        def progress(batch: PruneCounts, total: PruneCounts) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"  batch: {batch.describe()}")

        total = prune(older_than_days=days, batch_size=batch_size, dry_run=dry_run, progress=progress)
        self.stdout.write(
            f"{verb} {total.describe()} (delivered callbacks received more than {days} days ago)"
            + (" — dry run, nothing deleted." if dry_run else ".")
        )
