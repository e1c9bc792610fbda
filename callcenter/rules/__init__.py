"""Routing rule files: YAML with CEL conditions, loaded and checked with file:line errors."""
