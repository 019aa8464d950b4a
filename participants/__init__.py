"""Simulated bank participants, remittance load model and the load-test harness."""
