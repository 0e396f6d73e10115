"""Prometheus metrics for the fleet, computed from the database at scrape time.

Every number comes from PostgreSQL when `GET /metrics` is scraped, so whatever the
workers and the events watcher record reaches the scrape without sharing memory
with the API process (no prometheus_client multiprocess mode). A scrape costs three
queries whatever the fleet size: two GROUP BY aggregates and one narrow read of
the live tenants for the per-tenant series.

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
    berth_scrape_duration_seconds
        Time this scrape spent reading the database and building the families.

Cardinality: the `tenant` label makes berth_tenant_restarts_total and
berth_tenant_up one series each per live tenant (label value = slug); a deleted
tenant's series disappear with it. Every other family has a handful of series.
The incident aggregate scans the whole incidents table, which only grows; at
millions of rows that becomes the slow part of a scrape.
"""
