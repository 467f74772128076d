"""The API keys in the admin: see who has access, revoke it. Keys are created with ``create_api_key``."""

from django.contrib import admin, messages
from django.utils.translation import ngettext

from daraja.api_keys import api_keys_revoke
from daraja.models import ApiKey


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return None
        return queryset.filter(revoked_at__isnull=self.value() == "live")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Read-only but for revoking: the key itself was shown once, and its digest is never shown."""

    list_display = ["name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = [KeyStateFilter]
    search_fields = ["name", "prefix", "user_id"]
    fields = ["name", "prefix", "user_id", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="scope")
    def scope(self, api_key: ApiKey) -> str:
        return "operator (every user)" if api_key.is_operator else f"merchant {api_key.user_id}"

    def has_add_permission(self, request) -> bool:
        # A key must be shown to its owner once, which the admin's add form cannot do: use the command.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoked keys stay, so it is always possible to tell whose key made a call.
        return False

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = api_keys_revoke(queryset)
        self.message_user(
            request,
            ngettext("%d API key revoked.", "%d API keys revoked.", revoked) % revoked,
            messages.SUCCESS,
        )
