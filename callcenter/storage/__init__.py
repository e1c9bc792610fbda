"""Redis storage: the only package that imports redis. Keys, Lua scripts, repositories."""
