"""Shared pytest configuration: the board fixtures and the cloud fixtures come from the rig."""

pytest_plugins = ["rig.pytest_plugin"]
