"""Overcast: an OpenStack-compatible IaaS cloud built as a pluggable driver framework."""

__version__ = "0.1.0"
