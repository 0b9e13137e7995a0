"""HTTP API of the identity service."""

from fastapi import APIRouter

router = APIRouter()
