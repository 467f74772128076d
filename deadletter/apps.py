from django.apps import AppConfig


class DeadletterConfig(AppConfig):
    """The dead-letter queue: deliveries that gave up, waiting for a person."""

    name = "deadletter"
    verbose_name = "Dead-letter queue"
