"""Boards the rig drives: what a board is (profile), how it is driven (drivers)."""
