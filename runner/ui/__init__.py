"""The runner's web pages: a call list and one page per call (issue 19), server-side Jinja2."""
