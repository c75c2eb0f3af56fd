"""Export: what inspection teams receive, per oversight unit: the campaign's forms (annex 2,
3, 4: forms.py) and an offline map (mapping.py). Called through ``pipeline.export_run``."""
