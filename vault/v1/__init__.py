"""The gateway's OpenAI-compatible endpoints under /v1 (README, Endpoints); app.py owns the prefix."""
