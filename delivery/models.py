"""A delivery (one callback to one endpoint, with its overall state), its attempts, and each
destination's circuit breaker.

The database row is the truth of a delivery's state; the RQ job carries only
the delivery's id. See docs/ARCHITECTURE.md for the state machine.
"""

import uuid

from django.db import models

from daraja.core.error_categories import ErrorCategory
from delivery.priority import Priority, PriorityReason


def new_webhook_id() -> str:
    """The Standard Webhooks message id: stable across every retry of one delivery."""
    return f"msg_{uuid.uuid4().hex}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead-lettered"
        HELD = "held", "Held (endpoint paused or circuit open)"

    callback = models.ForeignKey("webhooks.Callback", on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey("webhooks.Endpoint", on_delete=models.PROTECT, related_name="deliveries")
    webhook_id = models.CharField(max_length=40, unique=True, default=new_webhook_id, editable=False)
    # No single-column indexes on status, priority or next_attempt_at: the partial claim index and
    # delivery_due_idx below serve every query that filters on them (docs/operations.md, "Indexes").
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)
    priority_reason = models.CharField(max_length=32, choices=PriorityReason.choices)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts made, all cycles together.")
    cycle = models.PositiveIntegerField(
        default=1, help_text="1 for the first round of attempts; +1 each time it is retried from the DLQ."
    )
    cycle_attempt_count = models.PositiveIntegerField(
        default=0, help_text="Attempts made in the current cycle (the endpoint's max attempts bounds these)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_delivering_at = models.DateTimeField(null=True, blank=True)
    # The claim (delivery.lifecycle): who holds a "delivering" row, and until when. A lease that runs out
    # (its worker died) makes the row claimable again; an outcome is recorded only under its own token.
    lease_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_category = models.CharField(max_length=32, choices=ErrorCategory.choices, blank=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The sweeper, the admin's status filter and the "oldest due" gauge.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            # The claim: waiting deliveries, most urgent first, oldest first within a priority.
            models.Index(
                fields=["-priority", "id"],
                name="delivery_claim_idx",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
            # Per-endpoint in-flight counts and expired leases, over the few rows in flight.
            models.Index(
                fields=["endpoint", "lease_expires_at"],
                name="delivery_inflight_idx",
                condition=models.Q(status="delivering"),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} to {self.endpoint.user_id} ({self.get_status_display()})"

    @property
    def queue_name(self) -> str:
        return Priority(self.priority).queue_name


class DeliveryAttempt(models.Model):
    """One HTTP POST to the user's app, whatever came of it."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"
        DEAD_LETTERED = "dead_lettered", "Dead-lettered"
        HELD = "held", "Held (endpoint paused)"
        PROBE_FAILED = "probe_failed", "Probe failed (still held, no attempt charged)"

    # No index of its own: unique_attempt_number (delivery, attempt_number) leads with it.
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    attempt_number = models.PositiveIntegerField(help_text="1-based, counted over all cycles.")
    cycle = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error_category = models.CharField(max_length=32, choices=ErrorCategory.choices, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["delivery_id", "attempt_number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "attempt_number"], name="unique_attempt_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt_number} of delivery {self.delivery_id}"


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed (delivering)"
    OPEN = "open", "Open (holding deliveries, probing)"


class Circuit(models.Model):
    """A destination's circuit breaker (``delivery.circuit``): one row per destination, made with it.

    Its own row, not columns of the destination: delivery writes it on every
    failure and probe, and the destination's settings belong to whoever
    edits them. Every change is a conditional UPDATE, so every worker on
    every host agrees on the state.
    """

    endpoint = models.OneToOneField(
        "webhooks.Endpoint", on_delete=models.CASCADE, primary_key=True, related_name="circuit"
    )
    state = models.CharField(
        "circuit state", max_length=8, choices=CircuitState.choices, default=CircuitState.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    failed_probes = models.PositiveIntegerField(
        default=0, help_text="Failed probes since the circuit opened."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"circuit of destination {self.endpoint_id} ({self.state})"
