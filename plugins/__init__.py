"""Providers for speech, language, voice and telephony, found through entry points."""
