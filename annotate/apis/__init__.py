"""The REST API (DRF): one small view per resource URL, nested Input/Output serializers.

Views parse input, check access (annotate.permissions), call one service or selector, serialize.
"""
