"""The bad-input corpus: faults generated from the committed sample at test time."""
