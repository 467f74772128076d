"""Admin for deliveries: find one by the ids people quote, read its timeline, retry it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import ngettext

from daraja.admin.callback_rows import CallbackKindFilter, CallbackRowAdminMixin
from daraja.admin.display import change_url, status_badge
from daraja.admin.timeline import render_timeline
from daraja.admin.tools import (
    DestinationFilter,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    RetryPermissionMixin,
    UserIdFilter,
    log_admin_action,
)
from daraja.core.humanize import plural, when
from deadletter.models import DeadLetter
from delivery.circuit import describe_circuit
from delivery.models import CircuitState, Delivery
from delivery.services import dead_letters_retry, deliveries_retry_now
from webhooks.models import Endpoint


def warn_about_blocked_endpoints(model_admin, request, delivery_ids) -> None:
    """After a retry: say plainly which of the retried deliveries wait behind a pause or an open circuit.

    Each such endpoint is named with its state in words and a link to its
    page, where "Try again now" (or "Resume") sends them.
    """
    blocked = (
        Endpoint.objects.filter(deliveries__pk__in=list(delivery_ids))
        .filter(Q(circuit__state=CircuitState.OPEN) | Q(is_active=False))
        .select_related("circuit")
    )
    for endpoint in blocked.distinct():
        action = "Resume" if not endpoint.is_active else "Try again now"
        model_admin.message_user(
            request,
            format_html(
                'Retried deliveries of {} wait, held: {} <a href="{}">Open {}</a> and use “{}” '
                "to send them as soon as the shop's app answers.",
                endpoint.user_id,
                describe_circuit(endpoint),
                change_url("webhooks.endpoint", endpoint.pk),
                endpoint.user_id,
                action,
            ),
            messages.WARNING,
        )


def _status_words(delivery: Delivery) -> str:
    """A line under a delivery's status: its attempts and what it waits for (never a held one's time)."""
    attempts = plural(delivery.attempt_count, "attempt")
    if delivery.status == Delivery.Status.RETRYING and delivery.next_attempt_at:
        return f"{attempts} · next {when(delivery.next_attempt_at)}"
    if delivery.status == Delivery.Status.HELD:
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            return f"{attempts} · waits for the endpoint to be resumed"
        if endpoint.circuit.state == CircuitState.OPEN:
            return f"{attempts} · waits for the shop's app to answer a probe"
    return attempts


class RetryActionsMixin(RetryPermissionMixin):
    """Retry now (waiting deliveries) and retry from the dead-letter queue (dead ones)."""

    def _retry_deliveries(self, request, deliveries):
        waiting = deliveries.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
        waiting_ids = list(waiting.values_list("pk", flat=True))
        queued = deliveries_retry_now(Delivery.objects.filter(pk__in=waiting_ids))
        log_admin_action(request, Delivery.objects.filter(pk__in=waiting_ids), "Retried now.")
        self.message_user(
            request, ngettext("%d delivery queued now.", "%d deliveries queued now.", queued) % queued
        )
        held = deliveries.filter(status=Delivery.Status.HELD).values_list("pk", flat=True)
        warn_about_blocked_endpoints(self, request, held)

    def _retry_dead(self, request, deliveries):
        letters = DeadLetter.objects.filter(delivery__in=deliveries, resolved_at__isnull=True)
        letter_ids = list(letters.values_list("pk", flat=True))
        delivery_ids = list(letters.values_list("delivery_id", flat=True))
        queued = dead_letters_retry(dead_letter_ids=letter_ids)
        log_admin_action(
            request, Delivery.objects.filter(pk__in=delivery_ids), "Retried from the dead-letter queue."
        )
        self.message_user(
            request,
            ngettext(
                "%d dead delivery sent back to the queue.",
                "%d dead deliveries sent back to the queue.",
                queued,
            )
            % queued,
        )
        warn_about_blocked_endpoints(self, request, delivery_ids)


@admin.register(Delivery)
class DeliveryAdmin(
    ObjectActionsMixin, RetryActionsMixin, CallbackRowAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    # Five dense columns, so the status (what support acts on) fits a 1366 px laptop; the webhook
    # id, priority and error details are on the delivery's page.
    list_display = ("number", "payment", "endpoint", "status_label", "created_at")
    list_display_links = ("number",)
    list_filter = (
        "status",
        "priority",
        UserIdFilter,
        DestinationFilter,
        CallbackKindFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("endpoint__circuit", "callback")
    search_fields = ("webhook_id",)  # shows the search box; get_search_results does the matching
    quoted_delivery_field = "pk"
    show_full_result_count = False
    fieldsets = (
        (
            "Delivery",
            {
                "fields": (
                    "endpoint",
                    "callback",
                    "status_label",
                    "webhook_id",
                    ("priority", "priority_reason"),
                    ("attempt_count", "cycle", "cycle_attempt_count"),
                    "next_attempt",
                    ("last_error_category", "last_response_status"),
                    "delivered_at",
                    "created_at",
                )
            },
        ),
        ("Timeline of every attempt", {"fields": ("timeline",)}),
        ("What M-Pesa sent (read-only)", {"fields": ("callback_payload",)}),
    )
    readonly_fields = (
        "endpoint",
        "callback",
        "status_label",
        "webhook_id",
        "priority",
        "priority_reason",
        "attempt_count",
        "cycle",
        "cycle_attempt_count",
        "next_attempt",
        "last_error_category",
        "last_response_status",
        "delivered_at",
        "created_at",
        "timeline",
        "callback_payload",
    )
    actions = ("retry_now", "retry_from_dead_letter_queue")
    object_actions = ("retry_now", "retry_from_dead_letter_queue")
    object_action_labels = {"retry_now": "Retry now", "retry_from_dead_letter_queue": "Retry"}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("callback", "endpoint__circuit")

    def object_action_applies(self, name, obj) -> bool:
        if name == "retry_now":
            return obj.status in (Delivery.Status.PENDING, Delivery.Status.RETRYING)
        return obj.status == Delivery.Status.DEAD

    @admin.display(description="delivery", ordering="pk")
    def number(self, obj):
        return obj.pk

    @admin.display(description="status", ordering="status")
    def status_label(self, obj):
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            status_badge(obj.status, obj.get_status_display()),
            _status_words(obj),
        )

    @admin.display(description="next attempt")
    def next_attempt(self, obj):
        if obj.status == Delivery.Status.HELD:
            return "none planned: held (see where it stands, at the end of the timeline)"
        if obj.status in (Delivery.Status.PENDING, Delivery.Status.RETRYING):
            return when(obj.next_attempt_at, empty="as soon as a worker is free")
        return "—"

    @admin.display(description="timeline")
    def timeline(self, obj):
        return render_timeline(obj)

    @admin.action(description="Retry now (waiting deliveries)", permissions=["retry"])
    def retry_now(self, request, queryset):
        self._retry_deliveries(request, queryset)

    @admin.action(description="Retry from the dead-letter queue (dead deliveries)", permissions=["retry"])
    def retry_from_dead_letter_queue(self, request, queryset):
        self._retry_dead(request, queryset)
