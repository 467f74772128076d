from django.apps import AppConfig


class DarajaConfig(AppConfig):
    """The project itself as an app: it owns project-wide commands (``runrelay``) and health views."""

    name = "daraja"
    verbose_name = "Daraja relay"
