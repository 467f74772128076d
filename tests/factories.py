import factory

from webhooks.models import Endpoint, Merchant


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant
        django_get_or_create = ("user_id",)

    user_id = factory.Sequence(lambda n: f"user{n}")


def _merchant(endpoint) -> Merchant:
    fields = {"user_id": endpoint.user_id, "allow_legacy_path": endpoint.allow_legacy_path}
    if endpoint.inbound_token:
        fields["inbound_token"] = endpoint.inbound_token
    return MerchantFactory(**fields)


class EndpointFactory(factory.django.DjangoModelFactory):
    """A destination; its merchant (by ``user_id``) is made too unless it exists."""

    class Meta:
        model = Endpoint

    class Params:
        allow_legacy_path = False
        inbound_token = None

    user_id = factory.Sequence(lambda n: f"user{n}")
    merchant = factory.LazyAttribute(_merchant)
    url = "http://127.0.0.1:9/hook"
