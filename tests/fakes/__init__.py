"""Shared test fakes: real protocols over real sockets on 127.0.0.1, for the things out of reach.

Import them as ``tests.fakes.<module>``; that needs the repository root on ``sys.path`` (pytest's
``pythonpath = ["."]`` setting, or ``python -m pytest`` from the root).

* ``twilio_rest.FakeTwilio`` — a stateful fake of Twilio's 2010 REST API (numbers, calls).
* ``twilio_signing`` — sign webhook requests exactly as Twilio does (X-Twilio-Signature).
* ``twilio_contract`` — check a fake's request log against Twilio's official OpenAPI spec.
* ``recording_server.RecordingServer`` — a webhook receiver that records (and can signature-check) requests.
* ``fixtures`` — pytest fixtures for the above; re-export them from your conftest.py:
  ``from tests.fakes.fixtures import twilio_fake  # noqa: F401``
"""
