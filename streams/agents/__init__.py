"""The worker's input agents, one module each: a class whose ``apply_batch`` applies a batch of
events given the worker's context (streams/context.py), and ``register``, which declares the
Faust agent as a thin shell around it."""
