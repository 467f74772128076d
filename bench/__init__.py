"""The relay's benchmark harness (``make bench``, ``python -m bench``); see docs/performance.md.

Everything runs on loopback: a Redis of its own, a throwaway database
(SQLite in a temp dir, or a ``bench_<random>`` Postgres database created
and dropped when ``DATABASE_URL`` points at Postgres), gunicorn, RQ
workers, a fast recording receiver (``bench.receiver``) and an asyncio
load generator (``bench.load``). Every scenario is bounded in count and time.
"""
