from evaluation.runs.runs_fixtures import invoke, world

__all__ = ["invoke", "world"]
