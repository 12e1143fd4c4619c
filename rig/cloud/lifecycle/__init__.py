"""Lifecycle events: presence and subscription events from the broker's log (mqtt) and the
presence table (store)."""
