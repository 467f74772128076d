"""Filters for the endpoint listing."""

import django_filters

from daraja.relay_api.filters import BooleanFilter
from webhooks.models import Endpoint


class EndpointFilter(django_filters.FilterSet):
    is_active = BooleanFilter(help_text="true: active endpoints; false: paused ones.")

    class Meta:
        model = Endpoint
        fields = ["is_active"]
