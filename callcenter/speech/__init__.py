"""Speech: per-utterance sentiment scoring of transcribed call audio."""
