"""Applying change sets: the engine the admin API, the CLI (through it) and watch mode share."""
