"""Admin for the callbacks M-Pesa sent: find a payment by the ids people quote, read its timeline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html, format_html_join

from daraja.admin.callback_rows import LARGE_CALLBACK_FIELDS, CallbackKindFilter, QuotedIdsSearchMixin
from daraja.admin.display import change_link, change_url, pretty_json, status_badge
from daraja.admin.timeline import render_timeline
from daraja.admin.tools import ReadOnlyAdminMixin, UserIdFilter
from daraja.admin.validation_exchanges import outcome_badge, render_validation_exchange
from delivery.models import Delivery
from delivery.priority import Priority
from webhooks.models import Callback, ValidationExchange


class DeliveryStatusFilter(admin.SimpleListFilter):
    """Callbacks whose delivery is in a given state (a subquery on the delivery's status index)."""

    title = "delivery status"
    parameter_name = "status"
    field = "status"

    def lookups(self, request, model_admin):
        return Delivery.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            matching = Delivery.objects.filter(**{self.field: self.value()}).values("callback_id")
            return queryset.filter(pk__in=matching)
        return None


class DeliveryPriorityFilter(DeliveryStatusFilter):
    title = "delivery priority"
    parameter_name = "priority"
    field = "priority"

    def lookups(self, request, model_admin):
        return [(str(value), label) for value, label in Priority.choices]


class KindFilter(CallbackKindFilter):
    """The callback's kind, by M-Pesa's names."""

    field_path = "kind"


@admin.register(Callback)
class CallbackAdmin(QuotedIdsSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Five dense columns, so the delivery status (what support acts on) fits a 1366 px laptop;
    # result code, ids and the raw payload are on the payment's own page.
    list_display = ("payment", "kind_name", "merchant", "received_at", "delivery_status")
    list_display_links = ("payment",)
    list_filter = (
        DeliveryStatusFilter,
        DeliveryPriorityFilter,
        UserIdFilter.on("merchant__user_id"),
        KindFilter,
        ("received_at", admin.DateFieldListFilter),
    )
    list_select_related = ("merchant", "validation_exchange")
    search_fields = ("receipt_number",)  # shows the search box; get_search_results does the matching
    quoted_callback_field = "pk"
    quoted_delivery_field = None
    show_full_result_count = False
    fieldsets = (
        (
            "Payment",
            {
                "fields": (
                    "merchant",
                    "received_at",
                    "kind_name",
                    ("receipt_number", "amount"),
                    ("checkout_request_id", "merchant_request_id"),
                    ("trans_id", "conversation_id"),
                    "phone",
                    ("result_code", "result_description"),
                    ("duplicate_count", "last_duplicate_at"),
                    "source_ip",
                )
            },
        ),
        ("Deliveries and every attempt (and the C2B validation)", {"fields": ("timelines",)}),
        ("What M-Pesa sent (read-only)", {"fields": ("pretty_payload", "headers")}),
    )
    readonly_fields = (
        "merchant",
        "received_at",
        "kind_name",
        "receipt_number",
        "amount",
        "checkout_request_id",
        "merchant_request_id",
        "trans_id",
        "conversation_id",
        "phone",
        "result_code",
        "result_description",
        "duplicate_count",
        "last_duplicate_at",
        "source_ip",
        "timelines",
        "pretty_payload",
        "headers",
    )

    def get_queryset(self, request):
        # The delivery shown is the first one not delivered (what support acts on), else the last one;
        # with several destinations the column also counts how many of them got it.
        deliveries = Delivery.objects.filter(callback=OuterRef("pk"))
        waiting = deliveries.exclude(status=Delivery.Status.DELIVERED).order_by("pk")
        latest = deliveries.order_by("-pk")
        counted = deliveries.order_by().values("callback")
        return (
            super()
            .get_queryset(request)
            .defer(*(name.removeprefix("callback__") for name in LARGE_CALLBACK_FIELDS))
            .annotate(
                shown_delivery_status=Coalesce(
                    Subquery(waiting.values("status")[:1]), Subquery(latest.values("status")[:1])
                ),
                shown_delivery_id=Coalesce(
                    Subquery(waiting.values("pk")[:1]), Subquery(latest.values("pk")[:1])
                ),
                deliveries_total=Subquery(counted.annotate(n=Count("pk")).values("n")[:1]),
                deliveries_delivered=Subquery(
                    counted.filter(status=Delivery.Status.DELIVERED).annotate(n=Count("pk")).values("n")[:1]
                ),
            )
        )

    @admin.display(description="payment", ordering="received_at")
    def payment(self, obj):
        payment_id = obj.receipt_number or obj.checkout_request_id or obj.trans_id or obj.conversation_id
        details = [f"KES {obj.amount:,.2f}" if obj.amount is not None else "", obj.phone_number_masked]
        return format_html(
            '<strong>{}</strong><br><span class="quiet">{}</span>',
            payment_id or f"callback {obj.pk}",
            " · ".join(part for part in details if part),
        )

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, obj):
        return obj.get_kind_display()

    @admin.display(description="phone (only the last digits are kept)")
    def phone(self, obj):
        return obj.phone_number_masked or "—"

    @admin.display(description="delivery")
    def delivery_status(self, obj):
        if obj.shown_delivery_status is None:
            exchange = getattr(obj, "validation_exchange", None)
            if exchange is not None:
                return format_html(
                    '<a href="{}">C2B validation: {}</a>',
                    change_url("webhooks.validationexchange", exchange.pk),
                    outcome_badge(exchange),
                )
            return "no destination receives it"
        label = Delivery.Status(obj.shown_delivery_status).label
        badge = change_link(
            "delivery.delivery", obj.shown_delivery_id, status_badge(obj.shown_delivery_status, label)
        )
        total = obj.deliveries_total or 0
        if total < 2:
            return badge
        return format_html(
            "{}<br><small>{} of {} destinations delivered</small>",
            badge,
            obj.deliveries_delivered or 0,
            total,
        )

    @admin.display(description="timeline")
    def timelines(self, obj):
        deliveries = (
            obj.deliveries.select_related("callback", "endpoint")
            .prefetch_related("attempts", "dead_letters")
            .order_by("pk")
        )
        parts = [
            format_html(
                '<p><a href="{}">C2B validation</a> asked of <strong>{}</strong> ({}) {}</p>{}',
                change_url("webhooks.validationexchange", exchange.pk),
                exchange.destination.name,
                exchange.webhook_id,
                outcome_badge(exchange),
                render_validation_exchange(exchange),
            )
            for exchange in ValidationExchange.objects.filter(callback=obj).select_related("destination")
        ]
        parts += [
            format_html(
                '<p><a href="{}">Delivery {}</a> to <strong>{}</strong> ({}) {}</p>{}',
                change_url("delivery.delivery", delivery.pk),
                delivery.pk,
                delivery.endpoint.name,
                delivery.webhook_id,
                status_badge(delivery.status, delivery.get_status_display()),
                render_timeline(delivery),
            )
            for delivery in deliveries
        ]
        if not parts:
            return "No delivery: none of the merchant's destinations receives this kind of callback."
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description="payload")
    def pretty_payload(self, obj):
        return pretty_json(obj.payload)
