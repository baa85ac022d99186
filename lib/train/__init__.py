"""Training (issue 13): self-alignment (SapBERT) and definition grounding pairs by tier, and the batch
sampler that keeps one pair per concept in a batch. ``pairs`` is pandas-only; ``samplers`` imports
sentence-transformers (torch), so import it only to train."""
