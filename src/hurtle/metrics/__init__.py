"""Prometheus metrics (--metrics-bind): the snapshot format, its exposition, the endpoint.

The serving process counts in plain integers (net/metrics.py); this package
turns snapshots of them into Prometheus metric families when scraped. It
imports nothing of the serving stack, so the supervisor uses it too.
"""
