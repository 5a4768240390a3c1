"""Language-model evaluation: tasks, scorers and red-team suites (`redteam`)."""
