-- Run once before the scripts (ferrobill-load --with-sql-limit does): a copy of the bus's live
-- table that no dispatcher reads, so the replayed bus inserts cost what ferrobill's cost
-- (same columns, defaults and indexes) without handing the running server events to dispatch.
create table if not exists pgbench_bus_events (like bus_events including all);
