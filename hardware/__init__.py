"""Runs the Lava graph in the Loihi simulation and measures events, operations and energy."""
