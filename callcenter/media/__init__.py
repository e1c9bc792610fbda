"""Media: codecs and per-leg audio streams, from gateway wire formats to PCM16 frames."""
