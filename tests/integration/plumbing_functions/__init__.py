"""A function module the plumbing tests' template points at (CodeUri: this folder)."""
