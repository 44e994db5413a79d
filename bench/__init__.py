"""Speed and cost of Ticket Engine as ratios and exact counts, measured in one run.

``python -m bench`` (``make bench``) starts its own DynamoDB Local, creates the table from
template.yaml, measures, prints a table and writes ``bench/results/latest.json``. See README.md.
"""
