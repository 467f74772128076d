"""Admin for endpoints (users) and the callbacks they received."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import ngettext

from delivery.models import Delivery
from webhooks.models import Callback, Endpoint
from webhooks.services import endpoint_rotate_secret, endpoint_set_active
from webhooks.signing_secrets import secret_hint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("user_id", "url", "is_active", "default_priority", "max_attempts", "timeout_seconds")
    list_filter = ("is_active", "default_priority")
    search_fields = ("user_id", "url")
    readonly_fields = ("signing_secret_hint", "inbound_path", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("user_id", "url", "is_active", "default_priority", "inbound_path")}),
        (
            "Retry settings",
            {
                "fields": (
                    "max_attempts",
                    "initial_delay_seconds",
                    "backoff_multiplier",
                    "max_delay_seconds",
                    "timeout_seconds",
                )
            },
        ),
        ("Signing", {"fields": ("signing_secret_hint",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("pause", "resume", "rotate_secret")

    @admin.display(description="signing secret")
    def signing_secret_hint(self, obj):
        return secret_hint(obj.signing_secret) if obj.pk else "Generated when the endpoint is saved."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # The one time the secret is shown: the merchant needs it to verify deliveries.
            self.message_user(
                request,
                f"Signing secret for {obj.user_id} (shown once, copy it now): {obj.signing_secret}",
                messages.WARNING,
            )

    @admin.action(description="Pause selected endpoints (deliveries wait)")
    def pause(self, request, queryset):
        for endpoint in queryset:
            endpoint_set_active(endpoint=endpoint, active=False)
        count = queryset.count()
        self.message_user(request, ngettext("%d endpoint paused.", "%d endpoints paused.", count) % count)

    @admin.action(description="Resume selected endpoints (waiting deliveries are sent)")
    def resume(self, request, queryset):
        for endpoint in queryset:
            endpoint_set_active(endpoint=endpoint, active=True)
        count = queryset.count()
        self.message_user(request, ngettext("%d endpoint resumed.", "%d endpoints resumed.", count) % count)

    @admin.action(description="Rotate signing secret (new secret shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(
                request, f"New signing secret for {endpoint.user_id} (shown once): {secret}", messages.WARNING
            )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("delivery_link", "status", "priority", "attempt_count", "next_attempt_at", "delivered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="delivery")
    def delivery_link(self, obj):
        return format_html('<a href="../../../delivery/delivery/{}/change/">{}</a>', obj.pk, obj.webhook_id)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "received_at", "source_ip")
    list_filter = ("received_at",)
    list_select_related = ("endpoint",)
    search_fields = ("endpoint__user_id",)
    date_hierarchy = "received_at"
    fields = ("endpoint", "received_at", "source_ip", "pretty_payload", "headers")
    readonly_fields = fields
    inlines = (DeliveryInline,)

    @admin.display(description="payload")
    def pretty_payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw_body", "payload", "headers")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
