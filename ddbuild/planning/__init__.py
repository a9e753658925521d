"""Planning: pure decisions about a workflow — stage identity and keys, inputs, schemas, the Plan.

Layer (DESIGN §7): below ``execution``, above ``store``/``engine``/``config``. Nothing here runs a
stage, writes a view or sends a request; reading seeds' digests, schemas and the cache's entries
is the only I/O, done through ``inputs``, ``schema`` and ``storeview``.
"""
