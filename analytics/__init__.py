"""Remittance corridor cost analytics and run reports."""
