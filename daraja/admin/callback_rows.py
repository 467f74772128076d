"""What the admins of callbacks and of the rows that belong to one (deliveries, dead letters) share:
the search by the ids people quote, the callback-kind filter, the payment cell and the payload."""

from __future__ import annotations

from django.contrib import admin

from daraja.admin.dead_letter_queries import quoted_ids_condition
from daraja.admin.display import payment_cell, pretty_json
from webhooks.mpesa.kinds import KIND_LABEL_CHOICES

# The callback's large columns: never read for a list, where only its facts are shown.
LARGE_CALLBACK_FIELDS = ("callback__raw_body", "callback__payload", "callback__headers")


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


class QuotedIdsSearchMixin:
    """The search box finds rows by any id people quote (``quoted_ids_condition``), exactly.

    ``quoted_callback_field`` and ``quoted_delivery_field`` are the model's
    paths to its callback id and delivery id (``None`` on the callback itself).
    """

    quoted_callback_field = "callback_id"
    quoted_delivery_field: str | None = "delivery_id"
    search_help_text = (
        "Receipt number, CheckoutRequestID, TransID, ConversationID, webhook id (msg_…), "
        "delivery number, user id, or the last 3 digits of the phone number."
    )
    # Facet counts would count the rows of a large table on every page.
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(self, request, queryset, search_term):
        condition = quoted_ids_condition(
            search_term, callback_field=self.quoted_callback_field, delivery_field=self.quoted_delivery_field
        )
        return queryset.filter(condition), False


class CallbackRowAdminMixin(QuotedIdsSearchMixin):
    """For the rows that belong to one callback: its large columns left unread, its payment and payload."""

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*LARGE_CALLBACK_FIELDS)

    @admin.display(description="payment")
    def payment(self, obj):
        return payment_cell(obj.callback)

    @admin.display(description="payload")
    def callback_payload(self, obj):
        return pretty_json(obj.callback.payload)
