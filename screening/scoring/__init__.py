"""Scoring: explainable rules from the settings (rules.py), the anomaly model (anomaly.py),
the ranked lead list (ranking.py) and rule weights learnt from inspection outcomes
(learning.py). Pure functions over the site feature table."""
