"""The ``sip`` transport: answer and place calls over a SIP trunk (RFC 3261 over UDP, RTP G.711).

Calls are bridged onto the runner's own Media Streams wire (the voice webhook, then the
WebSocket), signed with the runner's local token, so a SIP call runs through exactly the same
admission, routing, pipecat pipeline, records and webhooks as a Twilio call. See ``gateway``.
"""
