"""HTTP API of the objectstore service."""

from fastapi import APIRouter

router = APIRouter()
