"""HTTP API of the image service."""

from fastapi import APIRouter

router = APIRouter()
