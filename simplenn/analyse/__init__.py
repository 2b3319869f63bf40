"""From `Results` to verdicts: intervals over rounds, the report (tables, charts, Markdown) and the regression gate."""
