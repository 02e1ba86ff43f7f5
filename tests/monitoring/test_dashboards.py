"""The shipped Prometheus rules and Grafana dashboard parse and name only served metrics."""

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.monitoring.scrape import metric_names, scrape

ROOT = Path(__file__).resolve().parents[2] / "monitoring"
PROMQL_WORDS = {
    "sum", "rate", "increase", "by", "without", "histogram_quantile", "and", "or", "unless",
    "avg", "max", "min", "count", "on", "ignoring", "offset", "bool",
}  # fmt: skip


def referenced_metrics(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS}


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "grafana" / "ledgerline-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_alert_rules_parse_and_cover_the_failure_classes():
    rules = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "LedgerlineVerificationFailing",
        "LedgerlineSilentFailureDetected",
        "LedgerlineEventsUndelivered",
        "LedgerlineFastPathFailing",
        "LedgerlineChannelLayerDropping",
        "LedgerlineReconcilerStopped",
    } <= names


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["alerts.yml", "dashboard"])
def test_every_metric_they_reference_is_served(source):
    exprs = rule_exprs() if source == "alerts.yml" else dashboard_exprs()
    served = metric_names(scrape())
    missing = {m for expr in exprs for m in referenced_metrics(expr)} - served
    assert not missing, f"{source} references metrics /metrics does not serve: {missing}"
