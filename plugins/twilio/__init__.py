"""Twilio for cb: phone numbers through the real ``twilio`` SDK (entry point ``cb.number_providers:twilio``)."""
