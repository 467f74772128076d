"""The categories of failure of an exchange with a merchant's app."""

from django.db import models


class ErrorCategory(models.TextChoices):
    """Why an HTTP exchange with a merchant's app failed, as ``delivery.transport`` classifies it.

    Recorded on delivery attempts, deliveries and dead letters, and acted on by
    ``delivery.policy``; shared vocabulary, so it sits in the bottom layer.
    """

    NETWORK = "network", "Network"
    TIMEOUT = "timeout", "Timeout"
    SERVER_ERROR = "server_error", "Server error (5xx)"
    CLIENT_ERROR = "client_error", "Client error (4xx)"
    RATE_LIMITED = "rate_limited", "Rate limited (429)"
    AUTHENTICATION = "authentication", "Authentication (401/403)"
    REDIRECT = "redirect", "Redirect (3xx)"
    UNEXPECTED_STATUS = "unexpected_status", "Unexpected status"
    INVALID_RESPONSE = "invalid_response", "Invalid response"
    GONE = "gone", "Gone (410): endpoint paused"
    DESTINATION_REFUSED = "destination_refused", "Destination refused (private address)"
