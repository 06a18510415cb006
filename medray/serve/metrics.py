"""Prometheus metrics of the HTTP ingress (``GET /metrics``, text exposition format, prometheus-client).

Requests and latency are counted by an HTTP middleware, labelled by the *route template*
(``/v1/vitals/{patient_id}``), never the raw path, so no pseudonym reaches a label. α is read from the
``X-Medray-Alpha`` response header the enhance route sets. The vitals consumer's lag, delivery delay,
staleness and dead letters are read from the VitalsService handle at scrape time.

Each ingress replica keeps its own registry: with several replicas, scrape each replica (or sum the series
in Prometheus); one replica is the default deployment.
"""
from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("medray_http_requests", "HTTP requests by route template, method and status",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("medray_http_request_duration_seconds", "HTTP request latency by route template",
                    ["route", "method"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
ALPHA = Histogram("medray_enhance_alpha", "α applied per enhance request, by its source (vitals, default, "
                  "explicit, disabled)", ["source"], registry=REGISTRY,
                  buckets=tuple(round(0.1 * i, 1) for i in range(1, 11)) + (1.5, 2.0))


class VitalsCollector:
    """The vitals consumer's counters as of the last scrape (``update`` is called by the /metrics route)."""

    def __init__(self):
        self.stats: dict | None = None

    def update(self, stats: dict | None) -> None:
        self.stats = stats

    def collect(self):
        s = self.stats
        up = GaugeMetricFamily("medray_vitals_up", "1 when the vitals deployment answered this scrape")
        up.add_metric([], 0.0 if s is None else 1.0)
        yield up
        if s is None:
            return
        c, cache = s.get("consumer", {}), s.get("cache", {})
        for key, help_ in (("messages", "vitals messages consumed"), ("dead_lettered", "messages sent to the "
                           "dead-letter topic"), ("errors", "consumer errors"), ("commits", "offset commits")):
            m = CounterMetricFamily(f"medray_vitals_{key}", help_)
            m.add_metric([], float(c.get(key) or 0))
            yield m
        gauges = {
            "medray_vitals_consumer_lag_messages": ("messages behind the high watermark", c.get("lag")),
            "medray_vitals_consumer_running": ("1 while the consumer thread runs", float(bool(c.get("running")))),
            "medray_vitals_patients": ("patients in the cache", cache.get("patients")),
            "medray_vitals_staleness_max_seconds": ("age of the newest reading, worst patient", cache.get("age_s_max")),
            "medray_vitals_staleness_median_seconds": ("age of the newest reading, median patient",
                                                       cache.get("age_s_median")),
        }
        for name, (help_, value) in gauges.items():
            if value is not None:
                g = GaugeMetricFamily(name, help_)
                g.add_metric([], float(value))
                yield g
        delay = GaugeMetricFamily("medray_vitals_delivery_delay_seconds", "apply time − reading time, recent "
                                  "messages", labels=["quantile"])
        for q, key in (("0.5", "delay_s_p50"), ("0.99", "delay_s_p99")):
            if c.get(key) is not None:
                delay.add_metric([q], float(c[key]))
        yield delay
        invalid = CounterMetricFamily("medray_vitals_invalid", "readings refused by the cache", labels=["reason"])
        for reason, n in (cache.get("invalid_by_reason") or {}).items():
            invalid.add_metric([str(reason)], float(n))
        yield invalid


VITALS = VitalsCollector()
REGISTRY.register(VITALS)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"  # unknown paths share one label: no unbounded series


def instrument(api: FastAPI) -> None:
    """Count and time every request of ``api`` (a middleware), and observe α of enhance responses."""

    @api.middleware("http")
    async def _metrics(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            alpha = response.headers.get("x-medray-alpha")
            if alpha is not None:
                ALPHA.labels(response.headers.get("x-medray-alpha-source", "unknown")).observe(float(alpha))
            return response
        finally:
            route = _route(request)
            REQUESTS.labels(route, request.method, str(status)).inc()
            LATENCY.labels(route, request.method).observe(time.perf_counter() - start)


async def metrics_response(vitals_handle, timeout_s: float = 5.0) -> Response:
    """The exposition text; the vitals part is left out (medray_vitals_up 0) when its deployment is down."""
    try:
        VITALS.update(await asyncio.wait_for(vitals_handle.stats.remote(), timeout_s))
    except Exception as e:  # a scrape must still answer when the vitals deployment is down or slow
        log.warning("vitals stats unavailable for /metrics (%s)", type(e).__name__)
        VITALS.update(None)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
