"""Published shapes, one module each: what one part of cb writes and another (or someone else) reads.

- ``change_wire``: the change set `cb apply` sends to the runner's admin API;
- ``plan_document``: the saved plan file and ``cb plan --format json`` (schemas/plan.json);
- ``webhook_payload``: the body of the webhooks cb sends (schemas/webhook-payload.json);
- ``webhook_signature``: the ``CB-Signature`` on the webhooks cb sends;
- ``voice_webhook_auth``: who may sign the voice webhooks cb receives (``X-Twilio-Signature``).

Part of the core: the runner, the plugins, the CLI and bench/ all import from here, and nothing
here imports them (or pipecat).
"""
