"""Delivery events (deployments, incidents): the DevOps side's raw facts."""
