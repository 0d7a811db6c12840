"""Watching the pipeline: the monitor catalog, its evaluation against CloudWatch, the one-screen status."""
