"""Durable, signed webhooks: an outbox table and a delivery worker.

The payload and its signature are published shapes, in cb.contracts (webhook_payload,
webhook_signature).

The call path only ever calls ``enqueue`` (a row in the state database, ideally inside the same
transaction as the call record); a worker, in the runner or as ``python -m
cb.runner.webhooks.worker``, delivers at least once with backoff, and parks a delivery as dead
after too many attempts, where ``cb webhooks replay`` can send it again.
"""

from .outbox import Outbox, OutboxRow, enqueue

__all__ = ["Outbox", "OutboxRow", "enqueue"]
