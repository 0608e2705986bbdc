"""Retention tiers, triggers and the annual cycle (see the retention issue)."""
