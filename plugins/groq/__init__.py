"""Cloud provider plugin: groq, through its real SDK via pipecat's service."""
