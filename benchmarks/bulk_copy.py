"""Writing millions of rows into PostgreSQL for a benchmark, as fast as this machine allows.

Rows are plain tuples of the columns that vary; every other column gets its field's default, prepared once
as the ORM would prepare it. The tables' secondary indexes and constraints are dropped before the load and
rebuilt after it from their own definitions (so the schema ends as `migrate` made it, names included):
building an index once is far cheaper than updating it for each of ten million rows. Each table is
truncated in the loading transaction, so COPY can write its rows already frozen (VACUUM then has little
left to do).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg


@dataclass
class TableCopy:
    """How to COPY rows of `columns` (field names) into a model's table, the other columns at their defaults."""

    table: str
    sql: str
    constants: tuple

    @classmethod
    def of(cls, model, columns: list[str]) -> TableCopy:
        from django.db import connection

        blank = model()
        by_name = {f.name: f for f in model._meta.concrete_fields}
        missing = set(columns) - set(by_name)
        if missing:
            raise ValueError(f"{model.__name__} has no such columns: {sorted(missing)}")
        others = [f for f in model._meta.concrete_fields if f.name not in columns]
        # pre_save: what save() would write (auto_now stamps), then prepared as the ORM prepares it.
        constants = tuple(f.get_db_prep_save(f.pre_save(blank, True), connection) for f in others)
        names = [by_name[name].column for name in columns] + [f.column for f in others]
        quoted = ", ".join(connection.ops.quote_name(name) for name in names)
        table = model._meta.db_table
        return cls(table, f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN (FREEZE)", constants)

    def load(self, conn: psycopg.Connection, rows: Iterable[tuple]) -> int:
        """Empty the table and write `rows` into it, in one transaction (the caller commits)."""
        conn.execute(f'TRUNCATE "{self.table}"')
        written = 0
        with conn.cursor() as cursor, cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row + self.constants)
                written += 1
        return written


@dataclass
class Indexes:
    """The secondary indexes and constraints of some tables, as PostgreSQL defines them, to drop and rebuild."""

    # Table -> statements that rebuild its indexes and its unique constraints.
    own: dict[str, list[str]] = field(default_factory=dict)
    # Foreign keys from or to the tables, rebuilt once every table is loaded.
    foreign_keys: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, conn: psycopg.Connection, tables: list[str]) -> Indexes:
        indexes = cls(own={table: [] for table in tables})
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), conindid"
            " FROM pg_constraint WHERE contype IN ('f', 'u')"
            " AND (conrelid::regclass::text = ANY(%s) OR confrelid::regclass::text = ANY(%s))"
            " ORDER BY contype",  # the foreign keys dropped before the unique constraints they may need
            [tables, tables],
        ).fetchall()
        backing = set()
        for table, name, kind, definition, index in constraints:
            add = f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            (indexes.foreign_keys if kind == "f" else indexes.own[table]).append(add)
            indexes.drops.append(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            if kind == "u":
                backing.add(index)
        plain = conn.execute(
            "SELECT c.relname, i.indexrelid, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " WHERE c.relname = ANY(%s) AND NOT i.indisprimary",
            [tables],
        ).fetchall()
        for table, oid, name, definition in plain:
            if oid not in backing:
                indexes.own[table].append(definition)
                indexes.drops.append(f'DROP INDEX "{name}"')
        return indexes

    def drop(self, conn: psycopg.Connection) -> None:
        for statement in self.drops:
            conn.execute(statement)

    def rebuild(self, conn: psycopg.Connection, table: str) -> None:
        for statement in self.own[table]:
            conn.execute(statement)

    def rebuild_foreign_keys(self, conn: psycopg.Connection) -> None:
        for statement in self.foreign_keys:
            conn.execute(statement)


def load_tables(dsn: str, loads: list[tuple[TableCopy, Iterable[tuple]]], indexes: Indexes) -> None:
    """Load each table in turn on a connection of its own, and rebuild its indexes (run in a process of its own)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table_copy, rows in loads:
            table_copy.load(conn, rows)
            conn.commit()
            indexes.rebuild(conn, table_copy.table)
            conn.commit()
