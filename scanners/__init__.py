"""Virus scanning and format checks; judge bytes, know nothing of the archive."""
