"""A fake LLM provider on loopback (being written; see vault/llm)."""
