"""Tests of the policy language engine (policies/engine)."""
