"""Deployment of a packaged model as named, resumable steps (see flow.py)."""
