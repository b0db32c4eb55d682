"""Tests of the policy language engine (cavra_engine/policy)."""
