"""``manage.py add_endpoint <user_id> --url URL [...]``: create or update an endpoint, print it as JSON."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Endpoint
from webhooks.priorities import Priority
from webhooks.services import endpoint_create_or_update


class Command(BaseCommand):
    help = (
        "Create an endpoint (or update the given settings of an existing one) and print one JSON object "
        "with user_id, url, signing_secret, inbound_path and the retry settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The user id M-Pesa's callback URL will carry.")
        parser.add_argument(
            "--url", help="Where deliveries go (http:// or https://). Required for a new endpoint."
        )
        parser.add_argument("--max-attempts", type=int, help="Attempts per delivery, the first included.")
        parser.add_argument("--initial-delay", type=float, help="Seconds before the first retry.")
        parser.add_argument("--multiplier", type=float, help="Each retry waits this many times longer.")
        parser.add_argument("--max-delay", type=float, help="Longest wait between attempts, in seconds.")
        parser.add_argument("--timeout", type=float, help="Request timeout per attempt, in seconds.")
        parser.add_argument(
            "--priority", choices=[p.name.lower() for p in Priority], help="Default priority."
        )
        parser.add_argument("--paused", action="store_true", help="Create or set the endpoint paused.")
        parser.add_argument("--active", action="store_true", help="Resume a paused endpoint.")

    def handle(self, *args, **options):
        if options["paused"] and options["active"]:
            raise CommandError("Choose --paused or --active, not both.")
        fields = {
            "url": options["url"],
            "max_attempts": options["max_attempts"],
            "initial_delay_seconds": options["initial_delay"],
            "backoff_multiplier": options["multiplier"],
            "max_delay_seconds": options["max_delay"],
            "timeout_seconds": options["timeout"],
            "default_priority": Priority.from_name(options["priority"]) if options["priority"] else None,
            "is_active": False if options["paused"] else (True if options["active"] else None),
        }
        fields = {name: value for name, value in fields.items() if value is not None}
        if "url" not in fields and not Endpoint.objects.filter(user_id=options["user_id"]).exists():
            raise CommandError("--url is required to create a new endpoint.")
        try:
            endpoint, created = endpoint_create_or_update(user_id=options["user_id"], **fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"Invalid endpoint: {problems}") from None
        self.stdout.write(
            json.dumps(
                {
                    "created": created,
                    "user_id": endpoint.user_id,
                    "url": endpoint.url,
                    "signing_secret": endpoint.signing_secret,
                    "inbound_path": endpoint.inbound_path,
                    "active": endpoint.is_active,
                    "default_priority": Priority(endpoint.default_priority).queue_name,
                    "max_attempts": endpoint.max_attempts,
                    "initial_delay_seconds": endpoint.initial_delay_seconds,
                    "backoff_multiplier": endpoint.backoff_multiplier,
                    "max_delay_seconds": endpoint.max_delay_seconds,
                    "timeout_seconds": endpoint.timeout_seconds,
                }
            )
        )
