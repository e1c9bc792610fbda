"""Gateway dialects: each maps one vendor's wire format onto canonical events."""
