"""Judge services: configuration, prompts, parsing, backends, runs, routing.

Modules: config (plain settings), prompts (templates, constitution), parsing (verdicts,
logprobs), verdicts (both orders -> a vote), openai_client (async endpoint calls), local
(causal LM / reward model), cache, judges (CRUD), runs (background runs), routing (RLAIF modes).
"""
