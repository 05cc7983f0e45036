"""The monitoring profile: Compose services, Prometheus targets, the dashboard and the docs name
only metrics the collector really serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from telebot.engine.diskguard import DiskGuard
from telebot.engine.task import State, Task, TaskSpec
from telebot.monitor import metrics
from telebot.monitor.counters import Counters
from telebot.monitor.looplag import LagSummary
from telebot.monitor.sampler import Sample
from telebot.resilience.breaker import BreakerRegistry
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


class _Manager:
    def __init__(self) -> None:
        spec = TaskSpec(kind="mirror", source="https://x/y", chat_id=1, user_id=1)
        self.task = Task("g1", spec, Path("/nonexistent"))
        self.task.begin(State.DOWNLOADING, "HTTP")

    def tasks(self) -> list[Task]:
        return [self.task]


class _Sampler:
    def latest(self) -> Sample:
        return Sample(at=1.0, proc_rss=1)


def served_names() -> set[str]:
    """Every family a front with every part (and user labels on) serves."""
    counters = Counters()
    counters.task_ended(_Manager().task, "mirror", "done", 1.0)
    sources = metrics.Sources(
        role="front", manager=_Manager(), sampler=_Sampler(),  # type: ignore[arg-type]
        loop_lag=lambda: LagSummary(1, 0.0, 0.0, 300.0), disk=DiskGuard(0, lambda: 1),
        breakers=BreakerRegistry(), sandbox_on=lambda: True, user_labels=True, counters=counters,
    )
    text = generate_latest(metrics.registry_for(sources)).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def base_name(name: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", name)


def test_every_metric_the_dashboard_queries_is_served() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "telebot.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"]]
    used = {base_name(n) for e in exprs for n in re.findall(r"\btelebot_\w+", e)}
    served = served_names()
    assert used and used <= served, used - served
    # The datasource the panels name is the one provisioning creates.
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )
    uid = provisioned["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid}


def test_docs_describe_every_served_metric() -> None:
    doc = (ROOT / "docs" / "METRICS.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(telebot_\w+)` \|", doc, re.M))
    assert documented == served_names()


def test_monitoring_profile_pins_its_images_and_mounts_the_files() -> None:
    services = COMPOSE["services"]
    monitoring = {name for name, s in services.items() if s.get("profiles") == ["monitoring"]}
    assert monitoring == {"prometheus", "grafana"}
    for name in monitoring:
        image, _, tag = services[name]["image"].partition(":")
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image}:{tag} is not pinned"
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume
    # Grafana is not on every interface of the host.
    assert all(p.startswith("127.0.0.1:") for p in services["grafana"]["ports"])
    assert "ports" not in services["prometheus"]


def test_prometheus_scrapes_every_bot_service_on_the_documented_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    [job] = config["scrape_configs"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    bots = {
        name for name, s in COMPOSE["services"].items()
        if "telebot" in str(s.get("image", "")) or s.get("build")
    }
    assert targets == {f"{name}:9464" for name in bots}
    assert "METRICS_PORT=9464" in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
