"""Make the events table append-only in PostgreSQL itself (``ledgerflow db harden``).

A trigger refuses every UPDATE, DELETE and TRUNCATE of ``events``, whoever issues it;
INSERT and COPY (how the engine appends) pass. It guards against edits through the
application's own connections and by mistake; a superuser can still drop it, so the
hash chain and kept checkpoints remain the proof. Only PostgreSQL: whoever can write a
SQLite file can rewrite it, trigger included, so a trigger there would prove nothing.
"""

import sqlalchemy as sa

from .database import masked_url, translated_errors

FUNCTION = "ledgerflow_refuse_event_change"
TRIGGERS = ("ledgerflow_events_append_only", "ledgerflow_events_no_truncate")

_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        RAISE EXCEPTION 'ledgerflow: events are append-only: % of run % seq % refused',
            TG_OP, OLD.run_id, OLD.seq
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'the database was hardened with `ledgerflow db harden`';
    END IF;
    RAISE EXCEPTION 'ledgerflow: events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the database was hardened with `ledgerflow db harden`';
END
$$
"""
_CREATE_TRIGGERS = (
    f"CREATE TRIGGER {TRIGGERS[0]} BEFORE UPDATE OR DELETE ON events "
    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    f"CREATE TRIGGER {TRIGGERS[1]} BEFORE TRUNCATE ON events "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
)
_INSTALLED = sa.text(
    "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass "
    "AND tgname IN :names AND tgenabled <> 'D'"
).bindparams(sa.bindparam("names", expanding=True))


def is_hardened(engine: sa.Engine) -> bool:
    """True if both triggers are installed and enabled (always False on SQLite)."""
    if engine.dialect.name != "postgresql":
        return False
    with translated_errors(engine), engine.connect() as connection:
        installed: int = connection.execute(_INSTALLED, {"names": list(TRIGGERS)}).scalar_one()
    return installed == len(TRIGGERS)


def harden(engine: sa.Engine) -> bool:
    """Install the triggers that refuse UPDATE, DELETE and TRUNCATE of events.

    Idempotent: returns False if they were already installed. Raises ``ValueError``
    on anything but PostgreSQL, or before the schema exists.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError(
            f"`db harden` needs PostgreSQL, not {engine.dialect.name}: whoever can write a "
            "SQLite file can rewrite it, trigger included. Verify SQLite logs with "
            "`ledgerflow verify --all` and keep exports (`ledgerflow export`) instead"
        )
    with translated_errors(engine):
        has_events = sa.inspect(engine).has_table("events")
    if not has_events:
        raise ValueError(
            f"{masked_url(engine)} has no events table yet: create the schema first "
            "(`ledgerflow db upgrade`)"
        )
    if is_hardened(engine):
        return False
    with translated_errors(engine), engine.begin() as connection:
        connection.execute(sa.text(_CREATE_FUNCTION))  # text(): escapes the RAISE %s for psycopg
        for name, create in zip(TRIGGERS, _CREATE_TRIGGERS, strict=True):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON events")
            connection.exec_driver_sql(create)
    return True
