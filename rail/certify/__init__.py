"""`rail certify`: a conformance suite that tells a bank whether its RAAST integration is ready.

suite.py (the versioned case files in cases/), declaration.py (what the participant declares), examiner.py
(the certifier's own participant), hooks.py (cueing the participant), checks_*.py (one function per case),
runner.py (a run and its verdict), evidence.py (the evidence pack), cli.py (the command). docs/certify.md.
"""
