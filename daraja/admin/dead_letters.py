"""Admin for the dead-letter queue: browse by error category, user, kind, HTTP status and date;
retry one, a selection or everything a filter matches; purge (with a confirmation and its own
permission); the failure analysis. The pages behind the list live in ``daraja.admin.dead_letter_views``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.utils.html import format_html

from daraja.admin import dead_letter_views as admin_views
from daraja.admin.callback_rows import CallbackKindFilter, CallbackRowAdminMixin
from daraja.admin.dead_letter_queries import dead_letter_health
from daraja.admin.display import change_url
from daraja.admin.timeline import render_timeline
from daraja.admin.tools import (
    DestinationFilter,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    RetryPermissionMixin,
    UserIdFilter,
)
from daraja.core.humanize import plural
from deadletter.models import DeadLetter
from delivery.errors import error_summary

PURGE_PERMISSION = "deadletter.purge_deadletter"


class StateFilter(admin.SimpleListFilter):
    """Open letters (waiting for a person) unless asked otherwise: that is what support works on."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Waiting in the queue"), ("resolved", "Retried or purged"), ("all", "All"))

    def queryset(self, request, queryset):
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        if self.value() == "all":
            return None
        return queryset.filter(resolved_at__isnull=True)

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class HttpStatusFilter(admin.AllValuesFieldListFilter):
    """The HTTP statuses the queue holds (one query on an indexed column)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "HTTP status"


@admin.register(DeadLetter)
class DeadLetterAdmin(
    ObjectActionsMixin, RetryPermissionMixin, CallbackRowAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    # Six dense columns, so the state and the delivery link fit a 1366 px laptop; the technical
    # error, HTTP status and payload are on the letter's page.
    list_display = ("payment", "endpoint", "why", "dead_at", "state", "delivery_link")
    list_display_links = ("payment",)
    list_filter = (
        StateFilter,
        "error_category",
        UserIdFilter,
        DestinationFilter,
        CallbackKindFilter,
        ("last_response_status", HttpStatusFilter),
        ("dead_at", admin.DateFieldListFilter),
    )
    list_select_related = ("endpoint", "callback")
    search_fields = ("last_error",)  # shows the search box; get_search_results does the matching
    change_list_template = "admin/deadletter/deadletter/change_list.html"
    fieldsets = (
        (
            "Why it gave up",
            {
                "fields": (
                    "endpoint",
                    "delivery_link",
                    "callback",
                    "why",
                    "error_category",
                    "last_error",
                    "last_response_status",
                    "attempts",
                    "dead_at",
                    ("state", "resolved_at"),
                )
            },
        ),
        ("Timeline of every attempt", {"fields": ("timeline",)}),
        ("What M-Pesa sent (read-only)", {"fields": ("callback_payload",)}),
    )
    readonly_fields = (
        "why",
        "endpoint",
        "delivery_link",
        "callback",
        "error_category",
        "last_error",
        "last_response_status",
        "attempts",
        "dead_at",
        "state",
        "resolved_at",
        "timeline",
        "callback_payload",
    )
    actions = ("retry_selected", "purge_selected")
    object_actions = ("retry_selected", "purge_selected")
    object_action_labels = {"retry_selected": "Retry", "purge_selected": "Purge…"}

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "retry-matching/", view(self.retry_matching_view), name=f"{info[0]}_{info[1]}_retry_matching"
            ),
            path("analysis/", view(self.analysis_view), name=f"{info[0]}_{info[1]}_analysis"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_retry": self.has_retry_permission(request),
            "dead_letter_health": dead_letter_health(),
        }
        return super().changelist_view(request, extra_context)

    def object_action_applies(self, name, obj) -> bool:
        return obj.is_open

    def has_purge_permission(self, request) -> bool:
        return request.user.has_perm(PURGE_PERMISSION)

    @admin.display(description="why it gave up", ordering="error_category")
    def why(self, obj):
        summary = error_summary(obj.error_category, obj.last_response_status, obj.last_error)
        return format_html(
            '{}<br><span class="quiet">after {}</span>', summary, plural(obj.attempts, "attempt")
        )

    @admin.display(description="state", ordering="resolved_at")
    def state(self, obj):
        return "Waiting in the queue" if obj.is_open else obj.get_resolution_display()

    @admin.display(description="delivery")
    def delivery_link(self, obj):
        return format_html(
            '<a href="{}">open delivery {}</a>',
            change_url("delivery.delivery", obj.delivery_id),
            obj.delivery_id,
        )

    @admin.display(description="timeline")
    def timeline(self, obj):
        return render_timeline(obj.delivery)

    @admin.action(description="Retry selected dead letters", permissions=["retry"])
    def retry_selected(self, request, queryset):
        admin_views.retry_and_report(self, request, queryset.filter(resolved_at__isnull=True))

    @admin.action(description="Purge selected dead letters…", permissions=["purge"])
    def purge_selected(self, request, queryset):
        return admin_views.purge_with_confirmation(self, request, queryset)

    def retry_matching_view(self, request):
        return admin_views.retry_matching(self, request)

    def analysis_view(self, request):
        return admin_views.analysis(self, request)
