"""Durable, signed webhooks: a payload model, HMAC signatures, an outbox table, a delivery worker.

The call path only ever calls ``enqueue`` (a row in the state database, ideally inside the same
transaction as the call record); a worker, in the runner or as ``python -m
cb.runner.webhooks.worker``, delivers at least once with backoff, and parks a delivery as dead
after too many attempts, where ``cb webhooks replay`` can send it again.
"""

from .outbox import Outbox, OutboxRow, enqueue
from .payload import ToolCallSummary, WebhookPayload
from .signing import HEADER, SignatureError, sign, verify_signature

__all__ = ["HEADER", "Outbox", "OutboxRow", "SignatureError", "ToolCallSummary", "WebhookPayload",
           "enqueue", "sign", "verify_signature"]
