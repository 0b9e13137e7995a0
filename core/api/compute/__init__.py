"""HTTP API of the compute service."""

from fastapi import APIRouter

router = APIRouter()
