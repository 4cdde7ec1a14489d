"""Calls in the Stasis app: the per-call session (pure) and the runtime that drives it."""
