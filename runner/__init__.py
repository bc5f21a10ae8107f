"""The long-running runner: admin API, telephony webhooks and the call path."""
