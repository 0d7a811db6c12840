"""The on-call CLI: one module per command group. Each parses arguments, calls the library, and renders."""
