"""The dead-letter admin's pages beyond the list: retry (a selection, or everything a filter
matches, after a confirmation that states how many), purge after a confirmation, the failure
analysis. Each is called by ``daraja.admin.dead_letters.DeadLetterAdmin`` with the model admin."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import ngettext

from daraja.admin.deliveries import warn_about_blocked_endpoints
from daraja.admin.tools import log_admin_action
from daraja.core.error_categories import ErrorCategory
from deadletter.analysis import failure_breakdown
from deadletter.models import DeadLetter
from deadletter.services import dead_letters_purge
from delivery.services import dead_letters_retry
from webhooks.mpesa.kinds import KIND_LABEL_CHOICES

ANALYSIS_WINDOWS = ((24, "Last 24 hours"), (7 * 24, "Last 7 days"))
CONFIRMATION_PREVIEW_ROWS = 50


def _resolved_now(ids: list[int], resolution: str, since) -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(pk__in=ids, resolution=resolution, resolved_at__gte=since)


def retry_and_report(model_admin, request, open_letters: QuerySet[DeadLetter], *, limit: int | None = None):
    """Retry ``open_letters`` (oldest first, at most ``limit``), log each one retried, say how many."""
    started = timezone.now()
    ids = list(open_letters.order_by("dead_at", "pk").values_list("pk", flat=True)[:limit])
    queued = dead_letters_retry(dead_letter_ids=ids)
    log_admin_action(
        request,
        _resolved_now(ids, DeadLetter.Resolution.RETRIED, started),
        "Retried from the dead-letter queue.",
    )
    model_admin.message_user(
        request,
        ngettext("%d delivery sent back to the queue.", "%d deliveries sent back to the queue.", queued)
        % queued,
        messages.SUCCESS,
    )
    warn_about_blocked_endpoints(
        model_admin, request, DeadLetter.objects.filter(pk__in=ids).values_list("delivery_id", flat=True)
    )
    return queued


def purge_with_confirmation(model_admin, request, queryset: QuerySet[DeadLetter]):
    """First a page listing what will be purged; purged once that page's form is sent (``post=yes``)."""
    open_letters = queryset.filter(resolved_at__isnull=True)
    if request.POST.get("post") == "yes":
        started = timezone.now()
        ids = list(open_letters.values_list("pk", flat=True))
        purged = dead_letters_purge(dead_letter_ids=ids)
        purged_now = _resolved_now(ids, DeadLetter.Resolution.PURGED, started)
        log_admin_action(request, purged_now, "Purged from the dead-letter queue.")
        model_admin.message_user(
            request,
            ngettext("%d dead letter purged.", "%d dead letters purged.", purged) % purged,
            messages.SUCCESS,
        )
        return None
    select_across = request.POST.get("select_across") == "1"
    count = open_letters.count()
    changelist_url = reverse("admin:deadletter_deadletter_changelist")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Purge dead letters?",
        "opts": model_admin.opts,
        "count": count,
        "preview": open_letters.select_related("endpoint", "callback")[:CONFIRMATION_PREVIEW_ROWS],
        "ids": [] if select_across else list(open_letters.values_list("pk", flat=True)),
        "select_across": select_across,
        "form_action": f"{changelist_url}?{request.GET.urlencode()}" if select_across else changelist_url,
        "cancel_url": changelist_url,
    }
    return TemplateResponse(request, "admin/deadletter/deadletter/purge_confirmation.html", context)


def retry_matching(model_admin, request):
    """``retry-matching/?<the list's filters>``: GET states how many open letters match, POST retries them."""
    if not model_admin.has_retry_permission(request):
        raise PermissionDenied
    changelist_url = reverse("admin:deadletter_deadletter_changelist")
    query = request.GET.urlencode()
    try:
        matching = model_admin.get_changelist_instance(request).get_queryset(request)
    except IncorrectLookupParameters:
        model_admin.message_user(
            request, "Those filters do not make sense; nothing was retried.", messages.ERROR
        )
        return HttpResponseRedirect(changelist_url)
    open_letters = matching.filter(resolved_at__isnull=True)
    limit = settings.DEADLETTER_ADMIN_RETRY_LIMIT
    if request.method == "POST":
        retry_and_report(model_admin, request, open_letters, limit=limit)
        return HttpResponseRedirect(f"{changelist_url}?{query}" if query else changelist_url)
    count = open_letters.count()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Retry everything matching this filter?",
        "opts": model_admin.opts,
        "count": count,
        "limit": limit,
        "over_limit": count > limit,
        "filters": _describe_filters(request),
        "back_url": f"{changelist_url}?{query}" if query else changelist_url,
        "form_action": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/deadletter/deadletter/retry_matching.html", context)


def _describe_filters(request) -> list[tuple[str, str]]:
    """The list's query parameters as (name, value) pairs a person can read on the confirmation page:
    "error category: Client error (4xx)", not the stored ``client_error``."""
    names = {
        "state": "state",
        "error_category__exact": "error category",
        "user_id": "user id",
        "kind": "callback kind",
        "last_response_status__exact": "HTTP status",
        "q": "search",
        "dead_at__gte": "dead since",
        "dead_at__lt": "dead before",
    }
    labels = {
        "state": {"open": "waiting in the queue", "resolved": "retried or purged", "all": "all"},
        "error_category__exact": dict(ErrorCategory.choices),
        "kind": dict(KIND_LABEL_CHOICES),
    }
    return [
        (names.get(name, name), labels.get(name, {}).get(value, value))
        for name, value in request.GET.items()
        if name not in ("o", "p")
    ]


def analysis(model_admin, request):
    """Failure analysis: dead letters by error category, by user and by HTTP status, 24 h and 7 days."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    windows = []
    for hours, label in ANALYSIS_WINDOWS:
        window = timedelta(hours=hours)
        breakdown = failure_breakdown(DeadLetter.objects.all(), window=window)
        since = timezone.localtime() - window
        windows.append({"label": label, "breakdown": breakdown, "tables": _tables(breakdown, since)})
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Failure analysis",
        "opts": model_admin.opts,
        "windows": windows,
        "changelist_url": reverse("admin:deadletter_deadletter_changelist"),
    }
    return TemplateResponse(request, "admin/deadletter/deadletter/analysis.html", context)


def _tables(breakdown, since) -> list[dict]:
    """The breakdown's four groupings as rows: label, count, bar width, and a link to those letters."""

    def rows(items, key, label, param):
        largest = max((item["count"] for item in items), default=0) or 1
        result = []
        for item in items:
            query = {"state": "all", "dead_at__gte": since.isoformat()}
            if item[key] is None:
                query[param.replace("__exact", "__isnull")] = "True"
            else:
                query[param] = item[key]
            result.append(
                {
                    "label": label(item[key]),
                    "count": item["count"],
                    "width": round(200 * item["count"] / largest),
                    "query": urlencode(query),
                }
            )
        return result

    category_label = dict(ErrorCategory.choices)
    labels = {
        item["destination_id"]: f"{item['user_id']}/{item['destination']}"
        for item in breakdown.by_destination
    }
    return [
        {
            "title": "By error category",
            "rows": rows(
                breakdown.by_error_category,
                "error_category",
                lambda value: category_label.get(value, value),
                "error_category__exact",
            ),
        },
        {"title": "By user", "rows": rows(breakdown.by_user, "user_id", str, "user_id")},
        {
            "title": "By destination",
            "rows": rows(
                breakdown.by_destination,
                "destination_id",
                lambda value: labels[value],
                "destination",
            ),
        },
        {
            "title": "By HTTP status",
            "rows": rows(
                breakdown.by_http_status,
                "http_status",
                lambda value: "no answer (network, timeout)" if value is None else str(value),
                "last_response_status__exact",
            ),
        },
    ]
