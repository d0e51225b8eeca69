"""Restore drills (issue 12). Only the pure selection exists so far; the handler is not written yet."""
