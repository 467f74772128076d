from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    """Deliveries, their attempts, the RQ jobs and the HTTP transport."""

    name = "delivery"
    verbose_name = "Delivery"  # not "Deliveries": the breadcrumb would read "Deliveries > Deliveries"

    def ready(self) -> None:
        from delivery import checks  # noqa: F401  registers the system checks
