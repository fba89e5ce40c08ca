"""Metrics: NAB scoring, streaming anomaly detection, Prometheus reads, forecasts."""
