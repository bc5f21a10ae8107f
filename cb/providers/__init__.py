"""Providers: the real-world systems a plan is diffed against and an apply changes."""
