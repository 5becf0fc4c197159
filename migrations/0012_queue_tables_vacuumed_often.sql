-- The live queue tables see every entry inserted, claimed and deleted within moments: under
-- load they hold a few hundred live rows and tens of thousands of dead ones, and every claim
-- and completion scans past the dead. Vacuum them after every few thousand changes instead of
-- a fifth of their (tiny) size, without the cost-based pauses; the history tables only grow.
alter table bus_events set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000);
alter table bus_ext_events set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000);
alter table notifications set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000);
alter table account_locks set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
