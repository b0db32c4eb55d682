"""Offline evidence tools: canonical JSON, bundle format and verifier. Stdlib + cryptography only, never Django."""
