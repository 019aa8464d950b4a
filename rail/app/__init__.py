"""The application: the `rail` command and its wiring (which parts start, in which order, on which loop).

cli dispatches the subcommands; server (`rail serve`) and demo (`rail demo`) open the rail, start the
sandbox's simulated banks and the transports; the other modules are one command each."""
