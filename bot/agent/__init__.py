"""The conversational agent: an LLM over the tool registry, grounded, with a no-LLM planner."""
