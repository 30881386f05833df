"""The worker's /metrics endpoint: the process's own metrics and Revwatch's exporter on one registry."""
from __future__ import annotations

from wsgiref.simple_server import WSGIServer

import click
from sqlalchemy import Engine

from revwatch.settings import Settings


def metrics_server(cfg: Settings, engine: Engine) -> WSGIServer | None:
    """Serve /metrics from a registry of our own (not the global one a library might fill): the
    process collectors and metrics.faces.exporter. None when METRICS_PORT is 0."""
    if not cfg.metrics_port:
        return None
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, start_http_server

    from metrics.faces.exporter import register

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    register(registry, engine, cfg)
    try:
        server, _ = start_http_server(cfg.metrics_port, cfg.metrics_host, registry=registry)
    except OSError as exc:
        raise click.ClickException(f"METRICS_PORT: cannot serve on {cfg.metrics_host}:{cfg.metrics_port}"
                                   f" ({exc.strerror or exc}); set METRICS_PORT to a free port, or 0 to serve none") from None
    click.echo(f"Revwatch metrics: http://{cfg.metrics_host}:{cfg.metrics_port}/metrics")
    return server
