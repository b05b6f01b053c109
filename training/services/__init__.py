"""Writes for model versions, training runs and generation jobs.

- runs.py: create, cancel, resume and execute training / evaluation runs, register their models;
- generation.py: K candidates per prompt from a model version (engine child or an endpoint);
- execution.py: one engine job from start to end in a child process, recorded as it goes;
- launcher.py: the child process itself (command line, signals, liveness, log tail);
- preflight.py: bad configurations caught before any process starts;
- defaults.py: hyperparameters per run kind.
"""
