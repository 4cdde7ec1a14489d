"""HTTP: the agents API now; the staff dashboard later."""
