"""Compliance in the call path: a durable dial queue and the rules every outbound call passes.

- ``clock``: the only door to real time (tests inject a fixed or stepping clock);
- ``zones``: the callee's candidate time zones and US state, from ``phonenumbers``' data;
- ``rules``: a CompliancePolicy's rules judged for one contact at one instant (pure);
- ``queue``: the dial queue and attempt log in the runner's state database, leased like the
  webhook outbox so a waiting call survives restarts and is never dialled twice at once;
- ``dialing``: the loop that dials what every rule allows, and the routes that enqueue.
"""
