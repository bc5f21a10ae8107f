"""Cloud provider plugin: cartesia, through its real SDK via pipecat's service."""
