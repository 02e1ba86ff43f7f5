"""The cluster's configuration: the nginx file a deployment starts from, as `make cluster`
renders it, and the compose `scale` profile that mounts it."""

import os
from pathlib import Path

import pytest
import yaml

from config import balancer
from tests.processes import ROOT


def nginx_available() -> bool:
    """True when nginx can run. In CI a missing nginx is a failure, not a skip."""
    return Path("/usr/sbin/nginx").exists() or bool(os.environ.get("CI"))


needs_nginx = pytest.mark.skipif(not nginx_available(), reason="needs nginx (make deps)")


@needs_nginx
def test_the_rendered_configuration_passes_nginx_t(tmp_path):
    config = balancer.write_config(tmp_path, listen=18080, daphnes=[18001, 18002, 18003])
    balancer.check(config)  # raises with nginx's own message
    text = config.read_text()
    assert "listen 127.0.0.1:18080;" in text
    for port in (18001, 18002, 18003):
        assert f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" in text
    assert "web-1:8000" not in text


def test_the_deployment_file_proxies_websockets_and_long_polls_unbuffered():
    site = balancer.SITE.read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_set_header Connection $ledgerline_connection;" in site
    ws = site[site.index("location /ws/") :]
    poll = site[site.index("location ~ ^/api/threads/[^/]+/events$") :]
    for block in (ws, poll):
        block = block[: block.index("}")]
        assert "proxy_buffering off;" in block
        # Longer than LEDGERLINE_PING_TIMEOUT (12 s) and LONG_POLL_SECONDS (25 s).
        assert "proxy_read_timeout 75s;" in block


def test_compose_scale_profile_is_the_cluster_nginx_balances():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    scale = {name: s for name, s in services.items() if "scale" in s.get("profiles", [])}
    upstream = [line.split()[1] for line in balancer.SITE.read_text().splitlines()
                if line.strip().startswith("server web-")]  # fmt: skip
    assert upstream == ["web-1:8000", "web-2:8000", "web-3:8000"]
    assert {"web-1", "web-2", "web-3", "shard-1", "shard-2", "worker-1", "worker-2"} <= set(scale)
    assert set(scale["lb"]["depends_on"]) >= {"web-1", "web-2", "web-3"}
    assert (
        "./deploy/nginx/ledgerline.conf:/etc/nginx/conf.d/default.conf:ro"
        in (scale["lb"]["volumes"])
    )
    apps = [s for s in scale.values() if s.get("image") == "ledgerline:latest"]
    assert len(apps) == 7  # migrate, three daphnes, two workers, beat
    shards = {s["environment"]["REDIS_URLS"] for s in apps}
    assert shards == {"redis://shard-1:6379/0,redis://shard-2:6379/0"}  # one order everywhere
    assert all("--proxy-headers" in str(services[f"web-{n}"]["command"]) for n in (1, 2, 3))
    assert {s["environment"]["REDIS_URL"] for s in apps} == {"redis://redis:6379/1"}
