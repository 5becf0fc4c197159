-- The node holding each account lease, in its own column: a lease whose node stopped
-- heartbeating (bus_nodes) passes to the live nodes at once, and a node gives back its own
-- stale leases (those of requests that ended without reaching their second transaction).
alter table account_locks add column node text not null default '';
update account_locks set node = split_part(owner, ':', 1);
create index account_locks_node on account_locks (node);
