"""Admin for endpoints (users) and the callbacks they received."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from daraja.admin_tools import ObjectActionsMixin, log_admin_action
from daraja.masking import redact_url
from delivery.admin import status_badge
from webhooks.inbound import parse_json_object
from webhooks.models import Endpoint
from webhooks.priorities import Priority
from webhooks.services import (
    ENDPOINT_SETTINGS,
    callback_receive,
    endpoint_create_or_update,
    endpoint_rotate_secret,
    endpoint_set_active,
)
from webhooks.signing_secrets import secret_hint
from webhooks.views import sample_stk_callback

PAUSE_PERMISSION = "deadletter.pause_endpoint"
SECRET_PAGE = "admin/webhooks/endpoint/secret_once.html"  # noqa: S105 - a template name


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active (delivering)"), ("paused", "Paused (deliveries wait)"))

    def queryset(self, request, queryset):
        if self.value() in ("active", "paused"):
            return queryset.filter(is_active=self.value() == "active")
        return None


@admin.register(Endpoint)
class EndpointAdmin(ObjectActionsMixin, admin.ModelAdmin):
    list_display = ("user_id", "destination", "state", "default_priority", "retry_settings", "circuit_state")
    list_filter = (ActiveFilter, "default_priority", "circuit_state")
    search_fields = ("user_id", "url")
    search_help_text = "User id or delivery URL (part of it is enough)."
    readonly_fields = (
        "destination",
        "validation_destination",
        "state",
        "priority_override",
        "use_payment_rules",
        "high_value_threshold",
        "validation_url",
        "validation_fallback",
        "allow_legacy_path",
        "signing_secret_hint",
        "inbound_path",
        "paused_reason",
        "paused_at",
        "circuit_state",
        "consecutive_failures",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("user_id", "url", "state", "paused_reason", "default_priority", "inbound_path")}),
        (
            "Delivery settings",
            {
                "description": "How hard the relay tries to reach this user's app before a delivery goes "
                "to the dead-letter queue. Attempt 1 is immediate; each retry waits longer: the initial "
                "delay, times the multiplier after every failure, never more than the max delay. "
                "Deliveries over the max in flight wait their turn; no attempt is charged for waiting.",
                "fields": (
                    "max_attempts",
                    "initial_delay_seconds",
                    "backoff_multiplier",
                    "max_delay_seconds",
                    "timeout_seconds",
                    "max_in_flight",
                ),
            },
        ),
        (
            "M-Pesa (set with the add_endpoint command)",
            {
                "classes": ("collapse",),
                "fields": (
                    "priority_override",
                    "use_payment_rules",
                    "high_value_threshold",
                    "validation_url",
                    "validation_fallback",
                    "allow_legacy_path",
                ),
            },
        ),
        ("Signing", {"fields": ("signing_secret_hint",)}),
        ("Health", {"fields": ("circuit_state", "consecutive_failures", "paused_at")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("pause", "resume", "rotate_secret", "send_test_delivery")
    object_actions = ("pause", "resume", "send_test_delivery", "rotate_secret")

    def get_search_fields(self, request):
        # Searching the full URL would let a reader who may not see it guess its secrets piece by piece.
        return self.search_fields if self.has_change_permission(request) else ("user_id",)

    def get_fieldsets(self, request, obj=None):
        """The full URLs only for those who may change the endpoint; the others see them redacted."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        shown = {"url": "destination", "validation_url": "validation_destination"}
        return [
            (name, {**options, "fields": tuple(shown.get(field, field) for field in options["fields"])})
            for name, options in fieldsets
        ]

    @admin.display(description="delivery URL", ordering="url")
    def destination(self, obj):
        """The URL without its credentials or query string (``[redacted]`` in their place)."""
        return redact_url(obj.url) if obj.url else "-"

    @admin.display(description="validation URL")
    def validation_destination(self, obj):
        return redact_url(obj.validation_url) if obj.validation_url else "-"

    def get_readonly_fields(self, request, obj=None):
        # The user id is part of the URL registered with M-Pesa: changing it would break that URL.
        return (*self.readonly_fields, "user_id") if obj else self.readonly_fields

    def object_action_applies(self, name, obj) -> bool:
        if name == "pause":
            return obj.is_active
        if name == "resume":
            return not obj.is_active
        return True

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm(PAUSE_PERMISSION)

    @admin.display(description="state", ordering="is_active")
    def state(self, obj):
        if obj.is_active:
            return status_badge("delivered", "Active")
        return status_badge("held", f"Paused: {obj.paused_reason}" if obj.paused_reason else "Paused")

    @admin.display(description="retries")
    def retry_settings(self, obj):
        return (
            f"{obj.max_attempts} attempts, {obj.initial_delay_seconds:g} s, x{obj.backoff_multiplier:g} "
            f"(max {obj.max_delay_seconds:g} s), timeout {obj.timeout_seconds:g} s"
        )

    @admin.display(description="signing secret")
    def signing_secret_hint(self, obj):
        return secret_hint(obj.signing_secret) if obj.pk else "Generated when the endpoint is saved."

    def save_model(self, request, obj, form, change):
        settings = {name: form.cleaned_data[name] for name in ENDPOINT_SETTINGS if name in form.cleaned_data}
        saved, _ = endpoint_create_or_update(user_id=obj.user_id, **settings)
        obj.pk, obj.signing_secret, obj._state.adding = saved.pk, saved.signing_secret, False

    def response_add(self, request, obj, post_url_continue=None):
        # The one time the secret is shown: the merchant needs it to verify deliveries. It is put
        # on this page only, never in a message (messages may be kept in a cookie).
        return self._secret_page(request, [(obj, obj.signing_secret)], created=True)

    def _secret_page(self, request, secrets, *, created=False):
        context = {
            **self.admin_site.each_context(request),
            "title": "Signing secret: copy it now",
            "opts": self.opts,
            "secrets": secrets,
            "created": created,
        }
        response = TemplateResponse(request, SECRET_PAGE, context)
        response["Cache-Control"] = "no-store"  # the secret must not be kept by the browser or a proxy
        return response

    @admin.action(description="Pause selected endpoints (deliveries wait)", permissions=["pause"])
    def pause(self, request, queryset):
        paused = [endpoint for endpoint in queryset if endpoint_set_active(endpoint=endpoint, active=False)]
        log_admin_action(request, paused, "Paused: deliveries wait until it is resumed.")
        count = len(paused)
        self.message_user(request, ngettext("%d endpoint paused.", "%d endpoints paused.", count) % count)

    @admin.action(description="Resume selected endpoints (waiting deliveries go out)", permissions=["pause"])
    def resume(self, request, queryset):
        resumed = [endpoint for endpoint in queryset if endpoint_set_active(endpoint=endpoint, active=True)]
        log_admin_action(request, resumed, "Resumed: waiting deliveries sent.")
        count = len(resumed)
        self.message_user(request, ngettext("%d endpoint resumed.", "%d endpoints resumed.", count) % count)

    @admin.action(description="Rotate signing secret (new secret shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        secrets = [(endpoint, endpoint_rotate_secret(endpoint=endpoint)) for endpoint in queryset]
        log_admin_action(request, [endpoint for endpoint, _ in secrets], "Signing secret rotated.")
        return self._secret_page(request, secrets)

    @admin.action(description="Send a test delivery (a sample STK payment of KES 1)", permissions=["change"])
    def send_test_delivery(self, request, queryset):
        for endpoint in queryset:
            raw_body = json.dumps(sample_stk_callback()).encode()
            delivery = callback_receive(
                endpoint=endpoint,
                raw_body=raw_body,
                payload=parse_json_object(raw_body),  # phone numbers masked, as at the door
                headers={"Content-Type": "application/json", "User-Agent": "daraja-relay-admin-test"},
                source_ip=None,
                priority_override=Priority.HIGH,
            )
            log_admin_action(request, [endpoint], f"Test delivery {delivery.pk} queued.")
            self.message_user(
                request,
                format_html(
                    'Test delivery for {} queued: <a href="{}">delivery {}</a>{}.',
                    endpoint.user_id,
                    reverse("admin:delivery_delivery_change", args=[delivery.pk]),
                    delivery.pk,
                    "" if endpoint.is_active else " (held: the endpoint is paused)",
                ),
                messages.SUCCESS,
            )


# The callbacks' admin lives in its own module (this one would pass ~300 lines); importing it registers it.
from webhooks import admin_callbacks  # noqa: E402, F401
