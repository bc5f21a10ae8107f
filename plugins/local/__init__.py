"""The embedded default stack: every model ships inside a Python package, nothing is downloaded.

Heavy models are loaded once per process and shared by every call (a call only adds its own
small per-stream state), so starting a call never blocks the event loop on a model load.
"""
