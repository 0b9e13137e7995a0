"""Overcast load balancing on haproxy."""
