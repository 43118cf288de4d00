"""Method-agnostic training and evaluation on cached audio embeddings."""
