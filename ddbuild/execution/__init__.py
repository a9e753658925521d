"""Execution: running a Plan — stage builds, views, the response cache over the store, events.

Layer (DESIGN §7): below the workflow API, above ``planning``. The executor re-plans after each
stage settles (early cutoff); ``costing`` is the --explain dry run of the real engine.
"""
