"""Admin for merchants, their destinations (``Endpoint``) and the callbacks they received."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from daraja.admin.destination_state import KIND_CHOICES, delivery_state, kinds_text
from daraja.admin.display import change_link, change_url, status_badge
from daraja.admin.tools import ObjectActionsMixin, log_admin_action
from daraja.core.humanize import plural
from daraja.core.masking import redact_url
from delivery.circuit import circuit_of
from delivery.models import CircuitState
from delivery.priority import Priority
from delivery.selectors import endpoints_with_held_counts
from delivery.try_now import endpoint_try_now
from webhooks.models import (
    MAIN_DESTINATION,
    Endpoint,
    Merchant,
    user_id_validator,
    validate_no_forbidden_word,
)
from webhooks.samples import sample_callback
from webhooks.services import (
    DELIVERY_SETTINGS,
    ENDPOINT_SETTINGS,
    MPESA_SETTINGS,
    callback_receive,
    endpoint_create_or_update,
    endpoint_rotate_secret,
    endpoint_set_active,
)
from webhooks.signing_secrets import secret_hint

PAUSE_PERMISSION = "webhooks.pause_endpoint"
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


class DestinationForm(forms.ModelForm):
    """A destination; on the add page, the merchant's user id (a new one makes the merchant)."""

    merchant_user_id = forms.CharField(
        label="user id",
        max_length=64,
        validators=[user_id_validator, validate_no_forbidden_word],
        help_text="The merchant's user id, part of the inbound URL M-Pesa calls. A new user id creates "
        "the merchant; an existing one adds this destination to it.",
    )
    kinds = forms.MultipleChoiceField(
        label="callback kinds",
        choices=KIND_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick the kinds this app receives; tick none for every kind.",
    )

    class Meta:
        model = Endpoint
        fields = ["name", "url", "kinds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["merchant_user_id"]  # an existing destination's merchant never changes


@admin.register(Endpoint)
class EndpointAdmin(ObjectActionsMixin, admin.ModelAdmin):
    form = DestinationForm
    list_display = ("destination", "delivery_state", "redacted_url")
    list_filter = (ActiveFilter, "default_priority", "circuit__state")
    search_fields = ("user_id", "name", "url")
    search_help_text = "User id, destination name or delivery URL (part of it is enough)."
    readonly_fields = (
        "merchant_link",
        "redacted_url",
        "redacted_validation_url",
        "state",
        "delivery_state",
        "held_deliveries",
        "circuit_opened_at",
        "circuit_next_probe_at",
        *MPESA_SETTINGS,
        "signing_secret_hint",
        "paused_reason",
        "paused_at",
        "circuit_state",
        "consecutive_failures",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "merchant_user_id",
                    "name",
                    "url",
                    "kinds",
                    "delivery_state",
                    "default_priority",
                )
            },
        ),
        (
            "Delivery settings",
            {
                "description": "How hard the relay tries to reach this user's app before a delivery goes "
                "to the dead-letter queue. Attempt 1 is immediate; each retry waits longer: the initial "
                "delay, times the multiplier after every failure, never more than the max delay. "
                "Deliveries over the max in flight wait their turn; no attempt is charged for waiting.",
                "fields": DELIVERY_SETTINGS,
            },
        ),
        (
            "M-Pesa (set with the add_endpoint command)",
            {
                "classes": ("collapse",),
                "fields": MPESA_SETTINGS,
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

    def get_search_fields(self, request):
        # Searching the full URL would let a reader who may not see it guess its secrets piece by piece.
        return self.search_fields if self.has_change_permission(request) else ("user_id",)

    def get_fieldsets(self, request, obj=None):
        """An existing destination's merchant as a link; the full URLs only for those who may change the
        destination (the others see them redacted)."""
        fieldsets = super().get_fieldsets(request, obj)
        shown = {}
        if obj is not None:
            shown["merchant_user_id"] = "merchant_link"
        if not self.has_change_permission(request, obj):
            shown.update(url="redacted_url", validation_url="redacted_validation_url")
        return [
            (name, {**options, "fields": tuple(shown.get(field, field) for field in options["fields"])})
            for name, options in fieldsets
        ]

    @admin.display(description="delivery URL", ordering="url")
    def redacted_url(self, obj):
        """The URL without its credentials or query string (``[redacted]`` in their place)."""
        return redact_url(obj.url) if obj.url else "-"

    @admin.display(description="validation URL")
    def redacted_validation_url(self, obj):
        return redact_url(obj.validation_url) if obj.validation_url else "-"

    def get_readonly_fields(self, request, obj=None):
        # The user id is part of the URL registered with M-Pesa: changing it would break that URL; the
        # name identifies the destination in the API and in logs.
        return (*self.readonly_fields, "merchant_link", "name") if obj else self.readonly_fields

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        merchant = Merchant.objects.filter(pk=request.GET.get("merchant") or None).first()
        if merchant is not None:
            initial["merchant_user_id"] = merchant.user_id
        initial.setdefault("name", MAIN_DESTINATION)
        return initial

    @admin.display(description="merchant")
    def merchant_link(self, obj):
        return change_link("webhooks.merchant", obj.merchant_id, obj.user_id)

    @admin.display(description="callback kinds")
    def kinds_shown(self, obj):
        return kinds_text(obj.kinds)

    def object_action_applies(self, name, obj) -> bool:
        if name == "pause":
            return obj.is_active
        if name == "resume":
            return not obj.is_active
        if name == "try_now":
            return obj.is_active and circuit_of(obj).state == CircuitState.OPEN
        return True

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm(PAUSE_PERMISSION)

    @admin.display(description="destination", ordering="user_id")
    def destination(self, obj):
        """The merchant's user id and the destination's name, with the kinds it receives below."""
        return format_html("{}<br><small>{}</small>", obj.label, kinds_text(obj.kinds))

    @admin.display(description="state", ordering="is_active")
    def state(self, obj):
        if obj.is_active:
            return status_badge("delivered", "Active")
        return status_badge("held", f"Paused: {obj.paused_reason}" if obj.paused_reason else "Paused")

    @admin.display(description="delivery state", ordering="circuit__state")
    def delivery_state(self, obj):
        return delivery_state(obj)

    @admin.display(description="circuit state", ordering="circuit__state")
    def circuit_state(self, obj):
        return circuit_of(obj).get_state_display()

    @admin.display(description="consecutive failures")
    def consecutive_failures(self, obj):
        return circuit_of(obj).consecutive_failures

    @admin.display(description="circuit opened at")
    def circuit_opened_at(self, obj):
        return circuit_of(obj).opened_at

    @admin.display(description="circuit next probe at")
    def circuit_next_probe_at(self, obj):
        return circuit_of(obj).next_probe_at

    @admin.display(description="held deliveries")
    def held_deliveries(self, obj):
        held = getattr(obj, "held_deliveries", 0)
        if not held:
            return "none"
        url = reverse("admin:delivery_delivery_changelist") + f"?status__exact=held&destination={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, plural(held, "delivery", "deliveries"))

    @admin.display(description="signing secret")
    def signing_secret_hint(self, obj):
        return secret_hint(obj.signing_secret) if obj.pk else "Generated when the endpoint is saved."

    def save_model(self, request, obj, form, change):
        settings = {name: form.cleaned_data[name] for name in ENDPOINT_SETTINGS if name in form.cleaned_data}
        user_id = obj.user_id if change else form.cleaned_data["merchant_user_id"]
        saved, _ = endpoint_create_or_update(user_id=user_id, destination=obj.name, **settings)
        obj.pk, obj.signing_secret, obj._state.adding = saved.pk, saved.signing_secret, False
        obj.user_id, obj.merchant = saved.user_id, saved.merchant

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
            kept = callback_receive(
                sample_callback(
                    merchant=endpoint.merchant,
                    destinations=[endpoint],
                    user_agent="daraja-relay-admin-test",
                    priority_override=Priority.HIGH,
                    every_kind=True,  # a test goes to this destination whatever kinds it receives
                )
            )
            delivery = kept.delivery
            log_admin_action(request, [endpoint], f"Test delivery {delivery.pk} queued.")
            self.message_user(
                request,
                format_html(
                    'Test delivery for {} queued: <a href="{}">delivery {}</a>{}.',
                    endpoint.label,
                    change_url("delivery.delivery", delivery.pk),
                    delivery.pk,
                    "" if endpoint.is_active else " (held: the endpoint is paused)",
                ),
                messages.SUCCESS,
            )
