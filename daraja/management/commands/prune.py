"""``manage.py prune [--older-than DAYS] [--erase-older-than DAYS] [--dry-run] [--batch-size N]``: retention.

1. Removes callbacks received more than ``--older-than`` days ago (default
   ``RETENTION_DAYS``) whose every delivery was delivered, with their
   deliveries, attempts and resolved dead letters. Never touches a callback
   with a delivery in any other state (pending, retrying, held, in flight,
   dead) or with an open dead letter.
2. Erases the personal data of what step 1 keeps, once it is more than
   ``--erase-older-than`` days old (default ``DEAD_LETTER_RETENTION_DAYS``):
   callbacks whose deliveries are all finished (delivered or dead — dead
   letters open or resolved) or that have none. Their raw body is emptied,
   their payload's phone numbers masked (rows stored before masking at the
   door) and C2B customer names blanked, and their open dead letters purged (nothing is left to send). The
   masked facts stay, so support can still find the payment. A callback
   still waiting to be delivered (pending, retrying, held, in flight) keeps
   its body whatever its age.

Safe while the relay runs: batches of ``--batch-size`` callbacks, each in
its own short transaction that locks only that batch's deliveries and
checks them again before changing anything.
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
from deadletter.services import dead_letters_purge
from delivery.models import Delivery, DeliveryAttempt
from webhooks.inbound import mask_payload
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


# Deliveries that will never send the raw body again.
FINISHED = (Delivery.Status.DELIVERED, Delivery.Status.DEAD)
# The customer's name in a C2B payload: blanked with the raw body (the masked phone and ids stay).
NAME_KEYS = ("FirstName", "MiddleName", "LastName")


def _erased_payload(payload: object) -> dict:
    if not isinstance(payload, dict):
        return {}
    masked = mask_payload(payload)
    return {**masked, **{key: "" for key in NAME_KEYS if key in masked}}


@dataclass
class EraseCounts:
    callbacks: int = 0
    dead_letters_purged: int = 0

    def add(self, other: EraseCounts) -> None:
        self.callbacks += other.callbacks
        self.dead_letters_purged += other.dead_letters_purged


def erasable_callbacks(*, received_before: datetime, after_pk: int, limit: int) -> list[int]:
    """Ids (ascending, past ``after_pk``) of callbacks older than the cutoff that still hold a raw body
    and whose deliveries are all finished (or that have none)."""
    unfinished = Delivery.objects.filter(callback=OuterRef("pk")).exclude(status__in=FINISHED)
    return list(
        Callback.objects.filter(received_at__lt=received_before, pk__gt=after_pk)
        .exclude(raw_body=b"")
        .exclude(Exists(unfinished))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def erase_batch(callback_ids: list[int], *, dry_run: bool) -> EraseCounts:
    """Empty the raw bodies, mask the payloads and purge the open dead letters of these callbacks.

    One transaction; the deliveries are locked and checked again first, so a
    delivery re-queued meanwhile keeps its callback's body.
    """
    with transaction.atomic():
        statuses = (
            Delivery.objects.select_for_update()
            .filter(callback_id__in=callback_ids)
            .order_by("pk")
            .values_list("callback_id", "status")
        )
        keep = {callback_id for callback_id, status in statuses if status not in FINISHED}
        ids = [callback_id for callback_id in callback_ids if callback_id not in keep]
        letters = list(open_dead_letters().filter(callback_id__in=ids).values_list("pk", flat=True))
        if dry_run:
            return EraseCounts(callbacks=len(ids), dead_letters_purged=len(letters))
        purged = dead_letters_purge(dead_letter_ids=letters) if letters else 0
        now = timezone.now()
        callbacks = list(Callback.objects.filter(pk__in=ids).only("pk", "payload"))
        for callback in callbacks:
            callback.raw_body = b""
            callback.payload = _erased_payload(callback.payload)
            callback.updated_at = now
        Callback.objects.bulk_update(callbacks, ["raw_body", "payload", "updated_at"])
        return EraseCounts(callbacks=len(callbacks), dead_letters_purged=purged)


def erase_personal_data(*, older_than_days: int, batch_size: int, dry_run: bool) -> EraseCounts:
    """Erase the raw bodies of finished callbacks older than ``older_than_days``; returns what was erased."""
    received_before = timezone.now() - timedelta(days=older_than_days)
    total = EraseCounts()
    after_pk = 0
    while batch := erasable_callbacks(received_before=received_before, after_pk=after_pk, limit=batch_size):
        total.add(erase_batch(batch, dry_run=dry_run))
        after_pk = batch[-1]
    return total


class Command(BaseCommand):
    help = (
        "Delete delivered callbacks older than the retention window (default RETENTION_DAYS) with their "
        "deliveries, attempts and resolved dead letters, in small batches; then erase the raw body of "
        "dead-lettered and other finished callbacks older than DEAD_LETTER_RETENTION_DAYS. Callbacks "
        "still waiting to be delivered are never touched."
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
            "--erase-older-than",
            type=int,
            default=None,
            metavar="DAYS",
            help="Erase the raw body of dead-lettered (and other finished) callbacks older than this "
            f"(default DEAD_LETTER_RETENTION_DAYS, now {settings.DEAD_LETTER_RETENTION_DAYS}).",
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
        erase_days = options["erase_older_than"]
        if erase_days is None:
            erase_days = settings.DEAD_LETTER_RETENTION_DAYS
        if erase_days < 1:
            raise CommandError(f"--erase-older-than must be at least 1 day, got {erase_days}.")
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
        erased = erase_personal_data(older_than_days=erase_days, batch_size=batch_size, dry_run=dry_run)
        self.stdout.write(
            f"{'Would erase' if dry_run else 'Erased'} the raw body of {erased.callbacks} finished callbacks "
            f"received more than {erase_days} days ago (phone numbers masked in their payload; "
            f"{erased.dead_letters_purged} open dead letters purged)."
        )
