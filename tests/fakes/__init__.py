"""Test doubles for external services used by shebao-bot's end-to-end tests."""
