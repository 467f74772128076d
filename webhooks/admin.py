"""Admin for endpoints (users) and the callbacks they received."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from daraja.admin_tools import ObjectActionsMixin, log_admin_action
from daraja.humanize import plural
from delivery.admin import status_badge
from delivery.circuit import describe_circuit
from delivery.selectors import endpoints_with_held_counts
from delivery.services import endpoint_try_now
from webhooks.models import CircuitState, Endpoint
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
    list_display = ("user_id", "delivery_state", "url")
    list_filter = (ActiveFilter, "default_priority", "circuit_state")
    search_fields = ("user_id", "url")
    search_help_text = "User id or delivery URL (part of it is enough)."
    readonly_fields = (
        "state",
        "delivery_state",
        "held_deliveries",
        "circuit_opened_at",
        "circuit_next_probe_at",
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
        (None, {"fields": ("user_id", "url", "delivery_state", "default_priority", "inbound_path")}),
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
        (
            "Health",
            {
                "description": "After repeated failures the circuit opens: deliveries are held (no attempt "
                "used up) while one probe at a time tests the shop's app. The first answer closes it and "
                "sends every held delivery. “Try again now” probes at once; a new URL closes it too.",
                "fields": (
                    "circuit_state",
                    "consecutive_failures",
                    ("circuit_opened_at", "circuit_next_probe_at"),
                    "held_deliveries",
                    ("paused_at", "paused_reason"),
                ),
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("try_now", "pause", "resume", "rotate_secret", "send_test_delivery")
    object_actions = ("try_now", "pause", "resume", "send_test_delivery", "rotate_secret")
    object_action_labels = {
        "try_now": "Try again now",
        "pause": "Pause",
        "resume": "Resume",
        "send_test_delivery": "Send a test delivery",
        "rotate_secret": "Rotate signing secret",
    }

    def get_queryset(self, request):
        return endpoints_with_held_counts(super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        # The user id is part of the URL registered with M-Pesa: changing it would break that URL.
        return (*self.readonly_fields, "user_id") if obj else self.readonly_fields

    def object_action_applies(self, name, obj) -> bool:
        if name == "pause":
            return obj.is_active
        if name == "resume":
            return not obj.is_active
        if name == "try_now":
            return obj.is_active and obj.circuit_state == CircuitState.OPEN
        return True

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm(PAUSE_PERMISSION)

    @admin.display(description="state", ordering="is_active")
    def state(self, obj):
        if obj.is_active:
            return status_badge("delivered", "Active")
        return status_badge("held", f"Paused: {obj.paused_reason}" if obj.paused_reason else "Paused")

    @admin.display(description="delivery state", ordering="circuit_state")
    def delivery_state(self, obj):
        words = describe_circuit(obj, held=getattr(obj, "held_deliveries", None))
        if not obj.is_active:
            tone, headline = "held", "Paused"
        elif obj.circuit_state == CircuitState.OPEN:
            tone, headline = "dead", "Circuit open"
        else:
            tone, headline = "delivered", "Delivering"
        return format_html("{} {}", status_badge(tone, headline), words.removeprefix(headline).lstrip(".:; "))

    @admin.display(description="held deliveries")
    def held_deliveries(self, obj):
        held = getattr(obj, "held_deliveries", 0)
        if not held:
            return "none"
        url = reverse("admin:delivery_delivery_changelist") + f"?status__exact=held&user_id={obj.user_id}"
        return format_html('<a href="{}">{}</a>', url, plural(held, "delivery", "deliveries"))

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

    @admin.action(
        description="Try again now (probe open circuits; the first answer sends every held delivery)",
        permissions=["pause"],
    )
    def try_now(self, request, queryset):
        for endpoint in queryset:
            result = endpoint_try_now(endpoint)
            log_admin_action(request, [endpoint], f"Tried again now: {result.message}")
            self.message_user(
                request, result.message, messages.SUCCESS if result.answered else messages.WARNING
            )

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
                payload=json.loads(raw_body),
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
