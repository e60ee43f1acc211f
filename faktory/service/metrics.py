"""Prometheus metrics. Event counters live in the HTTP process; job gauges and the conversion-time
histogram are read from the shared store at scrape time, so they cover every worker on every machine."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from faktory.service.store import JobStore


class StoreCollector:
    def __init__(self, store: JobStore):
        self.store = store

    def collect(self):
        jobs = GaugeMetricFamily("faktory_jobs", "Jobs by state (shared store)", labels=["state"])
        for state, n in self.store.counts().items():
            jobs.add_metric([state], n)
        yield jobs
        buckets, total, count = self.store.seconds_histogram()
        hist = HistogramMetricFamily("faktory_conversion_seconds", "Seconds from claim to published result")
        hist.add_metric([], [(str(le) if le != float("inf") else "+Inf", n) for le, n in buckets], total)
        yield hist


class ServiceMetrics:
    def __init__(self, store: JobStore):
        self.registry = CollectorRegistry()
        self.received = Counter("faktory_events_received", "Webhook events received", ["source"],
                                registry=self.registry)
        self.rejected = Counter("faktory_events_rejected", "Webhook calls rejected (auth, malformed)",
                                ["source", "reason"], registry=self.registry)
        self.deduped = Counter("faktory_events_deduped", "Events dropped as replays or duplicate jobs",
                               ["source"], registry=self.registry)
        self.ignored = Counter("faktory_events_ignored", "Events that ask for no work (blob pushes, no rule)",
                               ["source"], registry=self.registry)
        self.jobs_queued = Counter("faktory_jobs_queued", "Jobs queued by this server", registry=self.registry)
        self.registry.register(StoreCollector(store))
