"""The claim's candidate query, in SQL that Postgres and SQLite both run.

Built from table names and integers only (never from input); every value is a parameter.
"""

from __future__ import annotations

from delivery.priority import Priority

_IN_FLIGHT = """
    SELECT endpoint_id, COUNT(*) AS n FROM {delivery}
    WHERE status = 'delivering' AND lease_expires_at > %s GROUP BY endpoint_id
"""
# Endpoints whose deliveries are not claimed now: paused, or with every slot taken.
_BLOCKED = """
    SELECT id FROM {endpoint} WHERE NOT is_active
    UNION ALL
    SELECT f.endpoint_id FROM in_flight f JOIN {endpoint} e ON e.id = f.endpoint_id
    WHERE f.n >= e.max_in_flight
"""
# Due: waiting for a first attempt or a retry whose time has come (the partial delivery_claim_idx).
_DUE = """
    SELECT id, endpoint_id, priority FROM {delivery}
    WHERE status IN ('pending', 'retrying') AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
      AND endpoint_id NOT IN (SELECT id FROM blocked)
"""
# Each endpoint's candidates are numbered; no more are taken than its free slots.
_CLAIMABLE = """
    WITH in_flight AS ({in_flight}),
    blocked AS ({blocked}),
    ranked AS (
        SELECT c.id, c.endpoint_id, c.priority,
               ROW_NUMBER() OVER (PARTITION BY c.endpoint_id ORDER BY c.priority DESC, c.id) AS place
        FROM ({scanned}) c
    )
    SELECT r.id, e.timeout_seconds FROM ranked r
    JOIN {endpoint} e ON e.id = r.endpoint_id
    LEFT JOIN in_flight f ON f.endpoint_id = r.endpoint_id
    WHERE r.place + COALESCE(f.n, 0) <= e.max_in_flight
    ORDER BY r.priority DESC, r.id
    LIMIT %s
"""
# How many due rows, per wanted row, the claim looks at before the per-endpoint caps thin them out.
SCAN_FACTOR = 4


def due_candidates_sql(
    *, delivery_table: str, endpoint_table: str, limit: int, every_priority: bool, at
) -> tuple[str, list]:
    """The query and its parameters: (id, endpoint timeout) of up to ``limit`` claimable deliveries.

    Most urgent first, oldest first within a priority; with ``every_priority``
    each priority gets a quarter of ``limit`` first, oldest first, so a stream
    of urgent work never starves low priority.
    """
    due = _DUE.format(delivery=delivery_table)
    if every_priority:
        share = max(1, limit // len(Priority))
        parts = " UNION ALL ".join(
            f"SELECT * FROM ({due} AND priority = {int(level)} ORDER BY id LIMIT {share}) p{int(level)}"
            for level in sorted(Priority, reverse=True)
        )
        scanned, due_params = f"SELECT * FROM ({parts}) s", [at] * len(Priority)
    else:
        scanned, due_params = (
            f"SELECT * FROM ({due} ORDER BY priority DESC, id LIMIT {int(limit) * SCAN_FACTOR}) s",
            [at],
        )
    sql = _CLAIMABLE.format(
        in_flight=_IN_FLIGHT.format(delivery=delivery_table),
        blocked=_BLOCKED.format(endpoint=endpoint_table),
        scanned=scanned,
        endpoint=endpoint_table,
    )
    return sql, [at, *due_params, int(limit)]
