"""API keys for the integration API (``/api/``): who may call it, and which user's data they see."""

from django.db import models

from webhooks.models import user_id_validator


class ApiKey(models.Model):
    """A key an integrator sends as ``Authorization: Bearer <key>``.

    Only a lookup prefix and a SHA-256 digest of the key are stored (see
    ``daraja.api_keys``); the key itself is shown once, when it is created.
    A key without ``user_id`` is an operator key and sees every user's data;
    a key with one is a merchant key and sees that user's data alone.
    Revoked keys stay as history and never authenticate again.
    """

    name = models.CharField(
        max_length=100, help_text="Who or what uses the key (a person, a script, a system)."
    )
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="The key's public start, to find it by."
    )
    key_digest = models.CharField(max_length=64, editable=False)
    user_id = models.CharField(
        "user id",
        max_length=64,
        blank=True,
        db_index=True,
        validators=[user_id_validator],
        help_text="Blank: an operator key (every user). Set: a merchant key limited to this user's data.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_operator(self) -> bool:
        return not self.user_id

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
