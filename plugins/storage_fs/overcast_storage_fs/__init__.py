"""Overcast's file-system storage drivers: one package, three drivers named ``fs``."""
