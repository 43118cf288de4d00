"""Datasets: the registry, the common layout, audio loading, few-shot sampling, preparers."""
