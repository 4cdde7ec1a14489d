"""Errors the emulated PBX answers REST requests with."""

from __future__ import annotations


class AriError(Exception):
    """An ARI error reply: `{"message": ...}`, or `{"error": ...}` for allocation failures."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.key = key

    def body(self) -> dict[str, str]:
        return {self.key: self.message}


def allocation_failed() -> AriError:
    """`ast_ari_response_alloc_failed`: what any failed channel allocation answers."""
    return AriError(500, "Allocation failed", key="error")


class CallRefused(Exception):
    """The PBX is shutting down: a new inbound call gets `503 Service Unavailable`."""
