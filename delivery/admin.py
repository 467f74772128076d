"""Admin for deliveries: status, every attempt, retry now."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import ngettext

from delivery.models import Delivery, DeliveryAttempt
from delivery.services import deliveries_retry_now


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = (
        "attempt_number",
        "cycle",
        "started_at",
        "duration_ms",
        "response_status",
        "error_category",
        "error_message",
        "outcome",
        "next_attempt_at",
        "response_excerpt",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "webhook_id",
        "endpoint",
        "status",
        "priority",
        "attempt_count",
        "last_error_category",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "priority", "last_error_category", "created_at")
    list_select_related = ("endpoint",)
    search_fields = ("=id", "=webhook_id", "endpoint__user_id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "callback",
        "endpoint",
        "webhook_id",
        "status",
        "priority",
        "priority_reason",
        "attempt_count",
        "cycle",
        "cycle_attempt_count",
        "next_attempt_at",
        "last_error_category",
        "last_response_status",
        "delivered_at",
        "created_at",
        "updated_at",
        "callback_payload",
    )
    fields = readonly_fields
    inlines = (DeliveryAttemptInline,)
    actions = ("retry_now",)

    @admin.display(description="payload")
    def callback_payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.callback.payload, indent=2, ensure_ascii=False))

    @admin.action(description="Retry selected waiting deliveries now", permissions=["view"])
    def retry_now(self, request, queryset):
        count = deliveries_retry_now(queryset)
        self.message_user(
            request, ngettext("%d delivery queued now.", "%d deliveries queued now.", count) % count
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
