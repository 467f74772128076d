from django.apps import AppConfig
from django.db.models.signals import post_save


class WebhooksConfig(AppConfig):
    """Users' endpoints, the inbound M-Pesa door, and the callbacks it keeps."""

    name = "webhooks"
    verbose_name = "Endpoints and callbacks"

    def ready(self) -> None:
        from delivery.signals import destination_pause_requested
        from webhooks.models import Endpoint
        from webhooks.receivers import create_circuit_of_new_destination, pause_destination

        post_save.connect(
            create_circuit_of_new_destination, sender=Endpoint, dispatch_uid="circuit_of_destination"
        )
        destination_pause_requested.connect(pause_destination, dispatch_uid="pause_destination")
