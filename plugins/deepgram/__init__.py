"""Cloud provider plugin: deepgram, through its real SDK via pipecat's service."""
