"""The shipped Grafana dashboard only queries series that GET /metrics exports (a renamed metric fails here)."""
import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "k8s" / "monitoring" / "grafana-medray.json"


def test_dashboard_queries_exported_series():
    from fastapi import FastAPI
    from fastapi.responses import Response
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from medray.serve.metrics import instrument, metrics_response

    shard = {"consumer": {"messages": 3, "dead_lettered": 1, "errors": 0, "commits": 2, "lag": 0, "running": True,
                          "delay_s_p50": 0.01, "delay_s_p99": 0.05},
             "cache": {"patients": 2, "age_s_max": 1.5, "age_s_median": 1.0, "invalid_by_reason": {"out_of_range": 1}}}

    class Shards:  # the ingress's VitalsShards: await stats() → totals + per_shard
        @staticmethod
        async def stats():
            return {"shards": 2, "per_shard": [shard, shard]}

    api = FastAPI()
    instrument(api)

    @api.post("/v1/enhance")
    async def enhance():
        return Response(b"", headers={"X-Medray-Alpha": "0.7", "X-Medray-Alpha-Source": "vitals"})

    @api.get("/metrics")
    async def metrics():
        return await metrics_response(Shards)

    client = TestClient(api)
    client.post("/v1/enhance")
    text = client.get("/metrics").text
    samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    exported = {s.name for s in samples}
    assert {s.labels["shard"] for s in samples if s.name == "medray_vitals_dead_lettered_total"} == {"0", "1"}
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bmedray_[a-z0-9_]+", e)}
    assert len(dash["panels"]) >= 8 and used, "the dashboard has no medray queries"
    assert used <= exported, f"queried but not exported: {sorted(used - exported)}"
