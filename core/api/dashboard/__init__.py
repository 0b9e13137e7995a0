"""HTTP API of the dashboard service."""

from fastapi import APIRouter

router = APIRouter()
