"""When the safety phase occurs: statistics and clustering over prompts and responses.

`run_occurrence(config, out_dir)` (or `safety-features occurrence --out DIR`) writes a report
folder; `occurrence_stages` runs the same analyses on responses already generated.
"""
