"""Beyond one process: the journal replicated on NATS JetStream (nats_journal), a lease-fenced standby core
(failover), edge worker processes and the core's side of their hand-off (edge, edge_core, edge_metrics), and a
local NATS cluster for tests and trials (nats_local). docs/cluster.md tells how they fit."""
