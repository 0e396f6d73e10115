"""Prometheus metrics for the fleet, computed from the database at scrape time.

Every number comes from PostgreSQL when `GET /metrics` is scraped, so whatever the
workers and the events watcher record reaches the scrape without sharing memory
with the API process (no prometheus_client multiprocess mode). A scrape costs six
queries whatever the fleet size: GROUP BY aggregates over tenants, incidents and
tenant_events, two for the newest rollout, and one narrow read of the live tenants
(with their measured usage) for the per-tenant series. Only the gate request
counter lives in the API process, which is the one answering the gate.

Families (all gauges unless noted):

    berth_tenants{state}
        Live tenants by observed state. Every known state is emitted, 0 when empty;
        a state the code does not know yet is emitted too rather than dropped.
    berth_tenants_desired{desired_state}
        Live tenants by desired state; "deleted" here means deletion in progress.
    berth_blueprint_tenants{version}
        Live tenants per blueprint version (only versions in use).
    berth_tenants_provisioned
        Tenants, deleted ones included, whose container has come up healthy at least
        once (observed_generation >= 1). It counts tenants, not provisioning runs:
        a reconfiguration or restart of the same tenant does not add to it.
    berth_tenants_provision_failed{first_provision}
        Live tenants whose latest provisioning attempt failed (state "failed"),
        split by first_provision="true" (never came up: a signup that did not work)
        or "false" (it had run before). The sum equals berth_tenants{state="failed"}.
    berth_incidents_total{kind}  (counter)
        Incidents by kind, each counted with its collapsed repeats (sum of
        `occurrences`). Deleted tenants' incidents stay counted, so it only grows.
    berth_incidents_open{kind}
        Unresolved incidents of live tenants, by kind.
    berth_tenant_restarts_total{tenant}  (counter)
        Restarts Berth has seen for each live tenant (tenants.restart_count).
    berth_tenant_up{tenant}
        1 if the tenant is serving: observed state "running", or "upgrading" (a
        blue/green upgrade keeps the old container serving), else 0.
    berth_tenant_cpu_usage_cores{tenant}, berth_tenant_memory_usage_bytes{tenant}
        Measured use of each running tenant (tenant_usage, written by the usage
        sampler on beat); only tenants sampled since they last started.
    berth_rollout_targets{version,state}, berth_rollout_active{version}
        The newest rollout: its targets by state, and 1 while it is in progress.
    berth_provisions_total, berth_provision_failures_total  (counters)
        Provisioning runs that ended routed or failed (tenant_events).
    berth_provision_duration_seconds  (histogram)
        From provisioning start (`creating`) to healthy and routed.
    berth_restarts_total  (counter)
        Restarts of every tenant's containers, deleted tenants included.
    berth_pauses_total, berth_wakes_total  (counters)
    berth_wake_duration_seconds  (histogram)
        From the wake request (gate, resume) to running again.
    berth_gate_requests_total{outcome}  (counter, this API process)
        allowed, woken, waking (503), unknown (404), invalid (422).
    berth_scrape_duration_seconds
        Time this scrape spent reading the database and building the families.

Cardinality: the `tenant` label makes the six per-tenant families one series each
per live (or running, for measured use) tenant (label value = slug); a deleted
tenant's series disappear with it. Every other family has a handful of series.
The incident aggregate scans a table that only grows. The lifecycle one scans
tenant_events, which is pruned past BERTH_EVENT_RETENTION_DAYS (provisioner/retention.py),
and adds tenant_event_rollup, the totals of the pruned events, so a prune changes no
counter or histogram.
"""
