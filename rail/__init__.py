"""A RAAST-like real-time payment rail: settlement core, ISO 20022 edge, sandbox endpoint."""
