"""Pure, synchronous domain: calls, agents, callers and the rules that move them."""
