"""opsctl: what on-call runs against the telemetry pipeline, and the local sandbox it rehearses on."""

__version__ = "0.1.0"
