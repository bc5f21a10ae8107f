"""The verification snippet in docs/webhooks.md must verify what the runner signs."""

from __future__ import annotations

import re
import time
from pathlib import Path

from cb.contracts.webhook_signature import sign

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def snippet_verify():
    code = re.search(r"```python\n(def verify.*?|import hashlib.*?)```", DOC.read_text(), re.S).group(1)
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - it is our own documentation
    return scope["verify"]


def test_the_documented_snippet_accepts_a_real_signature_and_refuses_forgeries():
    verify = snippet_verify()
    body = b'{"call_id":"call_1"}'
    assert verify("s", body, sign("s", body))
    assert not verify("s", body + b" ", sign("s", body))
    assert not verify("other", body, sign("s", body))
    assert not verify("s", body, sign("s", body, timestamp=int(time.time()) - 3600))
    assert not verify("s", body, "garbage")
