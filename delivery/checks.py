"""System checks: delivery's requests upward are answered (``delivery.signals``)."""

from django.core.checks import Error, register

from delivery.signals import destination_pause_requested


@register()
def check_pause_is_received(app_configs, **kwargs) -> list[Error]:
    """An error when nothing pauses a destination on ``destination_pause_requested``."""
    if destination_pause_requested.has_listeners():
        return []
    return [
        Error(
            "Nothing receives delivery.signals.destination_pause_requested: a destination whose circuit "
            "stays open, or that answers 410 Gone, would never be paused.",
            hint="Install the webhooks app, whose AppConfig.ready() connects the receiver.",
            id="delivery.E001",
        )
    ]
