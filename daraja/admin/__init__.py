"""The admin pages support staff work in, for every app's models.

Django's admin autodiscovery imports this package (``daraja`` is an
installed app); each module registers its pages. They sit above the apps
(docs/ARCHITECTURE.md, "Layers"): a page may show a callback with its
deliveries and dead letters, so no app's own package holds one.
"""

from daraja.admin import (  # noqa: F401 (registered on import)
    api_keys,
    callbacks,
    dead_letters,
    deliveries,
    destinations,
    merchants,
    validation_exchanges,
)
