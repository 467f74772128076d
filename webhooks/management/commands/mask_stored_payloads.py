"""``manage.py mask_stored_payloads [--batch-size N]``: mask the phone numbers of payloads stored before
the door masked them (run once after upgrading; running it again changes nothing).

Walks every callback in batches of ``--batch-size`` (by id), masks its
payload as the door now does (``webhooks.inbound.mask_payload``) and saves
only the rows that changed, each batch in its own short transaction. The
raw body is left alone: deliveries still need it, and ``prune`` erases it
after the retention window.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from webhooks.inbound import mask_payload
from webhooks.models import Callback

MAX_BATCH_SIZE = 10_000


def mask_stored_payloads(*, batch_size: int) -> int:
    """Mask every stored payload that still holds a phone number; returns how many were changed."""
    changed_total, after_pk = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Callback.objects.filter(pk__gt=after_pk).order_by("pk").only("pk", "payload")[:batch_size]
            )
            if not batch:
                return changed_total
            now, changed = timezone.now(), []
            for callback in batch:
                if isinstance(callback.payload, dict):
                    masked = mask_payload(callback.payload)
                    if masked != callback.payload:
                        callback.payload, callback.updated_at = masked, now
                        changed.append(callback)
            Callback.objects.bulk_update(changed, ["payload", "updated_at"])
        changed_total += len(changed)
        after_pk = batch[-1].pk


class Command(BaseCommand):
    help = (
        "Mask the phone numbers in payloads stored before the relay masked them at the door. "
        "Run once after upgrading; safe to run again and while the relay runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Callbacks per transaction (default 500)."
        )

    def handle(self, *args, **options):
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}.")
        changed = mask_stored_payloads(batch_size=batch_size)
        self.stdout.write(f"Masked the phone numbers of {changed} stored payloads.")
