"""Pure routing: caller facts, the clock, the IVR machine and the destination decision."""
