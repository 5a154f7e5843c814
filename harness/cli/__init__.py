"""The commands: `python -m harness`, its checks before Hydra starts a job, and the score command."""
