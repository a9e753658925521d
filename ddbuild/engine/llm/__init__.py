"""LLM columns against any OpenAI-compatible chat-completions endpoint.

    columns.py    LLMServices / LLMColumnGenerator: the engine-facing API (one per stage run)
    client.py     ChatClient: URLs, API keys, per-model admission, retries with backoff
    catalogue.py  Data Designer's predefined providers, default aliases, ~/.data-designer files
    limits.py     ModelLimits: per-model adaptive (AIMD) request admission shared across stage runs
    transport.py  ChatTransport protocol + aiohttp implementation (imported lazily)
    cache.py      request keys and the request-level response cache
    replies.py    parsing replies: code fences, JSON, judge rubrics
    schema.py     the JSON-schema subset used to check structured outputs

Nothing here is imported by ``ddbuild`` at start-up; aiohttp loads only when a stage sends requests.
"""
