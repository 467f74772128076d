"""Admin for C2B validations: what each validation URL answered, when, and what M-Pesa was answered."""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.html import format_html

from daraja.admin.display import change_url
from daraja.admin.tools import UserIdFilter
from webhooks.models import ValidationExchange

OUTCOME_TONES = {
    ValidationExchange.Outcome.ACCEPTED: "ok",
    ValidationExchange.Outcome.REJECTED: "ok",  # the merchant answered: the exchange worked
    ValidationExchange.Outcome.FALLBACK: "fail",
}


def outcome_badge(exchange: ValidationExchange):
    return format_html(
        '<span class="daraja-status daraja-{}">{}</span>',
        OUTCOME_TONES.get(exchange.outcome, ""),
        exchange.get_outcome_display(),
    )


def render_validation_exchange(exchange: ValidationExchange) -> str:
    """The exchange as a timeline: received, asked (with the answer or why none), answered."""
    return render_to_string(
        "admin/webhooks/validationexchange/exchange.html",
        {"exchange": exchange, "tone": OUTCOME_TONES.get(exchange.outcome, "")},
    )


@admin.register(ValidationExchange)
class ValidationExchangeAdmin(admin.ModelAdmin):
    """Read-only: an exchange is a record of what happened, written once by the inbound door."""

    list_display = ("sent_at", "destination", "outcome_label", "answer_code", "response", "duration_ms")
    list_filter = ("outcome", UserIdFilter.on("merchant__user_id"), ("sent_at", admin.DateFieldListFilter))
    list_select_related = ("destination",)
    search_fields = ("=webhook_id", "=callback__trans_id")
    search_help_text = "webhook id (msg_…) or the payment's TransID."
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    fields = ("payment", "merchant", "destination", "webhook_id", "exchange")
    readonly_fields = fields

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, obj):
        return outcome_badge(obj)

    @admin.display(description="answer")
    def response(self, obj):
        return f"HTTP {obj.response_status}" if obj.response_status else (obj.error_category or "—")

    @admin.display(description="payment")
    def payment(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            change_url("webhooks.callback", obj.callback_id),
            obj.callback.trans_id or f"callback {obj.callback_id}",
        )

    @admin.display(description="what happened")
    def exchange(self, obj):
        return render_validation_exchange(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
