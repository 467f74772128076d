"""Admin for deliveries: find one by the ids people quote, read its timeline, retry it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin, messages
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from daraja.admin.dead_letter_queries import quoted_ids_condition
from daraja.admin.tools import DestinationFilter, ObjectActionsMixin, UserIdFilter, log_admin_action
from daraja.core.humanize import plural, when
from deadletter.models import DeadLetter
from delivery.circuit import describe_circuit
from delivery.errors import error_summary_of
from delivery.models import CircuitState, Delivery, DeliveryAttempt
from delivery.services import dead_letters_retry, deliveries_retry_now
from webhooks.models import Endpoint
from webhooks.mpesa.kinds import KIND_LABEL_CHOICES

RETRY_PERMISSION = "deadletter.retry_deadletter"
LARGE_CALLBACK_FIELDS = ("callback__raw_body", "callback__payload", "callback__headers")
STATUS_TONES = {
    Delivery.Status.DELIVERED: "ok",
    Delivery.Status.DEAD: "fail",
    Delivery.Status.RETRYING: "wait",
    Delivery.Status.HELD: "wait",
}
NEXT_STEP = {
    DeliveryAttempt.Outcome.DELIVERED: "Delivered: the shop's app accepted it",
    DeliveryAttempt.Outcome.RETRY_SCHEDULED: "Failed; will try again",
    DeliveryAttempt.Outcome.DEAD_LETTERED: "Gave up: moved to the dead-letter queue",
    DeliveryAttempt.Outcome.HELD: "Held: the endpoint is paused",
    DeliveryAttempt.Outcome.PROBE_FAILED: "Probe failed: held again (no attempt used up)",
}


class CallbackKindFilter(admin.SimpleListFilter):
    """The M-Pesa callback kind (STK result, C2B confirmation, B2C result…) of the row's callback."""

    title = "callback kind"
    parameter_name = "kind"
    field_path = "callback__kind"

    def lookups(self, request, model_admin):
        return KIND_LABEL_CHOICES

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return None


def status_badge(status: str, label: str):
    return format_html('<span class="daraja-status daraja-{}">{}</span>', STATUS_TONES.get(status, ""), label)


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime | None
    title: str
    tone: str = ""
    attempt: DeliveryAttempt | None = None
    next_step: str = ""
    error_summary: str = ""


def delivery_timeline(delivery: Delivery) -> list[TimelineEvent]:
    """Everything that happened to ``delivery``, in order: received, every attempt, every
    dead-letter retry or purge, and where it stands now."""
    events = [TimelineEvent(delivery.callback.received_at, "Received from M-Pesa and stored", "info")]
    for attempt in delivery.attempts.all():
        next_step = NEXT_STEP.get(attempt.outcome, attempt.get_outcome_display())
        tone = "ok" if attempt.outcome == DeliveryAttempt.Outcome.DELIVERED else "fail"
        title = f"Attempt {attempt.attempt_number}"
        if attempt.cycle > 1:
            title += f" (round {attempt.cycle})"
        summary = error_summary_of(attempt)
        events.append(TimelineEvent(attempt.started_at, title, tone, attempt, next_step, summary))
    for dead_letter in delivery.dead_letters.all():
        if dead_letter.resolution == DeadLetter.Resolution.RETRIED:
            title = "Retried from the dead-letter queue: a new round of attempts, same webhook id"
            events.append(TimelineEvent(dead_letter.resolved_at, title, "info"))
        elif dead_letter.resolution == DeadLetter.Resolution.PURGED:
            title = "Purged from the dead-letter queue: no more attempts"
            events.append(TimelineEvent(dead_letter.resolved_at, title, "fail"))
    events.sort(key=lambda event: event.at)
    events.append(_where_it_stands(delivery))
    return events


def _where_it_stands(delivery: Delivery) -> TimelineEvent:
    status = Delivery.Status
    if delivery.status == status.DELIVERED:
        return TimelineEvent(delivery.delivered_at, "Now: delivered", "ok")
    if delivery.status == status.DEAD:
        return TimelineEvent(None, "Now: waiting in the dead-letter queue for a person to retry it", "fail")
    if delivery.status == status.RETRYING:
        return TimelineEvent(delivery.next_attempt_at, "Now: waiting for the next attempt", "wait")
    if delivery.status == status.HELD:
        return TimelineEvent(None, f"Now: held. {describe_circuit(delivery.endpoint)}", "wait")
    if delivery.status == status.DELIVERING:
        return TimelineEvent(delivery.started_delivering_at, "Now: being delivered", "wait")
    return TimelineEvent(None, "Now: waiting for a worker to send it", "wait")


def render_timeline(delivery: Delivery) -> str:
    return render_to_string(
        "admin/delivery/timeline.html", {"delivery": delivery, "events": delivery_timeline(delivery)}
    )


def pretty_json(value) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html('<pre class="daraja-payload">{}</pre>', text)


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
                reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
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


class RetryActionsMixin:
    """Retry now (waiting deliveries) and retry from the dead-letter queue (dead ones)."""

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

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
class DeliveryAdmin(ObjectActionsMixin, RetryActionsMixin, admin.ModelAdmin):
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
    search_help_text = (
        "Receipt number, CheckoutRequestID, TransID, ConversationID, webhook id (msg_…), "
        "delivery number, user id, or the last 3 digits of the phone number."
    )
    show_facets = admin.ShowFacets.NEVER
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
        queryset = super().get_queryset(request).select_related("callback", "endpoint__circuit")
        return queryset.defer(*LARGE_CALLBACK_FIELDS)

    def get_search_results(self, request, queryset, search_term):
        condition = quoted_ids_condition(search_term, callback_field="callback_id", delivery_field="pk")
        return queryset.filter(condition), False

    def object_action_applies(self, name, obj) -> bool:
        if name == "retry_now":
            return obj.status in (Delivery.Status.PENDING, Delivery.Status.RETRYING)
        return obj.status == Delivery.Status.DEAD

    @admin.display(description="kind", ordering="callback__kind")
    def kind(self, obj):
        return obj.callback.get_kind_display()

    @admin.display(description="delivery", ordering="pk")
    def number(self, obj):
        return obj.pk

    @admin.display(description="payment")
    def payment(self, obj):
        callback = obj.callback
        payment_id = callback.receipt_number or callback.checkout_request_id or callback.trans_id or "—"
        return format_html(
            '<strong>{}</strong><br><span class="quiet">{}</span>', payment_id, callback.get_kind_display()
        )

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

    @admin.display(description="payload")
    def callback_payload(self, obj):
        return pretty_json(obj.callback.payload)

    @admin.action(description="Retry now (waiting deliveries)", permissions=["retry"])
    def retry_now(self, request, queryset):
        self._retry_deliveries(request, queryset)

    @admin.action(description="Retry from the dead-letter queue (dead deliveries)", permissions=["retry"])
    def retry_from_dead_letter_queue(self, request, queryset):
        self._retry_dead(request, queryset)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
