from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Users' endpoints, the inbound M-Pesa door, and the callbacks it keeps."""

    name = "webhooks"
    verbose_name = "Endpoints and callbacks"
