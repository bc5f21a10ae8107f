"""The runner's call path: Twilio webhook and media stream in, a pipecat pipeline per call.

Each call pins one state snapshot (and so one revision of its agent) when its webhook arrives
and keeps it until it ends; applying a new revision changes only what the next call pins.
"""
