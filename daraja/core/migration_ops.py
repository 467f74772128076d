"""Migration operations that are safe on a populated Postgres database.

``CREATE INDEX`` locks a table against writes until the index is built; on a
table of millions of callbacks that stops the inbound door for minutes.
These operations build and drop indexes ``CONCURRENTLY`` on Postgres (no
write lock; the migration must say ``atomic = False``) and plainly elsewhere
(SQLite locks the whole database for any write anyway). See
docs/operations.md, "Upgrading a populated database".
"""

from __future__ import annotations

from django.db import migrations


def _add(schema_editor, model, index) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, index, concurrently=True)
    else:
        schema_editor.add_index(model, index)


def _remove(schema_editor, model, index) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, index, concurrently=True)
    else:
        schema_editor.remove_index(model, index)


class AddIndexSafely(migrations.AddIndex):
    """``AddIndex``, built ``CONCURRENTLY`` on Postgres."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _add(schema_editor, model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _remove(schema_editor, model, self.index)


class RemoveIndexSafely(migrations.RemoveIndex):
    """``RemoveIndex``, dropped ``CONCURRENTLY`` on Postgres."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _remove(schema_editor, model, index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _add(schema_editor, model, index)


class DropFieldIndexesSafely(migrations.operations.base.Operation):
    """Drop the indexes Django made for fields by itself, by their names; ``CONCURRENTLY`` on Postgres.

    ``suffix="_like"``: the ``varchar_pattern_ops`` twin Postgres gets beside
    every indexed ``CharField`` (for ``LIKE 'prefix%'``); only Postgres has
    them, and the field's plain index stays. The model state does not change
    (Django does not track these). ``suffix=""``: the field's own
    ``db_index`` index, on every database; pair it with the ``AlterField``
    that sets ``db_index=False`` in a ``SeparateDatabaseAndState``. Both use
    ``IF EXISTS``, so a retry after an interrupted run goes on where it
    stopped; going backwards builds them again (``CONCURRENTLY``,
    ``IF NOT EXISTS``).
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, fields: list[str], suffix: str = "_like") -> None:
        self.model_name = model_name
        self.fields = fields
        self.suffix = suffix

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.model_name, self.fields], {"suffix": self.suffix})

    def state_forwards(self, app_label, state):
        pass  # the state either never had these indexes (_like) or loses them in its own AlterField

    def describe(self) -> str:
        kind = "LIKE indexes" if self.suffix == "_like" else "indexes"
        return f"Drop the {kind} of {self.model_name}.{', '.join(self.fields)}"

    def _targets(self, app_label, schema_editor, state):
        if self.suffix == "_like" and schema_editor.connection.vendor != "postgresql":
            return None, []
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None, []
        table = model._meta.db_table
        columns = [model._meta.get_field(name).column for name in self.fields]
        return model, [
            (schema_editor._create_index_name(table, [column], suffix=self.suffix), column)
            for column in columns
        ]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        _, targets = self._targets(app_label, schema_editor, from_state)
        concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
        for name, _ in targets:
            schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model, targets = self._targets(app_label, schema_editor, to_state)
        concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
        opclass = " varchar_pattern_ops" if self.suffix == "_like" else ""
        quote = schema_editor.quote_name
        for name, column in targets:
            schema_editor.execute(
                f"CREATE INDEX{concurrently} IF NOT EXISTS {quote(name)} "
                f"ON {quote(model._meta.db_table)} ({quote(column)}{opclass})"
            )
