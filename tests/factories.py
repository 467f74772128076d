import factory

from webhooks.models import Endpoint


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Endpoint

    user_id = factory.Sequence(lambda n: f"user{n}")
    url = "http://127.0.0.1:9/hook"
