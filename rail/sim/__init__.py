"""`rail simulate` and `rail replay`: a RAAST day of the real rail in simulated time, deterministic and replayable.

loop (the virtual-time event loop), scenario (the [sim] table), run (one simulated day), events (outages, slow
creditors, top-ups), books and journal (what is recorded after each batch), record (payments and balances),
sweep (what-if reruns), replay (re-applying a recorded journal), cli and replay_cli (the commands).
docs/simulate.md.
"""
