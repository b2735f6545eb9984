"""The lecture's API (forward, backward, update, train_step, train, predict, trace_step): its contract, the worked
example, XOR, numerics and agreement with the NumPy reference."""
