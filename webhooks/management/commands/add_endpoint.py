"""``manage.py add_endpoint <user_id> --url URL [--destination NAME] [--kinds K,K] [...]``: create or update a
merchant's destination (its first one unless named), print it as JSON."""

import argparse
import json
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from delivery.priority import Priority
from webhooks.models import Endpoint, Merchant, ValidationFallback
from webhooks.mpesa import CallbackKind
from webhooks.services import endpoint_create_or_update, merchant_rotate_inbound_token

PRIORITY_NAMES = [p.name.lower() for p in Priority]


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--high-value-threshold must be a number, got {text!r}.") from None


def _kinds(text: str) -> list[str]:
    """``all`` (or nothing) for every kind, else a comma-separated list of kind names."""
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    if kinds in ([], ["all"]):
        return []
    known = {kind.value for kind in CallbackKind}
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown callback kind {unknown[0]!r}; choose from all, {', '.join(sorted(known))}"
        )
    return kinds


def _whole_number(text: str) -> int:
    # ArgumentTypeError: argparse reports it (exit 2 on the command line, CommandError from call_command).
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


class Command(BaseCommand):
    help = (
        "Create a merchant's destination (or update the given settings of an existing one) and print one "
        "JSON object with user_id, destination, url, signing_secret, inbound_path (the path M-Pesa must "
        "call) and the settings. A new user id creates the merchant."
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The user id M-Pesa's callback URL will carry.")
        parser.add_argument(
            "--url", help="Where deliveries go (http:// or https://). Required for a new destination."
        )
        parser.add_argument(
            "--destination",
            metavar="NAME",
            help="Which of the merchant's destinations (e.g. shop, erp); a new name adds one. "
            "Without it: the merchant's first destination ('main' when new).",
        )
        parser.add_argument(
            "--kinds",
            type=_kinds,
            metavar="K,K",
            help="Callback kinds this destination receives, comma-separated (e.g. "
            "c2b_confirmation,b2c_result), or 'all' (the default for a new destination).",
        )
        parser.add_argument("--max-attempts", type=int, help="Attempts per delivery, the first included.")
        parser.add_argument("--initial-delay", type=float, help="Seconds before the first retry.")
        parser.add_argument("--multiplier", type=float, help="Each retry waits this many times longer.")
        parser.add_argument("--max-delay", type=float, help="Longest wait between attempts, in seconds.")
        parser.add_argument("--timeout", type=float, help="Request timeout per attempt, in seconds.")
        parser.add_argument(
            "--max-in-flight",
            type=_whole_number,
            metavar="N",
            help="Deliveries sent to this app at the same time, 1 to 1000 "
            "(default DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT).",
        )
        parser.add_argument("--priority", choices=PRIORITY_NAMES, help="Default priority.")
        parser.add_argument(
            "--priority-override", choices=[*PRIORITY_NAMES, "none"], help="Force one priority."
        )
        parser.add_argument("--payment-rules", choices=["on", "off"], help="Payment-aware priority rules.")
        parser.add_argument("--high-value-threshold", type=_amount, help="Amount (KES) delivered as HIGH.")
        parser.add_argument("--validation-url", help="C2B validation URL ('' to remove).")
        parser.add_argument("--validation-fallback", choices=[c.value for c in ValidationFallback])
        parser.add_argument(
            "--legacy-path", choices=["on", "off"], help="Accept the bare /webhook/<user id>."
        )
        parser.add_argument("--rotate-token", action="store_true", help="New inbound token (old URL stops).")
        parser.add_argument("--paused", action="store_true", help="Create or set the endpoint paused.")
        parser.add_argument("--active", action="store_true", help="Resume a paused endpoint.")

    def handle(self, *args, **options):
        if options["paused"] and options["active"]:
            raise CommandError("Choose --paused or --active, not both.")
        override = options["priority_override"]
        fields = {
            "url": options["url"],
            "kinds": options["kinds"],
            "max_attempts": options["max_attempts"],
            "initial_delay_seconds": options["initial_delay"],
            "backoff_multiplier": options["multiplier"],
            "max_delay_seconds": options["max_delay"],
            "timeout_seconds": options["timeout"],
            "max_in_flight": options["max_in_flight"],
            "default_priority": Priority.from_name(options["priority"]) if options["priority"] else None,
            "priority_override": None if override in (None, "none") else Priority.from_name(override),
            "use_payment_rules": _on_off(options["payment_rules"]),
            "high_value_threshold": options["high_value_threshold"],
            "validation_url": options["validation_url"],
            "validation_fallback": options["validation_fallback"],
            "allow_legacy_path": _on_off(options["legacy_path"]),
            "is_active": False if options["paused"] else (True if options["active"] else None),
        }
        fields = {name: value for name, value in fields.items() if value is not None}
        if override == "none":
            fields["priority_override"] = None
        user_id, name = options["user_id"], options["destination"]
        existing = Endpoint.objects.filter(user_id=user_id)
        if "url" not in fields and not (existing.filter(name=name) if name else existing).exists():
            raise CommandError(
                f"--url is required to create a new destination{f' ({name})' if name else ''}."
            )
        try:
            endpoint, created = endpoint_create_or_update(user_id=user_id, destination=name, **fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"Invalid endpoint: {problems}") from None
        if options["rotate_token"] and not created:
            merchant_rotate_inbound_token(merchant=endpoint.merchant)
        self.stdout.write(json.dumps(endpoint_summary(endpoint, created=created)))


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def endpoint_summary(endpoint: Endpoint, *, created: bool) -> dict:
    """What an operator needs to wire M-Pesa and the merchant's app (includes the secret: shown to them)."""
    return {
        "created": created,
        "user_id": endpoint.user_id,
        "destination": endpoint.name,
        "destinations": list(
            Merchant.objects.get(pk=endpoint.merchant_id)
            .destinations.order_by("pk")
            .values_list("name", flat=True)
        ),
        "url": endpoint.url,
        "kinds": endpoint.kinds or ["all"],
        "signing_secret": endpoint.signing_secret,
        "inbound_path": endpoint.inbound_path,
        "c2b_validation_path": endpoint.inbound_path + "/c2b-validation",
        "c2b_confirmation_path": endpoint.inbound_path + "/c2b-confirmation",
        # Which Daraja setting gets which path (prefix each with https://<relay host>).
        "register_with_mpesa": {
            "C2B ValidationURL": endpoint.inbound_path + "/c2b-validation",
            "C2B ConfirmationURL": endpoint.inbound_path + "/c2b-confirmation",
            "STK CallBackURL, ResultURL and QueueTimeOutURL": endpoint.inbound_path,
        },
        "active": endpoint.is_active,
        "default_priority": Priority(endpoint.default_priority).queue_name,
        "priority_override": (
            Priority(endpoint.priority_override).queue_name
            if endpoint.priority_override is not None
            else None
        ),
        "payment_rules": endpoint.use_payment_rules,
        "high_value_threshold": f"{Decimal(endpoint.high_value_threshold):.2f}",
        "validation_url": endpoint.validation_url,
        "validation_fallback": endpoint.validation_fallback,
        "legacy_path_allowed": endpoint.allow_legacy_path,
        "max_attempts": endpoint.max_attempts,
        "initial_delay_seconds": endpoint.initial_delay_seconds,
        "backoff_multiplier": endpoint.backoff_multiplier,
        "max_delay_seconds": endpoint.max_delay_seconds,
        "timeout_seconds": endpoint.timeout_seconds,
        "max_in_flight": endpoint.max_in_flight,
    }
