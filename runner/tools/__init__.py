"""Tool execution for the call path: validated arguments, filler speech, failure phrases, a log."""

from .executor import CallControl, ToolCallRecord, ToolExecutor, builtin_spec

__all__ = ["CallControl", "ToolCallRecord", "ToolExecutor", "builtin_spec"]
