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
