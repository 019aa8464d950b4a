"""The rail's API layer: one set of plain request/response values (http_types) that every transport hands to
the same application, and the transports themselves (listener: our own HTTP/1.1 server)."""
