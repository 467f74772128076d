"""Merchants, their destinations (where and how to deliver), the callbacks M-Pesa sent and C2B validations."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models

from daraja.core.error_categories import ErrorCategory
from delivery import errors
from delivery.destinations import DestinationRefused, validate_destination_url
from delivery.priority import Priority
from webhooks.inbound_tokens import contains_forbidden_word, generate_inbound_token
from webhooks.mpesa import CallbackKind
from webhooks.mpesa.kinds import kind_label
from webhooks.signing_secrets import generate_signing_secret

user_id_validator = RegexValidator(
    regex=r"^[A-Za-z0-9_-]{1,64}$",
    message="A user id is 1 to 64 letters, digits, '_' or '-' (it becomes part of the inbound URL).",
)


def validate_no_forbidden_word(value: str) -> None:
    word = contains_forbidden_word(value)
    if word:
        raise ValidationError(
            f"M-Pesa refuses callback URLs containing {word!r}; choose a user id without it.",
            code="forbidden_word",
        )


http_url_validator = URLValidator(
    schemes=["http", "https"],
    message="Enter a full web address starting with http:// or https://.",
)


# Defaults are callables so that migrations do not freeze the environment's values.
def default_max_attempts() -> int:
    return settings.DELIVERY_DEFAULT_MAX_ATTEMPTS


def default_initial_delay() -> float:
    return settings.DELIVERY_DEFAULT_INITIAL_DELAY


def default_multiplier() -> float:
    return settings.DELIVERY_DEFAULT_MULTIPLIER


def default_max_delay() -> float:
    return settings.DELIVERY_DEFAULT_MAX_DELAY


def default_timeout() -> float:
    return settings.DELIVERY_DEFAULT_TIMEOUT


def default_max_in_flight() -> int:
    return settings.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT


class ValidationFallback(models.TextChoices):
    ACCEPT = "accept", "Accept the payment"
    REJECT = "reject", "Reject it (C2B00016)"


class Merchant(models.Model):
    """A merchant (a "user" of the relay): the one inbound door M-Pesa calls, by user id and token.

    Its callbacks are kept once and delivered to each of its destinations
    (``Endpoint``) whose callback kinds match.
    """

    user_id = models.CharField(
        max_length=64,
        unique=True,
        validators=[user_id_validator, validate_no_forbidden_word],
        help_text="Identifies the merchant in the inbound URL M-Pesa calls.",
    )
    inbound_token = models.CharField(
        max_length=64,
        unique=True,
        default=generate_inbound_token,
        editable=False,
        help_text="The secret part of the inbound URL; a request without it is refused.",
    )
    inbound_token_rotated_at = models.DateTimeField(
        "inbound token last changed", null=True, blank=True, editable=False
    )
    allow_legacy_path = models.BooleanField(
        "allow the legacy path",
        default=False,
        help_text="Also accept callbacks on the bare /webhook/<user id> path, without the token. "
        "Only for merchants who cannot re-register their M-Pesa URLs yet: anyone who knows the "
        "user id can post to that path.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return self.user_id

    @property
    def inbound_path(self) -> str:
        """The path M-Pesa must call for this merchant (the token makes it unguessable)."""
        return f"/webhook/{self.user_id}/{self.inbound_token}"

    @property
    def legacy_inbound_path(self) -> str:
        return f"/webhook/{self.user_id}"


destination_name_validator = RegexValidator(
    regex=r"^[a-z0-9][a-z0-9_-]{0,39}$",
    message="A destination name is 1 to 40 lower-case letters, digits, '_' or '-' (e.g. shop, erp).",
)

MAIN_DESTINATION = "main"


def validate_kinds(value) -> None:
    """A list of known callback kinds, without repeats (an empty list means every kind)."""
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise ValidationError("Callback kinds are a list of kind names.", code="invalid_kinds")
    known = {kind.value for kind in CallbackKind}
    unknown = [kind for kind in value if kind not in known]
    if unknown:
        raise ValidationError(
            f"Unknown callback kind {unknown[0]!r}; choose from {', '.join(sorted(known))}.",
            code="unknown_kind",
        )
    if len(set(value)) != len(value):
        raise ValidationError("Each callback kind may be listed once.", code="repeated_kind")


class Endpoint(models.Model):
    """A destination: one app of a merchant, the callback kinds it receives, and how hard to try.

    A merchant has one or more. Each has its own URL, signing secret, retry
    settings, concurrency cap and pause switch, and its circuit breaker in
    delivery's ``Circuit`` (``endpoint.circuit``, made with it); one callback
    becomes one delivery per destination whose ``kinds`` match.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="destinations")
    # The merchant's user id, copied: it never changes, and tenant scoping, logs and metrics read it
    # on every row without a join.
    user_id = models.CharField(max_length=64, editable=False, db_index=True)
    name = models.CharField(
        max_length=40,
        default=MAIN_DESTINATION,
        validators=[destination_name_validator],
        help_text="Tells this merchant's destinations apart (e.g. shop, erp, warehouse).",
    )
    kinds = models.JSONField(
        "callback kinds",
        default=list,
        blank=True,
        validators=[validate_kinds],
        help_text="The callback kinds this destination receives; empty means every kind.",
    )
    url = models.CharField(
        "delivery URL",
        max_length=2000,
        validators=[http_url_validator],
        help_text="The user's own app: every callback is POSTed here, signed.",
    )
    signing_secret = models.CharField(max_length=100, default=generate_signing_secret, editable=False)
    # After a rotation deliveries are signed with both secrets until the overlap ends.
    previous_signing_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(
        "active",
        default=True,
        db_index=True,
        help_text="Paused endpoints keep receiving callbacks; deliveries wait until it is resumed.",
    )
    default_priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL, db_index=True
    )
    priority_override = models.PositiveSmallIntegerField(
        choices=Priority.choices,
        null=True,
        blank=True,
        help_text="When set, every callback gets this priority, whatever the rules say.",
    )
    use_payment_rules = models.BooleanField(
        default=True,
        help_text="Failed payments go URGENT, high values HIGH, informational callbacks LOW.",
    )
    high_value_threshold = models.DecimalField(
        "high-value threshold (KES)",
        max_digits=14,
        decimal_places=2,
        default=Decimal("100000"),
        validators=[MinValueValidator(Decimal("0"), "The high-value threshold cannot be negative.")],
        help_text="Payments of at least this amount are delivered with HIGH priority.",
    )
    validation_url = models.CharField(
        "C2B validation URL",
        max_length=2000,
        blank=True,
        validators=[http_url_validator],
        help_text="Where C2B validation requests are forwarded, synchronously, for an accept/reject answer.",
    )
    validation_fallback = models.CharField(
        max_length=8,
        choices=ValidationFallback.choices,
        default=ValidationFallback.ACCEPT,
        help_text="What M-Pesa is told when the validation URL does not answer in time or answers garbage.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=default_max_attempts,
        validators=[
            MinValueValidator(1, "Allow at least 1 attempt (the first delivery)."),
            MaxValueValidator(50, "50 attempts is the most allowed."),
        ],
        help_text="Attempts per delivery, the first included (attempt 1 is immediate).",
    )
    initial_delay_seconds = models.FloatField(
        "initial delay (seconds)",
        default=default_initial_delay,
        validators=[MinValueValidator(0, "The delay before the first retry cannot be negative.")],
        help_text="Wait before the first retry; each later retry waits longer by the multiplier.",
    )
    backoff_multiplier = models.FloatField(
        default=default_multiplier,
        validators=[
            MinValueValidator(1, "The multiplier must be 1 or more (1 keeps the delay the same)."),
            MaxValueValidator(10, "A multiplier above 10 grows delays too fast to be useful."),
        ],
    )
    max_delay_seconds = models.FloatField(
        "max delay (seconds)",
        default=default_max_delay,
        validators=[
            MinValueValidator(0, "The longest delay cannot be negative."),
            MaxValueValidator(7 * 24 * 3600, "The longest delay is at most 7 days."),
        ],
        help_text="No retry waits longer than this, whatever the multiplier or a Retry-After header says.",
    )
    timeout_seconds = models.FloatField(
        "request timeout (seconds)",
        default=default_timeout,
        validators=[
            MinValueValidator(0.1, "The request timeout must be more than 0 seconds."),
            MaxValueValidator(120, "The request timeout is at most 120 seconds."),
        ],
    )
    max_in_flight = models.PositiveSmallIntegerField(
        "max deliveries in flight",
        default=default_max_in_flight,
        validators=[
            MinValueValidator(1, "Allow at least 1 delivery in flight."),
            MaxValueValidator(1000, "At most 1000 deliveries in flight per endpoint."),
        ],
        help_text="Deliveries sent to this app at the same time, across every worker. A slow app gets "
        "this many requests at once and no more, so it cannot hold up other users' deliveries.",
    )
    paused_reason = models.CharField(max_length=200, blank=True, help_text="Why the endpoint was paused.")
    paused_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id", "id"]
        verbose_name = "destination"
        # Support pauses and resumes destinations without being allowed to edit them (the Support group
        # of deadletter/migrations/0004 has it; webhooks/migrations/0010 moved it here).
        permissions = [("pause_endpoint", "Can pause and resume endpoints")]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="unique_destination_name"),
        ]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        for field in ("url", "validation_url"):
            value = getattr(self, field)
            if value:
                try:
                    validate_destination_url(value)
                except DestinationRefused as refused:
                    raise ValidationError({field: str(refused)}) from None
        if self.validation_url and self.merchant_id:
            other = (
                Endpoint.objects.filter(merchant_id=self.merchant_id)
                .exclude(pk=self.pk)
                .exclude(validation_url="")
                .values_list("name", flat=True)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    {
                        "validation_url": f"Destination {other!r} of this merchant already answers C2B "
                        "validation; M-Pesa waits for one answer, so only one destination may."
                    }
                )
        if (
            self.max_delay_seconds is not None
            and self.initial_delay_seconds is not None
            and self.max_delay_seconds < self.initial_delay_seconds
        ):
            raise ValidationError(
                {"max_delay_seconds": "The longest delay cannot be shorter than the initial delay."}
            )

    def active_signing_secrets(self, now) -> list[str]:
        """The secrets deliveries are signed with: the current one, and the previous during the overlap."""
        secrets = [self.signing_secret]
        if (
            self.previous_signing_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > now
        ):
            secrets.append(self.previous_signing_secret)
        return secrets

    def receives(self, kind: str) -> bool:
        """Whether a callback of ``kind`` is delivered here (an empty ``kinds`` takes every kind)."""
        return not self.kinds or kind in self.kinds

    @property
    def label(self) -> str:
        """How people name it: the user id, and the destination's name unless it is the main one."""
        return self.user_id if self.name == MAIN_DESTINATION else f"{self.user_id}/{self.name}"

    @property
    def inbound_token(self) -> str:
        return self.merchant.inbound_token

    @property
    def allow_legacy_path(self) -> bool:
        return self.merchant.allow_legacy_path

    @property
    def inbound_path(self) -> str:
        """The merchant's inbound path (every destination of a merchant shares its one door)."""
        return self.merchant.inbound_path

    @property
    def legacy_inbound_path(self) -> str:
        return self.merchant.legacy_inbound_path


def storable_amount(amount: Decimal | None) -> Decimal | None:
    """The amount if it fits ``Callback.amount`` (14 digits, 2 decimals); an absurd one is dropped."""
    if amount is None or not amount.is_finite() or abs(amount) >= Decimal("1e14"):
        return None
    return amount.quantize(Decimal("0.01"))


# The model field's choices stay as they are (changing them would be a migration); people see
# M-Pesa's names (webhooks.mpesa.kinds.KIND_LABELS) through Callback.get_kind_display.
KIND_CHOICES = [(kind.value, kind.value.replace("_", " ").capitalize()) for kind in CallbackKind]


class Callback(models.Model):
    """One callback exactly as M-Pesa sent it, kept before M-Pesa gets its answer."""

    # No index of its own: callback_duplicate_idx (merchant, kind, correlation id, received at) leads with it.
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="callbacks", db_index=False)
    raw_body = models.BinaryField(help_text="The request body, byte for byte; deliveries send exactly this.")
    payload = models.JSONField(help_text="The parsed body, for reading and searching.")
    headers = models.JSONField(default=dict, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)

    # What the payload says (webhooks.mpesa.extract_facts); blank where it could not be read.
    kind = models.CharField(max_length=32, choices=KIND_CHOICES, default=CallbackKind.UNKNOWN, db_index=True)
    result_code = models.CharField(max_length=32, blank=True, db_index=True)
    result_description = models.TextField(blank=True)
    is_success = models.BooleanField(null=True, blank=True)
    amount = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    receipt_number = models.CharField(max_length=64, blank=True, db_index=True)
    checkout_request_id = models.CharField(max_length=128, blank=True, db_index=True)
    merchant_request_id = models.CharField(max_length=128, blank=True, db_index=True)
    trans_id = models.CharField(max_length=64, blank=True, db_index=True)
    conversation_id = models.CharField(max_length=128, blank=True, db_index=True)
    originator_conversation_id = models.CharField(max_length=128, blank=True, db_index=True)
    transaction_time = models.DateTimeField(null=True, blank=True)
    account_reference = models.CharField(max_length=128, blank=True, db_index=True)
    phone_number_masked = models.CharField(max_length=80, blank=True)
    correlation_id = models.CharField(
        max_length=128, blank=True, db_index=True, help_text="The kind's de-duplication id."
    )

    # The same callback arriving again within the window is counted here, not delivered again.
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["merchant", "kind", "correlation_id", "received_at"], name="callback_duplicate_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} for {self.merchant.user_id}"

    def get_kind_display(self) -> str:
        """M-Pesa's name for the kind ("STK Push result"), not the stored value's."""
        return kind_label(self.kind)


class ValidationExchange(models.Model):
    """One C2B validation: the request sent to a destination's validation URL and what M-Pesa was answered.

    A synchronous exchange of its own, outside the delivery lifecycle: one
    POST within ``C2B_VALIDATION_BUDGET_SECONDS``, no retries, no dead letter,
    no effect on the destination's circuit or pause switch. Only what support
    needs to read back is kept: the status, a capped excerpt of the answer and
    why the fallback answered; never a secret.
    """

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted by the merchant"
        REJECTED = "rejected", "Rejected by the merchant"
        FALLBACK = "fallback", "No usable answer: the fallback answered"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="validation_exchanges")
    destination = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="validation_exchanges")
    callback = models.OneToOneField(Callback, on_delete=models.CASCADE, related_name="validation_exchange")
    webhook_id = models.CharField(
        max_length=40, unique=True, help_text="The webhook-id header the validation request carried."
    )
    sent_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    answer_code = models.CharField(max_length=16, help_text="The ResultCode M-Pesa was answered.")
    error_category = models.CharField(max_length=32, choices=ErrorCategory.choices, blank=True)
    error_message = models.TextField(blank=True, help_text="Why the fallback answered, for engineers.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"C2B validation {self.pk} by {self.destination.user_id} ({self.get_outcome_display()})"

    @property
    def error_summary(self) -> str:
        """Why the fallback answered, in a sentence for people; ``""`` when the merchant answered."""
        if not self.error_category:
            return ""
        status = self.response_status
        if self.error_category == ErrorCategory.INVALID_RESPONSE and status and 200 <= status <= 299:
            return f"The validation URL answered {status} without an accept or reject ResultCode"
        return errors.error_summary(self.error_category, status, self.error_message)
