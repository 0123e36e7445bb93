"""Running the venue: the HTTP/WS app, the FIX acceptor, the CLI's server."""
