"""Training engine: plain Python over torch, transformers, peft and trl, never Django.

Modules import torch and friends inside functions, so a web process that imports the engine to
read a config never loads them.
"""
