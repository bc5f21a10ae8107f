"""Post-call work: what happens to a call once it hangs up, and how it is read back.

In the order a call meets them:
- ``capture``: records the call while it runs (a pipecat observer) into ``recording`` files;
- ``after_hangup``: the ordered steps after the call ends (owe the webhook, extract returns,
  store the outcome, release the webhook);
- ``returns``: structured returns extracted from the transcript by the agent's LLM;
- ``outcomes``: the stored outcome of each call (returns, tool calls, turns, media paths);
- ``routes``: the runner extension that wires the above in and serves a call's media;
- ``view`` / ``view_text``: a call's outcome as ``cb calls`` shows it.
"""
