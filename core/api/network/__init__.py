"""HTTP API of the network service."""

from fastapi import APIRouter

router = APIRouter()
