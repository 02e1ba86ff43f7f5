"""Scrape /metrics through the real URLconf and read it back with prometheus-client's parser."""

import re

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


def scrape(**headers) -> str:
    response = Client().get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def value(text: str, name: str, **labels: str) -> float:
    total, found = 0.0, False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total, found = total + s.value, True
    assert found, f"{name}{labels} is not in /metrics"
    return total


def metric_names(text: str) -> set[str]:
    """Every series name /metrics can serve, histogram and counter suffixes included."""
    names = set()
    for line in text.splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if not match:
            continue
        name, kind = match.groups()
        names.add(name)
        if kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        if kind == "histogram":
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names
