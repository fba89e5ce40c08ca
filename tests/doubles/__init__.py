"""Loopback doubles of SaaS APIs, speaking their documented wire formats."""
