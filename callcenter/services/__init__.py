"""Services: wire storage and other adapters to the pure domain, one use case each."""
