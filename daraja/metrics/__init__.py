"""``/metrics`` in the Prometheus text format, read from the database and Redis at scrape time.

Nothing is counted inside the relay's processes: every number is read when
Prometheus scrapes, from the rows (the truth) and from Redis (the queues and
the cumulative counters of ``daraja.metrics.folding``), so any gunicorn
process on any host gives the same answer. See docs/operations.md for the
metric list.
"""
