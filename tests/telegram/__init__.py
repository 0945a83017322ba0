"""End-to-end tests of the Telegram layer against the fake Bot API."""
