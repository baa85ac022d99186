"""Search: one exact blocked top-k, and the alignment of sources to targets built on it."""
