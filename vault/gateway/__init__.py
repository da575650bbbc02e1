"""The gateway: every chat endpoint's one path to a provider (README, Endpoints).

    endpoint (vault/chat/api.py, vault/v1/)  a wire's JSON -> llm.types.ChatRequest, and back
      -> gateway.core.run(principal, request, started)
           -> resolver (model, key, host binding)  -> llm adapters -> llm.http -> the provider
           -> gateway.usage (the ledger)

Nothing here imports an endpoint, and the adapters import nothing of the gateway."""
