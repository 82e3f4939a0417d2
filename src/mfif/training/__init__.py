"""Training: a shared loop with seeded, resumable checkpoints, and one recipe per network."""
