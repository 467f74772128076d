"""Admin for the dead-letter queue: browse by error category, retry in bulk."""

from django.contrib import admin
from django.utils.translation import ngettext

from deadletter.models import DeadLetter
from deadletter.services import dead_letters_retry


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Waiting in the queue"), ("resolved", "Retried or purged"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return None


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "delivery",
        "error_category",
        "last_response_status",
        "attempts",
        "dead_at",
        "resolution",
    )
    list_filter = (OpenFilter, "error_category", "last_response_status", "dead_at")
    list_select_related = ("endpoint", "delivery")
    search_fields = ("=delivery__webhook_id", "=delivery__id", "endpoint__user_id")
    date_hierarchy = "dead_at"
    readonly_fields = (
        "delivery",
        "endpoint",
        "callback",
        "error_category",
        "last_error",
        "last_response_status",
        "attempts",
        "dead_at",
        "resolved_at",
        "resolution",
    )
    fields = readonly_fields
    actions = ("retry_selected",)

    @admin.action(description="Retry selected dead letters", permissions=["view"])
    def retry_selected(self, request, queryset):
        count = dead_letters_retry(dead_letter_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext("%d delivery sent back to the queue.", "%d deliveries sent back to the queue.", count)
            % count,
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
