from evaluation.runs.runs_fixtures import closing, invoke, world
from open_connections import no_connection_left_open

__all__ = ["closing", "invoke", "no_connection_left_open", "world"]
