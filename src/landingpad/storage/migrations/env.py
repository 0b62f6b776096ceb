"""Alembic environment: runs against the engine handed over in config.attributes."""

from alembic import context

from landingpad.storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, drop, rename). With foreign keys on,
        # dropping the old table would run its ON DELETE actions on the rows that
        # refer to it, so they are off for the migration (the pragma is a no-op
        # inside a transaction: set it first), and one explicit BEGIN makes the
        # whole run atomic (pysqlite would otherwise commit each DDL statement).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,  # SQLite can't ALTER most things
            compare_type=True,
        )
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
