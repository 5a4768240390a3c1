from evaluation.runs.runs_fixtures import closing, invoke, world

__all__ = ["closing", "invoke", "world"]
