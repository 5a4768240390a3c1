from open_connections import closes, no_connection_left_open

__all__ = ["closes", "no_connection_left_open"]
