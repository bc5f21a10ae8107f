"""The runner's versioned admin API (/v1): state, lock, apply, history, audit."""
