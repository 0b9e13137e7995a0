"""HTTP API of the volume service."""

from fastapi import APIRouter

router = APIRouter()
