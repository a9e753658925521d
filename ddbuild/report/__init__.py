"""``ddbuild report``: one self-contained HTML page of a workflow's state and its targets' data.

``model`` holds the values a report shows (each stage's state and numbers, the targets'
analyses), ``svg`` draws the stage graph and the per-column charts, ``html`` lays out the page.
All three are pure; the CLI (``cli/report_cmd.py``) gathers the values from the plan, the cache
entries, the last build's workflow-metadata.json and ``ddbuild.analysis``.
"""
