"""Plans: what applying the configuration would change, per address, and how to show it."""
