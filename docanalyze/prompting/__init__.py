"""The prompts of a run: templates, their headers, shared instructions, the prompt cache, budgets and thinking."""
