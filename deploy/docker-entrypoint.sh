#!/bin/sh
# Entry point of the callcenter image: `callcenter <args>` (default `serve`), after making
# sure the Vosk model is there when one is named. `callcenter-entrypoint prepare` only does
# that and exits (a Kubernetes init container).
#
# With CALLCENTER_SPEECH_ENGINE=vosk the model is either mounted (CALLCENTER_VOSK_MODEL_DIR)
# or named (CALLCENTER_VOSK_MODEL) and pulled once into CALLCENTER_MODELS_DIR, a volume
# shared by restarts (the pull checks sizes and checksums and moves the model into place
# only when complete, so two containers pulling at once are safe).
set -eu

prepare_model() {
  [ "${CALLCENTER_SPEECH_ENGINE:-off}" = vosk ] || return 0
  [ -z "${CALLCENTER_VOSK_MODEL_DIR:-}" ] || return 0
  [ -n "${CALLCENTER_VOSK_MODEL:-}" ] || return 0
  if [ ! -d "${CALLCENTER_MODELS_DIR:-/models}/${CALLCENTER_VOSK_MODEL}" ]; then
    callcenter models pull "$CALLCENTER_VOSK_MODEL"
  fi
}

prepare_model
if [ "${1:-}" = prepare ]; then
  exit 0
fi
exec callcenter "$@"
