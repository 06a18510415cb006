"""Prometheus metrics of the HTTP ingress (``GET /metrics``, text exposition format, prometheus-client).

Requests and latency are counted by an HTTP middleware, labelled by the *route template*
(``/v1/vitals/{patient_id}``), never the raw path, so no pseudonym reaches a label. α is read from the
``X-Medray-Alpha`` response header the enhance route sets. The vitals consumer's lag, delivery delay,
staleness and dead letters are read from the vitals shards at scrape time, one series per shard (``shard``).

Each ingress replica keeps its own registry: with several replicas, scrape each replica (or sum the series
in Prometheus); one replica is the default deployment.
"""
from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI
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
    """The vitals shards' counters as of the last scrape (``update`` is called by the /metrics route), one
    series per shard (label ``shard``)."""

    def __init__(self):
        self.shards: list[dict] | None = None

    def update(self, shards: list[dict] | None) -> None:
        self.shards = shards

    def collect(self):
        up = GaugeMetricFamily("medray_vitals_up", "1 when the vitals deployment answered this scrape")
        up.add_metric([], 0.0 if self.shards is None else 1.0)
        yield up
        if self.shards is None:
            return
        counters = {key: CounterMetricFamily(f"medray_vitals_{key}", help_, labels=["shard"]) for key, help_ in (
            ("messages", "vitals messages consumed"), ("dead_lettered", "messages sent to the dead-letter topic"),
            ("errors", "consumer errors"), ("commits", "offset commits"))}
        gauges = {name: GaugeMetricFamily(name, help_, labels=["shard"]) for name, help_ in (
            ("medray_vitals_consumer_lag_messages", "messages behind the high watermark"),
            ("medray_vitals_consumer_running", "1 while the consumer thread runs"),
            ("medray_vitals_patients", "patients in the cache"),
            ("medray_vitals_staleness_max_seconds", "age of the newest reading, worst patient"),
            ("medray_vitals_staleness_median_seconds", "age of the newest reading, median patient"))}
        delay = GaugeMetricFamily("medray_vitals_delivery_delay_seconds", "apply time − reading time, recent "
                                  "messages", labels=["shard", "quantile"])
        invalid = CounterMetricFamily("medray_vitals_invalid", "readings refused by the cache",
                                      labels=["shard", "reason"])
        for i, s in enumerate(self.shards):
            shard, c, cache = str(i), s.get("consumer", {}), s.get("cache", {})
            for key, m in counters.items():
                m.add_metric([shard], float(c.get(key) or 0))
            values = {"medray_vitals_consumer_lag_messages": c.get("lag"),
                      "medray_vitals_consumer_running": float(bool(c.get("running"))),
                      "medray_vitals_patients": cache.get("patients"),
                      "medray_vitals_staleness_max_seconds": cache.get("age_s_max"),
                      "medray_vitals_staleness_median_seconds": cache.get("age_s_median")}
            for name, value in values.items():
                if value is not None:  # no readings yet: no staleness, rather than a made-up 0
                    gauges[name].add_metric([shard], float(value))
            for q, key in (("0.5", "delay_s_p50"), ("0.99", "delay_s_p99")):
                if c.get(key) is not None:
                    delay.add_metric([shard, q], float(c[key]))
            for reason, n in (cache.get("invalid_by_reason") or {}).items():
                invalid.add_metric([shard, str(reason)], float(n))
        yield from counters.values()
        yield from gauges.values()
        yield delay
        yield invalid


VITALS = VitalsCollector()
REGISTRY.register(VITALS)


class RequestMetrics:
    """Pure ASGI middleware: counts and times every request, and observes α of enhance responses. A class at
    module level on purpose: Serve ships the app to the replica by value, and a closure would carry copies of
    the metrics with it (never the ones ``/metrics`` reads); a class travels by reference."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def send_observed(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                alpha = headers.get(b"x-medray-alpha")
                if alpha is not None:
                    ALPHA.labels(headers.get(b"x-medray-alpha-source", b"unknown").decode()).observe(float(alpha))
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            # the matched route's template (set on the scope by the router); unknown paths share one label
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            LATENCY.labels(route, scope.get("method", "")).observe(time.perf_counter() - start)


def instrument(api: FastAPI) -> None:
    """Count and time every request of ``api`` (outermost middleware: what clients see, 504s included)."""
    api.add_middleware(RequestMetrics)


async def _vitals_stats(vitals) -> list[dict]:
    """Per-shard stats from the ingress's VitalsShards (``await stats()`` → {"per_shard": [...]}) or from one
    VitalsService handle (``stats.remote()``)."""
    call = vitals.stats
    res = await (call.remote() if hasattr(call, "remote") else call())
    return list(res["per_shard"]) if "per_shard" in res else [res]


async def metrics_response(vitals, timeout_s: float = 5.0) -> Response:
    """The exposition text; the vitals part is left out (medray_vitals_up 0) when its deployment is down."""
    try:
        VITALS.update(await asyncio.wait_for(_vitals_stats(vitals), timeout_s))
    except Exception as e:  # a scrape must still answer when the vitals deployment is down or slow
        log.warning("vitals stats unavailable for /metrics (%s)", type(e).__name__)
        VITALS.update(None)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
