"""Agent tests, the core's half: what a scenario run produced, the assertions judged against it,
and the reports (text, JSON, JUnit XML, markdown). Pure data: the run itself (the agent's prompt,
tools and LLM on a simulated call) is ``cb.runner.testing``'s job, since it reuses the runner's
tool executor and returns extraction."""
