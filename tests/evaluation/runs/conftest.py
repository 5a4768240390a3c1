from evaluation.runs.runs_fixtures import _no_connection_left_open, closing, invoke, world

__all__ = ["_no_connection_left_open", "closing", "invoke", "world"]
