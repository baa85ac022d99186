"""Analyses over models and results: activation outliers, ontology ratings, DEFT task runs."""
