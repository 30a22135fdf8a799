"""Talent Quotient backend."""

from tq.app import create_app

__all__ = ["create_app"]
