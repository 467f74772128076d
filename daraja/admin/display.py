"""How the admin pages show what they have in common: status badges, links to a row's page, a payment in
a list cell, a JSON payload."""

from __future__ import annotations

import json

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from delivery.models import Delivery

STATUS_TONES = {
    Delivery.Status.DELIVERED: "ok",
    Delivery.Status.DEAD: "fail",
    Delivery.Status.RETRYING: "wait",
    Delivery.Status.HELD: "wait",
}


def status_badge(status: str, label: str) -> SafeString:
    """``label`` in the colour of ``status`` (a delivery status, or a tone such as ``held``)."""
    return format_html('<span class="daraja-status daraja-{}">{}</span>', STATUS_TONES.get(status, ""), label)


def change_url(model: str, pk: int) -> str:
    """The admin page of one row; ``model`` is ``"<app label>.<model name>"`` (``"delivery.delivery"``)."""
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])


def change_link(model: str, pk: int, text) -> SafeString:
    """``text`` linking to the admin page of one row (``change_url``)."""
    return format_html('<a href="{}">{}</a>', change_url(model, pk), text)


def payment_cell(callback) -> SafeString:
    """A list cell naming a row's payment: the id people quote in bold, the callback's kind below."""
    payment_id = callback.receipt_number or callback.checkout_request_id or callback.trans_id or "—"
    return format_html(
        '<strong>{}</strong><br><span class="quiet">{}</span>', payment_id, callback.get_kind_display()
    )


def pretty_json(value) -> SafeString:
    """``value`` as indented JSON in a ``<pre>`` (non-ASCII as is)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html('<pre class="daraja-payload">{}</pre>', text)
