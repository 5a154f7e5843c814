"""Analysis of finished runs: paired comparisons, findings (verdicts), design power, sampler fidelity.

Never imports the report: the report presents what this package computes."""
