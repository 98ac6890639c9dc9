"""Evaluation: the paper's metrics, rate–quality on a split, the shared table, and the
event–onset selectivity analysis."""
