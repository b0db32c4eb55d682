"""Writes of the reports app: generation, schedules, recipient policy, deliveries."""
