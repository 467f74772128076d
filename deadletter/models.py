"""Dead letters: deliveries that gave up, each waiting for a person to retry or purge it."""

from django.db import models

from daraja.core.error_categories import ErrorCategory


class DeadLetter(models.Model):
    """One time a delivery gave up. Resolved (retried or purged) letters stay as history.

    A delivery has at most one unresolved dead letter; a delivery retried
    from the queue that gives up again gets a new one.
    """

    class Resolution(models.TextChoices):
        RETRIED = "retried", "Retried"
        PURGED = "purged", "Purged"

    delivery = models.ForeignKey("delivery.Delivery", on_delete=models.CASCADE, related_name="dead_letters")
    endpoint = models.ForeignKey("webhooks.Endpoint", on_delete=models.PROTECT, related_name="dead_letters")
    callback = models.ForeignKey("webhooks.Callback", on_delete=models.CASCADE, related_name="dead_letters")
    error_category = models.CharField(max_length=32, choices=ErrorCategory.choices, db_index=True)
    last_error = models.TextField(blank=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(help_text="Attempts made in the cycle that gave up.")
    dead_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-dead_at"]
        # The dead-letter queue's operations, on the queue support staff work on (the Support group
        # of deadletter/migrations/0004 may retry, never purge).
        permissions = [
            ("retry_deadletter", "Can retry dead letters and waiting deliveries"),
            ("purge_deadletter", "Can purge dead letters (take them out of the queue for good)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_dead_letter_per_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.pk} of {self.endpoint.user_id}: {self.get_error_category_display()}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
