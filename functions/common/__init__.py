"""Pieces every handler in this zip shares: JSON logs, EMF metrics, cached AWS clients, batch failures."""
