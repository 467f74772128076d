"""The authenticated integration API (``/api/``): keys, throttling, pagination, schema, shared views."""
