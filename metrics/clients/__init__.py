"""Clients of other servers: Prometheus and Alertmanager (HTTP), SMTP."""
